"""The bisection's search, on results made here: where a regression's fingerprints first appear."""

import math

from orchestrator import bisect
from orchestrator.bisect import Judgement
from orchestrator.models import BuildResult, Diagnostic, Status

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
