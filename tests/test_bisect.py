"""The bisection's search, on results made here: where a regression's fingerprints first appear."""

import math
import subprocess

import pytest
from conftest import PROJECT, commit_changes, orchestrate
from test_seed_scenario import (
    ARM64_NEW,
    ARM64_OLD,
    NEW_STRUCT,
    OLD_STRUCT,
    RISCV_NEW,
    RISCV_OLD,
    SEV_NEW,
    SEV_OLD,
    X86_CRASH_NEW,
    X86_CRASH_OLD,
    X86_RESET_NEW,
    X86_RESET_OLD,
)  # fmt: skip

from orchestrator import bisect
from orchestrator.bisect import Judgement
from orchestrator.models import BuildResult, Diagnostic, Status
from orchestrator.store import Store

SEED = "error|arch/riscv/kvm/vcpu_sbi.c||'struct <anonymous>' has no member named 'flags'"
OTHER = "error|arch/riscv/kvm/vcpu.c||implicit declaration of function 'x'"


def result(sha: str, status: Status = Status.PASS, *fingerprints: str, cell: str = "riscv-gcc-defconfig+kvm") -> BuildResult:
    found = [Diagnostic(severity="error", file="f.c", line=1, column=1, message=f, fingerprint=f) for f in fingerprints]
    return BuildResult(cell_id=cell, sha=sha, status=status, diagnostics=found)


class History:
    """Commits c0..cN: each a result; counts the builds the search asks for."""

    def __init__(self, results: list[BuildResult]):
        self.results = {r.sha: r for r in results}
        self.commits = [r.sha for r in results]
        self.built: list[str] = []

    def build(self, sha: str) -> tuple[BuildResult | None, bool]:
        fresh = sha not in (self.commits[0], self.commits[-1])  # the ends are stored already
        if fresh:
            self.built.append(sha)
        return self.results[sha], fresh


def seed_history(length: int, first_bad: int, **broken: Status) -> History:
    results = []
    for i in range(length):
        status = broken.get(f"c{i}", Status.FAIL if i >= first_bad else Status.PASS)
        results.append(result(f"c{i}", status, *([SEED] if i >= first_bad and status == Status.FAIL else [])))
    return History(results)


def test_the_first_bad_commit_is_found_in_at_most_log2_n_plus_1_builds():
    for length in (2, 3, 8, 20, 33):
        for bad in range(1, length):
            history = seed_history(length, bad)
            [found] = bisect.first_bad(history.commits, ["riscv-gcc-defconfig+kvm"], frozenset({SEED}), history.build)
            assert found.candidates == [f"c{bad}"] and found.good == f"c{bad - 1}" and found.found
            assert found.builds == len(history.built) <= math.ceil(math.log2(length)) + 1
            assert found.fingerprints == [SEED]


def test_a_commit_that_cannot_be_judged_is_skipped_and_the_answer_is_a_range():
    history = seed_history(8, 5, c4=Status.INFRA)
    [found] = bisect.first_bad(history.commits, ["riscv"], frozenset({SEED}), history.build)
    assert found.candidates == ["c4", "c5"] and not found.found and found.good == "c3"


def test_a_build_failing_for_another_reason_is_skipped_but_a_checks_result_is_judged():
    other = result("x", Status.FAIL, OTHER)
    assert bisect.judge(other, frozenset({SEED})) == Judgement.SKIP
    check = result("x", Status.FAIL, OTHER, cell="uapi-abi-x86_64-i386")
    assert bisect.judge(check, frozenset({SEED})) == Judgement.GOOD
    assert bisect.judge(result("x", Status.INFRA), frozenset({SEED})) == Judgement.SKIP
    assert bisect.judge(result("x", Status.FAIL), frozenset()) == Judgement.BAD  # a failure without diagnostics


def test_two_new_errors_from_two_commits_are_two_first_bad_commits():
    results = [result("c0"), result("c1"), result("c2", Status.FAIL, SEED), result("c3", Status.FAIL, SEED)]
    results += [result("c4", Status.FAIL, SEED, OTHER), result("c5", Status.FAIL, SEED, OTHER)]
    history = History(results)
    found = bisect.first_bad(history.commits, ["riscv"], frozenset({SEED, OTHER}), history.build)
    # c3 fails with the first error alone: that failure may hide the second, so c3 cannot be judged for it
    assert [(f.candidates, f.fingerprints) for f in found] == [(["c2"], [SEED]), (["c3", "c4"], [OTHER])]


