"""The pipeline's judging, on a small real git history and a real store (no build): the report of a
range, --base, baselines found before the range, and the exit codes of a commit and of a range."""

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import SEED, UNUSED

from orchestrator import logparse, pipeline, regress
from orchestrator.errors import RevisionError
from orchestrator.models import BuildResult, Commit, Diagnostic, Status, VerdictKind
from orchestrator.store import Store

CELL = "riscv-gcc-defconfig+kvm"


@pytest.fixture
def history(tmp_path) -> tuple[Path, list[str], Store]:
    """Five commits, P A B C D; P passed, A is not built, B fails with the seed error, C still fails and
    warns, D builds again."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()  # noqa: E731
    git("init", "--quiet")
    shas = []
    for name in "PABCD":
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "--allow-empty", "-m", name)
        shas.append(git("rev-parse", "HEAD"))
    store = Store(tmp_path / "results")
    stories = {"P": (Status.PASS, []), "B": (Status.FAIL, [SEED]), "C": (Status.FAIL, [SEED, UNUSED]), "D": (Status.PASS, [])}
    for name, (status, diagnostics) in stories.items():
        sha = shas["PABCD".index(name)]
        store.add_commit(Commit(sha, name, "2022-12-11T14:15:00+00:00"))
        store.add_build(BuildResult(CELL, sha, status, definition="d", diagnostics=list(diagnostics)))
    return repo, shas, store


def kinds(report) -> dict[str, str]:
    return {row.subject: row.verdicts[CELL].kind for row in report.rows if CELL in row.verdicts}


def test_a_range_is_judged_row_by_row_from_a_baseline_found_before_it(history):
    repo, shas, store = history
    report = pipeline.report(store, repo, f"{shas[1]}..{shas[4]}")  # A..D: A has no result
    assert [row.subject for row in report.rows] == ["A", "B", "C", "D"]  # the bottom of the range first
    assert kinds(report) == {"B": VerdictKind.NEW_FAIL, "C": VerdictKind.STILL_FAILING, "D": VerdictKind.FIXED}
    assert report.rows[1].verdicts[CELL].base_sha == shas[0]  # P, below the range


def test_with_base_every_row_is_judged_against_that_commit(history):
    repo, shas, store = history
    report = pipeline.report(store, repo, f"{shas[2]}..{shas[4]}", base=shas[0])
    assert kinds(report) == {"B": VerdictKind.NEW_FAIL, "C": VerdictKind.NEW_FAIL, "D": VerdictKind.UNCHANGED}
    assert {row.verdicts[CELL].base_sha for row in report.rows} == {shas[0]}


def test_a_range_with_nothing_stored_says_so(history, tmp_path):
    repo, shas, _ = history
    with pytest.raises(RevisionError, match=r"^range 'HEAD': no stored results for [0-9a-f]{12}$") as caught:
        pipeline.report(Store(tmp_path / "empty"), repo, "HEAD")
    assert caught.value.topic == "unbuilt"


def test_a_commits_exit_code_is_1_for_a_regression_only(history):
    repo, shas, store = history
    results = [store.result(shas[2], CELL, "d")]
    found = pipeline.verdicts(store, repo, results)
    assert pipeline.exit_code(results, found) == 1  # B: a new failure
    infra = BuildResult("other", shas[2], Status.INFRA, reason="no space left on device")
    assert pipeline.exit_code([infra], pipeline.verdicts(store, repo, [infra])) == 2
    passing = [store.result(shas[4], CELL, "d")]
    assert pipeline.exit_code(passing, pipeline.verdicts(store, repo, passing)) == 0


def test_new_warnings_are_a_regression_with_fail_on_warnings(history):
    repo, shas, store = history
    warned = BuildResult(CELL, shas[4], Status.PASS, definition="d", diagnostics=[UNUSED])
    found = pipeline.verdicts(store, repo, [warned], base=shas[0])
    assert found[0].kind == VerdictKind.NEW_WARNINGS
    assert (pipeline.exit_code([warned], found), pipeline.exit_code([warned], found, fail_on_warnings=True)) == (0, 1)


def test_a_ranges_exit_code_is_1_if_any_commit_regressed_else_the_worst():
    assert pipeline.range_exit_code([0, 2, 1, 0]) == 1
    assert pipeline.range_exit_code([0, 2, 0]) == 2
    assert pipeline.range_exit_code([0, 0]) == 0


def test_a_failure_whose_history_is_cut_off_is_not_a_regression(history):
    repo, shas, store = history
    failing = BuildResult(CELL, shas[4], Status.FAIL, definition="d", diagnostics=[Diagnostic("error", "x.c", 1, 1, "boom", fingerprint="b")])
    found = [pipeline.regress.compare(failing, None, history_cut=True)]
    assert found[0].kind == VerdictKind.BASELINE_UNKNOWN and not found[0].is_regression()
    assert pipeline.exit_code([failing], found) == 2
    assert pipeline.history_cut_note(repo, found).startswith(f"{repo} is a shallow clone with no remote")


# --- results an older log parser made -----------------------------------------------------------------

LOGS = Path(__file__).resolve().parent / "data" / "logs"
LD_CELL = "x86_64-gcc-tinyconfig"


def test_results_of_an_older_parser_are_parsed_again_so_an_unchanged_error_stays_unchanged(tmp_path):
    """Parser 1 named GNU ld's undefined reference by its object (init/main.o); today's names the source
    file (init/main.c), with another fingerprint. The same error at the next commit is not new."""
    store = Store(tmp_path)
    a, b = "a" * 40, "b" * 40
    store.add_commit(Commit(a, "a", "2022-12-11T14:15:00+00:00"))
    log = (LOGS / "x86_64-gcc-tinyconfig-undefined-reference.log").read_bytes()
    (tmp_path / a / LD_CELL).mkdir(parents=True)
    (tmp_path / a / LD_CELL / "build.log").write_bytes(log)
    today = logparse.parse(log.splitlines())
    [error] = [d for d in today if d.tool == "linker"]
    old = replace(error, file="init/main.o", root_cause=False)
    old.fingerprint = logparse.fingerprint(old)
    store.add_build(BuildResult(LD_CELL, a, Status.FAIL, definition="d", artifacts_dir=f"{a}/{LD_CELL}", diagnostics=[old], parser=1))
    gone = replace(old)  # a result whose artifacts were pruned: nothing to parse again
    store.add_build(BuildResult("pruned", a, Status.FAIL, definition="d", diagnostics=[gone], parser=1))
    store.add_build(BuildResult("uapi-abi-x86_64-i386", a, Status.FAIL, definition="d", diagnostics=[SEED], parser=1))

    assert pipeline.reparse_stale(store) == 1
    assert pipeline.reparse_stale(store) == 0  # once

    results = {r.cell_id: r for r in store.builds(a)}
    assert results[LD_CELL].diagnostics == today and results[LD_CELL].parser == logparse.VERSION
    assert results["pruned"].diagnostics == [gone] and results["pruned"].parser == logparse.VERSION
    assert results["uapi-abi-x86_64-i386"].diagnostics == [SEED] and results["uapi-abi-x86_64-i386"].parser == 0  # a check's own
    verdict = regress.compare(BuildResult(LD_CELL, b, Status.FAIL, definition="d", diagnostics=today), results[LD_CELL])
    assert verdict.kind == VerdictKind.STILL_FAILING and verdict.new_errors == [] and not verdict.is_regression()
