"""The runner's pure parts, on artifacts captured from real tuxmake builds of the demo tree.

tests/data/builds/<name>/ holds build.log and config as tuxmake wrote them; README.md there says how.
"""

from pathlib import Path

from orchestrator import logparse, matrix, runner
from orchestrator.models import FAIL, MATRIX_ERROR, PASS

DATA = Path(__file__).resolve().parent / "data" / "builds"
PROJECT = Path(__file__).resolve().parent.parent
CELLS = {cell.id: cell for cell in matrix.load(PROJECT / "matrix.yaml").cells}
BUILD_DIR = "/root/.cache/orchestrator/builds/riscv-gcc-defconfig+kvm"


def read(name: str, file: str) -> str:
    return (DATA / name / file).read_text()


def test_a_real_passing_build_is_a_pass():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    targets = {"config": "PASS", "make:arch/riscv/kvm/": "PASS"}
    log, config = read("riscv-gcc-defconfig+kvm", "build.log"), read("riscv-gcc-defconfig+kvm", "config")
    assert runner.verdict(cell, targets, log, config, []) == (PASS, "")


def test_an_option_missing_from_the_real_config_is_a_matrix_error():
    # The riscv .config has no KVM_AMD: asking for it on riscv is what Kconfig silently drops.
    cell = CELLS["x86_64-gcc-defconfig+kvm"]
    config = read("riscv-gcc-defconfig+kvm", "config")
    status, reason = runner.verdict(cell, {"config": "PASS"}, "", config, [])
    assert status == MATRIX_ERROR
    assert reason == (
        "Kconfig dropped what the cell asked for: CONFIG_KVM_INTEL=y (got not set), CONFIG_KVM_AMD=y (got not set), "
        "CONFIG_KVM_AMD_SEV=y (got not set), CONFIG_CRYPTO_DEV_CCP=y (got not set), "
        "CONFIG_CRYPTO_DEV_CCP_DD=y (got not set), CONFIG_CRYPTO_DEV_SP_PSP=y (got not set)"
    )


def test_dropped_options_compares_values_and_unset_requests():
    config = "CONFIG_KVM=m\n# CONFIG_COMPAT is not set\nCONFIG_IA32_EMULATION=y\n"
    wanted = {"CONFIG_KVM": "y", "CONFIG_COMPAT": "n", "CONFIG_IA32_EMULATION": "n", "CONFIG_GONE": "n"}
    assert runner.dropped_options(wanted, config) == [
        "CONFIG_KVM=y (got m)",
        "# CONFIG_IA32_EMULATION is not set (got y)",
    ]


def test_a_real_compile_error_fails_with_its_first_error_line_tree_relative():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = read("riscv-gcc-flags", "build.log")
    config = read("riscv-gcc-defconfig+kvm", "config")
    targets = {"config": "PASS", "make:arch/riscv/kvm/": "FAIL"}
    status, reason = runner.verdict(cell, targets, log, config, [runner_worktree(log), BUILD_DIR])
    assert status == FAIL
    assert reason == "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'"


def test_the_failure_reason_comes_from_the_first_error_diagnostic():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = read("riscv-gcc-flags", "build.log")
    targets = {"config": "PASS", "make:arch/riscv/kvm/": "FAIL"}
    config = read("riscv-gcc-defconfig+kvm", "config")
    diagnostics = logparse.parse(log.splitlines())
    status, reason = runner.verdict(cell, targets, log, config, [], diagnostics)
    assert (status, reason) == (
        FAIL,
        "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'",
    )


def runner_worktree(log: str) -> str:
    """The worktree path this log was built from (it differs between machines)."""
    for line in log.splitlines():
        if "error:" in line and "/arch/riscv/" in line:
            return line.split("/arch/riscv/")[0]
    raise AssertionError("no error line")


def test_first_error_without_an_error_line():
    assert runner.first_error("make: something odd\n", []) == "build failed (no error line in the log)"


def test_current_step_follows_the_commands_tuxmake_logs():
    log = read("riscv-gcc-defconfig+kvm", "build.log")
    lines = log.splitlines()

    def upto(text: str) -> str:
        return "\n".join(lines[: next(i for i, line in enumerate(lines) if text in line) + 1])

    assert runner.current_step(lines[0]) == ""
    assert runner.current_step(upto("' defconfig")) == "defconfig"
    assert runner.current_step(upto("merge_config.sh")) == "merge fragments"
    assert runner.current_step(log) == "arch/riscv/kvm/"


def test_schedule_splits_cores_between_cells():
    assert runner.schedule(cells=9, cores=2) == runner.Schedule(workers=2, jobs=2)
    assert runner.schedule(cells=1, cores=2) == runner.Schedule(workers=1, jobs=2)
    assert runner.schedule(cells=9, cores=2, jobs=1) == runner.Schedule(workers=2, jobs=1)
    assert runner.schedule(cells=9, cores=8, workers=3) == runner.Schedule(workers=3, jobs=8)
