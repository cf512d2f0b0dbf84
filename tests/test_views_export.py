"""Exports: what the JSON says of a regression, how it tells to reproduce one, and that the JSON and
JUnit outputs keep their contract (a JSON Schema shipped in the package; JUnit that junitparser reads)."""

import json
import tempfile
from pathlib import Path

import jsonschema
from conftest import bisected, every_kind
from junitparser import Error, Failure, JUnitXml

from orchestrator.models import BranchState, Commit, Diagnostic, FirstBad, Report, ReuseAudit, Row, Status, Verdict, VerdictKind
from orchestrator.views import export

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

def test_the_table_used_below_has_every_verdict_kind():
    """conftest.every_kind: the table these tests (and the console's) judge."""
    kinds = {v.kind for row in every_kind().rows for v in row.verdicts.values()}
    assert kinds == set(VerdictKind)


def test_the_json_report_follows_its_schema_for_every_kind_and_fail_on():
    for fail_on_warnings in (False, True):
        document = json.loads(export.as_json(every_kind(fail_on_warnings), fail_on_warnings))
        jsonschema.validate(document, export.schema("report"))
        assert document["schema_version"] == export.SCHEMA_VERSION


def test_the_schema_names_exactly_the_codes_statuses_kinds_and_states():
    defs = export.schema("report")["$defs"]
    verdict = defs["verdict"]["properties"]
    assert verdict["verdict"]["enum"] == [k.value for k in VerdictKind]
    assert verdict["status"]["enum"] == [s.value for s in Status]
    branch = defs["nightly"]["properties"]["branches"]["items"]["properties"]
    assert branch["state"]["enum"] == [s.value for s in BranchState]
    diagnostic, fields = defs["diagnostic"], set(Diagnostic("error", "", None, None, "").to_dict())
    assert set(diagnostic["properties"]) == fields
    assert fields - set(diagnostic["required"]) == {"root_cause", "known", "label", "program"}  # since 1.3, 1.6, 1.7: older documents stay valid


def test_junit_reads_back_with_junitparser():
    report = every_kind(fail_on_warnings=True)
    path = Path(tempfile.mkdtemp()) / "junit.xml"
    path.write_text(export.junit(report, fail_on_warnings=True))
    suites = JUnitXml.fromfile(str(path))
    cases = {(suite.name.split()[0], case.name): case for suite in suites for case in suite}
    assert len(cases) == sum(len(row.verdicts) for row in report.rows)
    failed = {key for key, case in cases.items() if any(isinstance(r, Failure) for r in case.result)}
    errored = {key for key, case in cases.items() if any(isinstance(r, Error) for r in case.result)}
    assert ("b" * 12, "fails") in failed and ("b" * 12, "warns") in failed  # a new failure; new warnings with fail-on
    assert errored == {("a" * 12, "host"), ("b" * 12, "host")}  # infrastructure and matrix errors


def test_markdown_lists_root_causes_new_warnings_and_fixes_in_column_order():
    text = export.markdown(every_kind())
    assert "2 regressions (2 cells)." in text
    assert "### NEW FAIL: fails at `bbbbbbbbbbbb` b" in text
    warnings = text[text.index("### new warnings: warns at `bbbbbbbbbbbb` b"):]
    assert "- `arch/riscv/kvm/vcpu_sbi.c:97:13: warning: unused variable 'x' [-Wunused-variable]`" in warnings
    fixed = text[text.index("### Fixed"):].splitlines()[2:5]
    assert fixed == [
        "- FIXED: fails at `cccccccccccc` c (-1e)", "- FIXED: still at `cccccccccccc` c (-1e 1w)", "- WARNINGS FIXED: warns at `cccccccccccc` c (-1w)"
    ]  # fmt: skip


def test_the_json_report_has_one_root_cause_per_cause_with_its_cells():
    document = json.loads(export.as_json(every_kind(fail_on_warnings=True), True))
    assert [(c["sha"][:1], c["cells"]) for c in document["root_causes"]] == [("a", ["still"]), ("b", ["fails"]), ("b", ["still", "warns"])]


