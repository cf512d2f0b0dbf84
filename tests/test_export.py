"""Exports: what the JSON says of a regression, and how it tells to reproduce one."""

import json

from orchestrator import export
from orchestrator.models import Diagnostic, Report, Row, Status, Verdict, VerdictKind

SHA = "50a4808780bcdabf6a6276e60c949c870344efc7"
CELL = "riscv-gcc-defconfig+kvm"


def report_with_a_new_warning() -> Report:
    warning = Diagnostic("warning", "arch/riscv/kvm/vcpu_sbi.c", 97, 13, "unused variable 'x'", option="-Wunused-variable", fingerprint="f")
    verdict = Verdict(
        cell_id=CELL, sha=SHA, kind=VerdictKind.NEW_WARNINGS, status=Status.PASS, base_sha="a" * 40, warnings=1, new_warnings=[warning]
    )
    rerun = ("--tree", "/src/linux", "--matrix", "/src/matrix.yaml", "--results", "/srv/results")
    return Report(rows=[Row(SHA, "riscv: an unused variable", {CELL: verdict})], cells=[CELL], rerun=rerun)


def test_the_regression_field_follows_fail_on_as_the_regressions_list_does():
    report = report_with_a_new_warning()
    for fail_on_warnings in (False, True):
        document = json.loads(export.as_json(report, fail_on_warnings))
        (verdict,) = document["commits"][0]["verdicts"]
        assert verdict["regression"] is fail_on_warnings
        assert bool(document["regressions"]) is fail_on_warnings


def test_the_reproduce_command_carries_the_tree_matrix_and_results():
    (verdict,) = json.loads(export.as_json(report_with_a_new_warning()))["commits"][0]["verdicts"]
    assert verdict["reproduce"] == (
        f"orchestrate --commit {SHA[:12]} --cells {CELL} --rebuild "
        "--tree /src/linux --matrix /src/matrix.yaml --results /srv/results"
    )
