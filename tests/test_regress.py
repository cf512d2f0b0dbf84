"""Verdicts against a baseline, and the commits x cells table. Pure: the diagnostics are parsed from
real logs of the corpus (tests/data/logs/), the build records around them are made here."""

from dataclasses import replace
from pathlib import Path

from orchestrator import logparse, regress
from orchestrator.models import BuildResult, FirstBad, Row, Status, VerdictKind

LOGS = Path(__file__).resolve().parent / "data" / "logs"


def diagnostics(name: str):
    with open(LOGS / f"{name}.log", "rb") as log:
        return logparse.parse(log)


SEED_ERROR = diagnostics("riscv-gcc-missing-member")  # 'struct <anonymous>' has no member named 'flags'
OTHER_ERROR = diagnostics("riscv-gcc-pipe-assembler-error")
WARNING = diagnostics("arm64-gcc-unused-variable")  # unused variable 'orchestrator_unused'


def build(sha: str, status: str = Status.PASS, found=(), definition: str = "d1", cell: str = "riscv") -> BuildResult:
    return BuildResult(cell_id=cell, sha=sha, status=status, definition=definition, diagnostics=list(found))


def moved(found, lines: int = 3):
    return [replace(d, line=d.line + lines) for d in found]


def test_a_cell_that_passed_and_now_fails_is_a_new_failure():
    verdict = regress.compare(build("b", Status.FAIL, SEED_ERROR), build("a"))
    assert verdict.kind == VerdictKind.NEW_FAIL and verdict.base_sha == "a"
    assert verdict.new_errors == SEED_ERROR and verdict.is_regression()


def test_a_cell_that_failed_and_now_passes_is_fixed():
    verdict = regress.compare(build("c"), build("b", Status.FAIL, SEED_ERROR))
    assert verdict.kind == VerdictKind.FIXED and verdict.gone_errors == SEED_ERROR
    assert not verdict.is_regression() and verdict.is_fix


def test_still_failing_says_which_errors_are_new_and_which_are_gone():
    verdict = regress.compare(build("c", Status.FAIL, OTHER_ERROR), build("b", Status.FAIL, SEED_ERROR))
    assert verdict.kind == VerdictKind.STILL_FAILING
    assert verdict.new_errors == OTHER_ERROR and verdict.gone_errors == SEED_ERROR
    assert verdict.is_regression()  # new errors


def test_still_failing_with_the_same_errors_moved_is_not_a_regression():
    verdict = regress.compare(build("c", Status.FAIL, moved(SEED_ERROR)), build("b", Status.FAIL, SEED_ERROR))
    assert verdict.kind == VerdictKind.STILL_FAILING
    assert verdict.new_errors == [] and verdict.gone_errors == []
    assert not verdict.is_regression()


def test_new_warnings_are_listed_and_count_only_when_asked():
    verdict = regress.compare(build("b", Status.PASS, WARNING), build("a"))
    assert verdict.kind == VerdictKind.NEW_WARNINGS and verdict.new_warnings == WARNING
    assert not verdict.is_regression() and verdict.is_regression(fail_on_warnings=True)


def test_warnings_fixed():
    verdict = regress.compare(build("c"), build("b", Status.PASS, WARNING))
    assert verdict.kind == VerdictKind.WARNINGS_FIXED and verdict.gone_warnings == WARNING


def test_a_warning_that_only_moved_is_neither_new_nor_fixed():
    verdict = regress.compare(build("c", Status.PASS, moved(WARNING)), build("b", Status.PASS, WARNING))
    assert verdict.kind == VerdictKind.UNCHANGED
    assert verdict.new_warnings == [] and verdict.gone_warnings == []


def test_infra_and_matrix_errors_are_never_regressions():
    for status, kind in ((Status.INFRA, VerdictKind.INFRA), (Status.MATRIX_ERROR, VerdictKind.MATRIX_ERROR)):
        verdict = regress.compare(build("b", status), build("a"))
        assert verdict.kind == kind and not verdict.is_regression(fail_on_warnings=True)


