"""The pipeline's judging, on a small real git history and a real store (no build): the report of a
range, --base, baselines found before the range, and the exit codes of a commit and of a range."""

import subprocess
from pathlib import Path

import pytest
from conftest import SEED, UNUSED

from orchestrator import pipeline
from orchestrator.errors import RevisionError
from orchestrator.models import BuildResult, Cell, Commit, Diagnostic, ReuseAudit, Status, VerdictKind
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


# --- reuse: which earlier result a commit may take, on a real git history and store (no build) -----


@pytest.fixture
def reusing(tmp_path):
    """A tree with arch/x86/kvm/x86.c and a doc; a riscv cell whose pass at the first commit read
    virt/kvm/kvm_main.c only (an input set as a build records it), stored for the first commit."""
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
        return subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True, text=True).stdout.strip()

    def commit(path: str, text: str, subject: str) -> str:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
        git("add", path)
        git("commit", "--quiet", "-m", subject)
        return git("rev-parse", "HEAD")

    git("init", "--quiet", "--initial-branch=main")
    commit("virt/kvm/kvm_main.c", "int kvm;\n", "kvm")
    base = commit("Documentation/kvm.rst", "KVM\n", "doc")
    store = Store(tmp_path / "results")
    store.add_commit(Commit(base, "doc", "2022-12-11T14:15:00+00:00"))
    read = frozenset({"virt/kvm/kvm_main.c"})
    store.add_build(BuildResult(REUSE_CELL.id, base, Status.PASS, definition=REUSE_CELL.definition, runtime="null", inputs=read))
    return repo, git, commit, base, store


REUSE_CELL = Cell("riscv-gcc-defconfig+kvm", "riscv", "gcc", "defconfig", fragments=(), targets=("config",), make_targets=("arch/riscv/kvm/",))


def test_a_commit_touching_nothing_the_cell_read_takes_the_earlier_result_and_names_its_commit(reusing):
    repo, _, commit, base, store = reusing
    doc = commit("Documentation/kvm.rst", "KVM, documented\n", "doc fix")
    x86 = commit("arch/x86/kvm/x86.c", "int x86;\n", "an x86 file")
    for sha in (doc, x86):
        (taken,) = pipeline.reusable(store, repo, sha, [REUSE_CELL], {REUSE_CELL.id: "null"}).values()
        assert (taken.sha, taken.reused_from, taken.status, taken.inputs) == (sha, base, Status.PASS, frozenset({"virt/kvm/kvm_main.c"}))
    store.add_commit(Commit(doc, "doc fix", "2022-12-11T14:15:00+00:00"))
    store.add_build(pipeline.reusable(store, repo, doc, [REUSE_CELL], {REUSE_CELL.id: "null"})[REUSE_CELL.id])
    (again,) = pipeline.reusable(store, repo, x86, [REUSE_CELL], {REUSE_CELL.id: "null"}).values()
    assert again.reused_from == base  # from the nearest (doc's, reused), naming the commit that built it


def test_a_changed_input_another_runtime_a_merge_or_a_shallow_clone_builds(reusing, tmp_path):
    repo, git, commit, base, store = reusing
    runtime = {REUSE_CELL.id: "null"}
    read = commit("virt/kvm/kvm_main.c", "int kvm, more;\n", "a file the cell read")
    assert pipeline.reusable(store, repo, read, [REUSE_CELL], runtime) == {}
    git("reset", "--quiet", "--hard", base)
    doc = commit("Documentation/kvm.rst", "KVM, documented\n", "doc fix")
    assert pipeline.reusable(store, repo, doc, [REUSE_CELL], {REUSE_CELL.id: "podman"}) == {}  # another compiler
    git("checkout", "--quiet", "-b", "side", base)
    commit("Documentation/other.rst", "other\n", "side doc")
    git("checkout", "--quiet", "main")
    git("merge", "--quiet", "--no-ff", "-m", "merge", "side")
    merge = git("rev-parse", "HEAD")
    assert pipeline.reusable(store, repo, merge, [REUSE_CELL], runtime) == {}
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth=3", f"file://{repo}", str(shallow)], check=True)
    assert pipeline.reusable(store, shallow, doc, [REUSE_CELL], runtime) == {}  # doc is HEAD~1 there, but cut
    assert pipeline.reusable(store, repo, doc, [REUSE_CELL], runtime) != {}  # the same commit, full history


def test_the_audit_picks_a_fraction_of_cells_the_same_way_every_time():
    picked = [pipeline.is_audited(f"{n:040x}", cell, 0.1) for n in range(500) for cell in ("x86", "arm64")]
    assert 50 <= sum(picked) <= 150  # about one in ten of 1,000
    assert picked == [pipeline.is_audited(f"{n:040x}", cell, 0.1) for n in range(500) for cell in ("x86", "arm64")]
    assert not any(pipeline.is_audited("0" * 40, "x86", 0) for _ in range(3)) and pipeline.is_audited("0" * 40, "x86", 1.0)


def test_a_reuse_mismatch_exits_2_even_over_a_regression(history):
    _, shas, _ = history
    mismatch = ReuseAudit("x86", shas[2], shas[0], Status.PASS, Status.FAIL, missing=("a.c|error|x",))
    unfinished = ReuseAudit("x86", shas[2], shas[0], Status.PASS, None)
    assert mismatch.mismatch and not unfinished.mismatch
    assert pipeline.exit_code([], [], mismatches=[mismatch]) == 2