def test_markdown_and_json_name_the_first_bad_commit_under_the_regression_it_explains():
    report = bisected(every_kind())
    text = export.markdown(report)
    entry = text[text.index("### NEW FAIL: fails at `bbbbbbbbbbbb` b") :]
    assert entry.splitlines()[2] == "first bad commit: bbbbbbbbbbbb b (Au Thor <au@thor.invalid>), found in 2 builds"
    document = json.loads(export.as_json(report))
    jsonschema.validate(document, export.schema("report"))
    [fails] = [c for c in document["root_causes"] if c["cells"] == ["fails"]]
    [found] = fails["first_bad"]
    assert (found["first_bad"], found["tip"], found["candidates"][0]["author"]) == ("b" * 40, "c" * 40, "Au Thor <au@thor.invalid>")
    assert all(c["first_bad"] == [] for c in document["root_causes"] if c is not fails)


def test_bisections_of_one_cause_with_one_answer_are_said_once_with_all_their_builds():
    b, x = Commit("b" * 40, "KVM: x86: b", "d", "Au Thor <au@thor.invalid>"), Commit("x" * 40, "x", "d")
    arm64 = FirstBad(["arm64"], ["f1"], "a" * 40, [b.sha], 3, commits={b.sha: b})
    riscv = FirstBad(["riscv"], ["f2"], "a" * 40, [b.sha], 2, commits={b.sha: b})
    ranged = FirstBad(["x86"], ["f3"], "a" * 40, [x.sha, b.sha], 1, commits={x.sha: x, b.sha: b})
    assert export.first_bad_lines([arm64, riscv, ranged]) == [
        "first bad commit: bbbbbbbbbbbb KVM: x86: b (Au Thor <au@thor.invalid>), found in 3 + 2 builds",
        "first bad commit is one of: xxxxxxxxxxxx x; bbbbbbbbbbbb KVM: x86: b (Au Thor <au@thor.invalid>) "
        "(the commits before the last could not be judged), found in 1 build",
    ]


# --- reused results --------------------------------------------------------------------------------


def reused_report() -> Report:
    reused = Verdict(cell_id=CELL, sha=SHA, kind=VerdictKind.UNCHANGED, status=Status.PASS, base_sha="a" * 40, reused_from="a" * 40)
    built = Verdict(cell_id="x86", sha=SHA, kind=VerdictKind.UNCHANGED, status=Status.PASS, base_sha="a" * 40)
    return Report(rows=[Row(SHA, "Documentation: a fix", {CELL: reused, "x86": built})], cells=[CELL, "x86"])


def test_a_reused_result_carries_its_mark_in_every_format():
    report = reused_report()
    reused, built = report.rows[0].verdicts[CELL], report.rows[0].verdicts["x86"]
    assert (export.cell_text(reused), export.compact_text(reused), export.cell_text(built)) == ("✓↺", "✓↺", "✓")
    assert any(item.startswith("↺ reused") for item in export.LEGEND_ITEMS)
    assert "↺ 1 result reused, not built: no input of the cell changed since the commit that built it." in export.markdown(report)
    document = json.loads(export.as_json(report))
    jsonschema.validate(document, export.schema("report"))
    assert [v["reused_from"] for v in document["commits"][0]["verdicts"]] == ["a" * 40, None]
    assert list(_junit_outputs(export.junit(report))) == [f"reused from {'a' * 12} (no input changed)", None]


def _junit_outputs(text: str):
    path = Path(tempfile.mkdtemp()) / "junit.xml"
    path.write_text(text)
    for suite in JUnitXml.fromfile(str(path)):
        for case in suite:
            yield case.system_out


def test_an_audit_says_what_differed_or_that_it_could_not_compare():
    audit = ReuseAudit(CELL, SHA, "a" * 40, Status.PASS, Status.FAIL, missing=("arch/x86/kvm/x86.c|error|x",))
    assert export.audit_line(audit) == (
        f"{CELL} at {SHA[:12]}: reused PASS from aaaaaaaaaaaa; MISMATCH: built FAIL; "
        "found 1 the reused result lacks: arch/x86/kvm/x86.c|error|x"
    )
    assert export.audit_line(ReuseAudit(CELL, SHA, "a" * 40, Status.PASS, Status.PASS)).endswith("; built the same")
    assert "not compared" in export.audit_line(ReuseAudit(CELL, SHA, "a" * 40, Status.PASS, None))
    assert export.audit_dict(audit)["mismatch"] is True
