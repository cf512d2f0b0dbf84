"""Exports: what the JSON says of a regression, how it tells to reproduce one, and that the JSON and
JUnit outputs keep their contract (a JSON Schema shipped in the package; JUnit that junitparser reads)."""

import json
import tempfile
from pathlib import Path

import jsonschema
from junitparser import Error, Failure, JUnitXml

from orchestrator import export, regress
from orchestrator.models import BranchState, BuildResult, Diagnostic, Report, Row, Status, Verdict, VerdictKind

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


# --- outputs with a contract --------------------------------------------------------------------

A, B, C = "a" * 40, "b" * 40, "c" * 40
SEED = Diagnostic(
    "error", "arch/riscv/kvm/vcpu_sbi.c", 87, 26, "'struct <anonymous>' has no member named 'flags'",
    function="kvm_riscv_vcpu_sbi_system_reset", excerpt=["   87 |         run->system_event.flags = 1;"], fingerprint="9d16",
)
UNUSED = Diagnostic("warning", "arch/riscv/kvm/vcpu_sbi.c", 97, 13, "unused variable 'x'", option="-Wunused-variable", fingerprint="77ab")


def every_kind() -> Report:
    """A table whose cells between them have every verdict kind (each cell is a story down A, B, C)."""
    def build(sha: str, cell: str, status: Status, *diagnostics: Diagnostic) -> BuildResult:
        return BuildResult(cell_id=cell, sha=sha, status=status, definition="d", diagnostics=list(diagnostics), reason="r")

    stories = {
        "fails": [(A, Status.PASS, ()), (B, Status.FAIL, (SEED,)), (C, Status.PASS, ())],  # NEW FAIL, FIXED
        "still": [(A, Status.FAIL, (SEED,)), (B, Status.FAIL, (SEED, UNUSED)), (C, Status.PASS, (UNUSED,))],  # STILL FAILING
        "warns": [(A, Status.PASS, ()), (B, Status.PASS, (UNUSED,)), (C, Status.PASS, ())],  # NEW WARNINGS, FIXED
        "host": [(A, Status.INFRA, ()), (B, Status.MATRIX_ERROR, ()), (C, Status.PASS, ())],  # INFRA, MATRIX, NO BASELINE
        "same": [(A, Status.PASS, (UNUSED,)), (B, Status.PASS, (UNUSED,))],  # PASS: nothing new, nothing gone
        "cut": [(C, Status.FAIL, (SEED,))],  # a shallow clone: BASELINE UNKNOWN
    }
    results = {(sha, cell): build(sha, cell, status, *d) for cell, story in stories.items() for sha, status, d in story}
    rows = regress.table([(A, "a"), (B, "b"), (C, "c")], results, list(stories), cut=frozenset({("cut", "d")}))
    return Report(rows=rows, cells=list(stories), rerun=("--tree", "/src/linux"))


def test_the_table_used_below_has_every_verdict_kind():
    kinds = {v.kind for row in every_kind().rows for v in row.verdicts.values()}
    assert kinds == set(VerdictKind)


def test_the_json_report_follows_its_schema_for_every_kind_and_fail_on():
    for fail_on_warnings in (False, True):
        document = json.loads(export.as_json(every_kind(), fail_on_warnings))
        jsonschema.validate(document, export.schema("report"))
        assert document["schema_version"] == export.SCHEMA_VERSION


def test_the_schema_names_exactly_the_codes_statuses_kinds_and_states():
    defs = export.schema("report")["$defs"]
    verdict = defs["verdict"]["properties"]
    assert verdict["verdict"]["enum"] == [k.value for k in VerdictKind]
    assert verdict["status"]["enum"] == [s.value for s in Status]
    branch = defs["nightly"]["properties"]["branches"]["items"]["properties"]
    assert branch["state"]["enum"] == [s.value for s in BranchState]
    diagnostic = defs["diagnostic"]
    assert set(diagnostic["required"]) == set(Diagnostic("error", "", None, None, "").to_dict())


def test_junit_reads_back_with_junitparser():
    report = every_kind()
    path = Path(tempfile.mkdtemp()) / "junit.xml"
    path.write_text(export.junit(report, fail_on_warnings=True))
    suites = JUnitXml.fromfile(str(path))
    cases = {(suite.name.split()[0], case.name): case for suite in suites for case in suite}
    assert len(cases) == sum(len(row.verdicts) for row in report.rows)
    failed = {key for key, case in cases.items() if any(isinstance(r, Failure) for r in case.result)}
    errored = {key for key, case in cases.items() if any(isinstance(r, Error) for r in case.result)}
    assert ("b" * 12, "fails") in failed and ("b" * 12, "warns") in failed  # a new failure; new warnings with fail-on
    assert errored == {("a" * 12, "host"), ("b" * 12, "host")}  # infrastructure and matrix errors
