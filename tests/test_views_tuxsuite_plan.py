"""The matrix as a TuxSuite plan, checked with the tuxsuite package's own plan schema."""

import pytest
import yaml
from conftest import PROJECT, orchestrate
from tuxsuite.schema import SchemaError
from tuxsuite.schema import plan as tuxsuite_schema

from orchestrator import matrix
from orchestrator.views import tuxsuite_plan


def test_the_shipped_matrix_as_a_plan_passes_tuxsuites_own_schema(tmp_path):
    run = orchestrate("export", "tuxsuite-plan", "-o", str(tmp_path / "plan.yaml"))
    assert run.returncode == 0, run.stderr
    document = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    assert tuxsuite_schema()(document) == document
    shipped = matrix.load(PROJECT / "matrix.yaml")
    builds = document["jobs"][0]["builds"]
    assert [b["build_name"] for b in builds] == [cell.id for cell in shipped.cells]  # the checks are not TuxSuite's to run


def test_a_cell_is_its_arch_toolchain_config_with_fragments_inline_and_the_kernel_for_kbuild_targets():
    shipped = matrix.load(PROJECT / "matrix.yaml")
    riscv = next(cell for cell in shipped.cells if cell.id == "riscv-gcc-defconfig+kvm")
    assert tuxsuite_plan.build(riscv) == {
        "build_name": "riscv-gcc-defconfig+kvm",
        "target_arch": "riscv",
        "toolchain": "gcc",
        "kconfig": ["defconfig", *(f"{option}={value}" for option, value in riscv.required_options.items())],
        "targets": ["config", "kernel", "modules"],  # a plan has no plain Kbuild targets such as arch/riscv/kvm/
    }
    text = tuxsuite_plan.text(shipped.units, "kvm")
    assert "riscv-gcc-defconfig+kvm" in text.split("\nversion: 1")[0]  # said in the header, not silently changed
    assert "Not in the plan (orchestrator's own checks): uapi-abi-x86_64-i386" in text


def test_the_schema_check_is_real_a_broken_plan_fails_it():
    with pytest.raises(SchemaError):
        tuxsuite_schema()({"version": 2, "jobs": [{"builds": []}]})
    with pytest.raises(SchemaError):
        tuxsuite_schema()({"version": 1, "jobs": [{"name": "no builds or tests"}]})