def test_no_baseline_still_counts_a_failure():
    assert regress.compare(build("a"), None).kind == VerdictKind.NO_BASELINE
    failing = regress.compare(build("a", Status.FAIL, SEED_ERROR), None)
    assert failing.kind == VerdictKind.NO_BASELINE and failing.is_regression()


def test_a_checks_first_findings_are_where_the_tree_starts_not_a_regression():
    first = regress.compare(build("a", Status.FAIL, SEED_ERROR, cell="uapi-abi-x86_64-i386"), None)
    assert first.kind == VerdictKind.NO_BASELINE and not first.is_regression()
    later = regress.compare(build("b", Status.FAIL, SEED_ERROR, cell="uapi-abi-x86_64-i386"), build("a", cell="uapi-abi-x86_64-i386"))
    assert later.kind == VerdictKind.NEW_FAIL and later.is_regression()


def test_the_table_moves_each_cells_baseline_down_the_rows():
    commits = [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]
    results = {
        ("a", "riscv"): build("a"),
        ("b", "riscv"): build("b", Status.FAIL, SEED_ERROR),
        ("c", "riscv"): build("c", Status.INFRA),  # not a baseline for d
        ("d", "riscv"): build("d"),
    }
    rows = regress.table(commits, results, ["riscv"])
    assert [row.verdicts["riscv"].kind for row in rows] == [
        VerdictKind.NO_BASELINE,
        VerdictKind.NEW_FAIL,
        VerdictKind.INFRA,
        VerdictKind.FIXED,
    ]
    assert rows[3].verdicts["riscv"].base_sha == "b"


def test_results_of_another_cell_definition_are_never_compared():
    commits = [("a", "A"), ("b", "B")]
    results = {("a", "riscv"): build("a", Status.FAIL, SEED_ERROR, definition="old"), ("b", "riscv"): build("b", definition="new")}
    (first, second) = regress.table(commits, results, ["riscv"])
    assert second.verdicts["riscv"].kind == VerdictKind.NO_BASELINE


def test_a_baseline_from_before_the_table():
    earlier = {("riscv", "d1"): build("z", Status.FAIL, SEED_ERROR)}
    (row,) = regress.table([("a", "A")], {("a", "riscv"): build("a")}, ["riscv"], earlier)
    assert row.verdicts["riscv"].kind == VerdictKind.FIXED and row.verdicts["riscv"].base_sha == "z"


# --- one entry per root cause ---------------------------------------------------------------------

CLANG_SEED = diagnostics("riscv-clang-missing-member")  # no member named 'flags' in 'struct kvm_run::(unnamed ...)'
IMPLICIT = diagnostics("arm64-gcc-implicit-declaration")


def regression(cell: str, found, sha: str = "b") -> tuple[Row, object]:
    verdict = regress.compare(build(sha, Status.FAIL, found, cell=cell), build("a", cell=cell))
    return Row(sha=sha, subject="KVM: x86: Add KVM_EXIT_SHUTDOWN metadata for SEV-ES", verdicts={cell: verdict}), verdict


def test_one_error_in_several_cells_and_in_gccs_and_clangs_words_is_one_root_cause():
    found = [regression("riscv-gcc", SEED_ERROR), regression("riscv-clang", CLANG_SEED), regression("arm64-gcc", IMPLICIT)]
    causes = regress.root_causes(found)
    assert [(c.cells, c.kind) for c in causes] == [(["riscv-gcc", "riscv-clang"], VerdictKind.NEW_FAIL), (["arm64-gcc"], VerdictKind.NEW_FAIL)]
    assert [d.message for d in causes[0].diagnostics] == [SEED_ERROR[0].message, CLANG_SEED[0].message]  # both wordings shown