# --- end to end: the seed scenario stretched over a series, with real builds -------------------------

ARM64, RISCV = "arm64-gcc-defconfig+kvm", "riscv-gcc-defconfig+kvm"
README_TOP = "Linux kernel\n============\n"
SEV_ES = "KVM: x86: Add KVM_EXIT_SHUTDOWN metadata for SEV-ES"


@pytest.fixture(scope="module")
def series(demo_tree, tmp_path_factory):
    """A (system_event as before 5.18), three harmless commits, B (the SEV-ES change that breaks arm64
    and riscv), two harmless commits, and a harmless tip; the riscv cell fails for another reason at
    the commit just before B (an unrelated error, fixed by B's author in B)."""
    root = tmp_path_factory.mktemp("bisect")
    clone = root / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(clone)], check=True)
    x86 = [("arch/x86/kvm/x86.c", X86_CRASH_NEW, X86_CRASH_OLD), ("arch/x86/kvm/x86.c", X86_RESET_NEW, X86_RESET_OLD),
           ("arch/x86/kvm/svm/sev.c", SEV_NEW, SEV_OLD)]  # fmt: skip
    others = [("arch/arm64/kvm/psci.c", ARM64_NEW, ARM64_OLD), ("arch/riscv/kvm/vcpu_sbi.c", RISCV_NEW, RISCV_OLD)]
    header = [("include/uapi/linux/kvm.h", NEW_STRUCT, OLD_STRUCT)]
    harmless = lambda n: [("README", README_TOP, f"{README_TOP}\nharmless {n}\n")]  # noqa: E731
    shas = {"A": commit_changes(clone, header + x86 + others, "KVM: system_event as before 5.18: type and flags")}
    for n in (1, 2):
        shas[f"h{n}"] = commit_changes(clone, harmless(n), f"docs: harmless {n}")
    broken = ("arch/riscv/kvm/vcpu.c", "#include <linux/bitops.h>\n", "#include <linux/bitops.h>\nint orchestrator_unrelated = ;\n")
    shas["h3"] = commit_changes(clone, [broken], "riscv: an unrelated slip")
    fixed = [(path, new, old) for path, old, new in [broken]]
    shas["B"] = commit_changes(clone, [(p, o, n) for p, n, o in header + x86] + fixed, SEV_ES, author=("Peter Gonda", "pgonda@google.com"))
    for n in (4, 5, 6):
        shas[f"h{n}"] = commit_changes(clone, harmless(n), f"docs: harmless {n}")
    (root / "configs").symlink_to(PROJECT / "configs")
    env = {"ORCHESTRATOR_RESULTS": str(root / "results")}
    args = ["bisect", f"{shas['A']}..{shas['h6']}", "--tree", str(clone), "--matrix", str(PROJECT / "matrix.yaml")]
    run = orchestrate(*args, "--cells", ARM64, "--cells", RISCV, cwd=root, env=env)
    return {"shas": shas, "run": run, "results": root / "results"}


@pytest.mark.e2e
def test_bisect_names_the_sev_es_change_for_arm64_and_says_riscv_is_one_of_two(series):
    run, shas = series["run"], series["shas"]
    assert run.returncode == 1, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("first bad commit")]
    arm64 = f"first bad commit: {shas['B'][:12]} {SEV_ES} (Peter Gonda <pgonda@google.com>), found in "
    assert any(line.startswith(arm64) for line in lines), run.stdout
    [arm64_line] = [line for line in lines if line.startswith(arm64)]
    assert int(arm64_line.split("found in ")[1].split()[0]) <= math.ceil(math.log2(7)) + 1
    # h3 fails for another reason on riscv: it cannot be judged, so riscv's answer is a range
    riscv = f"first bad commit is one of: {shas['h3'][:12]} riscv: an unrelated slip (t <t@t.invalid>); {shas['B'][:12]} {SEV_ES}"
    assert any(line.startswith(riscv) for line in lines), run.stdout


@pytest.mark.e2e
def test_every_bisection_build_is_stored_like_any_other(series):
    store = Store(series["results"])
    probed = {sha for sha in series["shas"].values() if store.builds(sha)}
    assert {series["shas"]["A"], series["shas"]["h6"], series["shas"]["B"]} <= probed
    assert len(probed) <= 2 + 2 * (math.ceil(math.log2(7)) + 1)
