"""Artifacts from elsewhere: what is refused before anything is stored (real imports: test_executors_cluster)."""

import json

import pytest

from orchestrator.imported import ArtifactsError, read_result
from orchestrator.models import Cell

RISCV = Cell(id="riscv-gcc-defconfig", arch="riscv", toolchain="gcc", kconfig="defconfig", fragments=(), targets=("config",), make_targets=())


def test_a_directory_without_build_log_or_metadata_is_refused_saying_what_tuxmake_writes(tmp_path):
    with pytest.raises(ArtifactsError, match="has no metadata.json: tuxmake writes it beside build.log"):
        read_result(tmp_path, RISCV, "a" * 40, "ci")
    (tmp_path / "metadata.json").write_text(json.dumps({"results": {}}))
    with pytest.raises(ArtifactsError, match="has no build.log; give a directory of tuxmake artifacts"):
        read_result(tmp_path, RISCV, "a" * 40, "ci")


def test_artifacts_of_another_arch_toolchain_or_config_are_refused(tmp_path):
    (tmp_path / "build.log").write_text("")
    for field, value in (("target_arch", "arm64"), ("toolchain", "clang"), ("kconfig", ["tinyconfig"])):
        (tmp_path / "metadata.json").write_text(json.dumps({"results": {}, "build": {field: value}}))
        with pytest.raises(ArtifactsError, match=f"metadata.json says {field} "):
            read_result(tmp_path, RISCV, "a" * 40, "ci")


def test_metadata_that_is_not_tuxmakes_is_refused(tmp_path):
    (tmp_path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ArtifactsError, match="has no `results`: is it tuxmake's"):
        read_result(tmp_path, RISCV, "a" * 40, "ci")