def test_the_same_error_in_two_commits_is_two_causes_and_a_failure_without_diagnostics_is_its_own():
    found = [regression("riscv-gcc", SEED_ERROR, "b"), regression("riscv-gcc", SEED_ERROR, "c"), regression("x", [], "c")]
    assert [(c.sha, c.cells) for c in regress.root_causes(found)] == [("b", ["riscv-gcc"]), ("c", ["riscv-gcc"]), ("c", ["x"])]


def test_causes_bisected_to_one_first_bad_commit_are_one_entry_that_names_it():
    arm64 = diagnostics("arm64-gcc-implicit-declaration")
    causes = regress.root_causes([regression("riscv-gcc", SEED_ERROR, "tip"), regression("arm64-gcc", arm64, "tip")])
    assert len(causes) == 2  # different errors in different files
    answers = [FirstBad(["riscv-gcc"], [], "a", ["b"], 3, tip="tip"), FirstBad(["arm64-gcc"], [], "a", ["b"], 2, tip="tip")]
    [merged] = regress.with_first_bad(causes, answers)
    assert merged.cells == ["riscv-gcc", "arm64-gcc"] and len(merged.diagnostics) == 2
    assert merged.first_bad == answers and merged.reproduce_at == "b"  # reproduced where it began, not at the tip
    assert [c.first_bad for c in causes] == [[], []]  # the causes given are left as they were


def test_a_range_or_an_answer_about_another_commit_stays_apart():
    arm64 = diagnostics("arm64-gcc-implicit-declaration")
    causes = regress.root_causes([regression("riscv-gcc", SEED_ERROR, "tip"), regression("arm64-gcc", arm64, "tip")])
    apart = [FirstBad(["riscv-gcc"], [], "a", ["b"], 3, tip="tip"), FirstBad(["arm64-gcc"], [], "a", ["x", "b"], 2, tip="tip")]
    assert [(len(c.first_bad), c.reproduce_at) for c in regress.with_first_bad(causes, apart)] == [(1, "b"), (1, "tip")]  # a range: at the tip
    elsewhere = [FirstBad(["riscv-gcc"], [], "a", ["b"], 3, tip="other"), FirstBad(["arm64-gcc"], [], "a", ["b"], 2, tip="other")]
    assert [c.first_bad for c in regress.with_first_bad(causes, elsewhere)] == [[], []]


def test_an_answer_explains_a_cause_of_its_cells_and_diagnostics_where_seen_or_first_known_bad():
    [cause] = regress.root_causes([regression("riscv-gcc", SEED_ERROR, "b")])
    seed = [d.fingerprint for d in SEED_ERROR]
    assert regress.explains(FirstBad(["riscv-gcc"], seed, "a", ["b"], 2, tip="tip"), cause)  # a range's table shows it at b
    assert regress.explains(FirstBad(["riscv-gcc"], seed, "a", ["x", "b"], 2, tip="tip"), cause)  # b: the first known bad
    assert regress.explains(FirstBad(["riscv-gcc"], seed, "a", ["x"], 2, tip="b"), cause)  # seen at b, the nightly's tip
    assert not regress.explains(FirstBad(["riscv-gcc"], seed, "a", ["b", "x"], 2, tip="tip"), cause)  # b could not be judged
    assert not regress.explains(FirstBad(["arm64-gcc"], seed, "a", ["b"], 2, tip="tip"), cause)
    other = [d.fingerprint for d in OTHER_ERROR]
    assert not regress.explains(FirstBad(["riscv-gcc"], other, "a", ["b"], 2, tip="tip"), cause)  # another regression's


def test_a_known_warning_is_counted_as_known_and_never_new_or_gone():
    known = [replace(d, known=True) for d in WARNING]
    verdict = regress.compare(build("b", found=known), build("a"))
    assert verdict.kind == VerdictKind.UNCHANGED and verdict.new_warnings == [] and verdict.warnings == 0
    assert verdict.known == 1 and not verdict.is_regression(fail_on_warnings=True)
    assert regress.compare(build("c"), build("b", found=known)).gone_warnings == []  # accepted, then gone: not news either
