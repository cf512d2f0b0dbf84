"""The first bad commit of a regression: a binary search over the first-parent commits between a good
reference and a bad tip, building one cell per step. The search is pure; the builds are the caller's
(`build(sha)` returns the cell's result there, built or stored).

A commit is *bad* when the cell's result there has one of the regression's new fingerprints, *good*
when it has none and says so for certain, and *skipped* (like `git bisect skip`) when it cannot say:
an infrastructure or matrix error, or a build that fails for another reason (its failure may hide the
error sought). A check's result is complete whatever its status: it is judged, never skipped. With
skipped commits next to the answer, the answer is a range: "one of X, Y".

A regression with several new fingerprints may have several first bad commits: after one is found,
the fingerprints not present there are searched for again, between it and the tip.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from .models import BuildResult, FirstBad, Status, is_check


class Judgement(StrEnum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"


def judge(result: BuildResult | None, fingerprints: frozenset[str]) -> Judgement:
    """A commit's judgement from the cell's result there. Without fingerprints (a failure that left no
    diagnostic), a failed build is bad and a passing one good."""
    if result is None or result.status not in (Status.PASS, Status.FAIL):
        return Judgement.SKIP
    if not fingerprints:
        return Judgement.BAD if result.status == Status.FAIL else Judgement.GOOD
    if fingerprints & {d.fingerprint for d in result.diagnostics}:
        return Judgement.BAD
    if result.status == Status.PASS or is_check(result.cell_id):
        return Judgement.GOOD
    return Judgement.SKIP  # failing for another reason: the error sought may be hidden behind it


def next_probe(commits: list[str], known: dict[str, Judgement]) -> str | None:
    """The commit to build next (None: the answer is known). `commits` runs oldest first from a good
    one to a bad one; the probe is the untried commit nearest the middle of the bounds known so far."""
    good, bad = _bounds(commits, known)
    untried = [i for i in range(good + 1, bad) if commits[i] not in known]
    if not untried:
        return None
    middle = (good + bad) / 2
    return commits[min(untried, key=lambda i: (abs(i - middle), i))]


def answer(commits: list[str], known: dict[str, Judgement]) -> tuple[str, list[str]]:
    """(the last good commit, the first bad one, or the candidates when skipped commits lie between)."""
    good, bad = _bounds(commits, known)
    skipped = [commits[i] for i in range(good + 1, bad) if known.get(commits[i]) == Judgement.SKIP]
    return commits[good], [*skipped, commits[bad]]


def _bounds(commits: list[str], known: dict[str, Judgement]) -> tuple[int, int]:
    bad = min((i for i, sha in enumerate(commits) if known.get(sha) == Judgement.BAD), default=len(commits) - 1)
    good = max((i for i, sha in enumerate(commits[:bad]) if known.get(sha) == Judgement.GOOD), default=0)
    return good, bad


def first_bad(
    commits: list[str],
    cells: list[str],
    fingerprints: frozenset[str],
    build: Callable[[str], tuple[BuildResult | None, bool]],
) -> list[FirstBad]:
    """The first bad commit(s) of a regression of `cells` (sharing `fingerprints`) between commits[0]
    (good) and commits[-1] (bad). `build(sha)` gives cells[0]'s result at sha and whether it was built
    now (not stored before)."""
    found: list[FirstBad] = []
    remaining = fingerprints
    tip = commits[-1]
    while True:
        known = {commits[0]: Judgement.GOOD, commits[-1]: Judgement.BAD}
        results: dict[str, BuildResult | None] = {}
        built = 0
        while (probe := next_probe(commits, known)) is not None:
            results[probe], fresh = build(probe)
            built += fresh
            known[probe] = judge(results[probe], remaining)
        good, candidates = answer(commits, known)
        if candidates[-1] not in results:  # the tip: stored already
            results[candidates[-1]], fresh = build(candidates[-1])
            built += fresh
        at_bad = results[candidates[-1]]
        here = remaining & {d.fingerprint for d in at_bad.diagnostics} if at_bad is not None else remaining
        found.append(FirstBad(list(cells), sorted(here or remaining), good, candidates, built, tip=tip))
        remaining = remaining - here
        if not here or not remaining or len(candidates) > 1:
            return found
        commits = commits[commits.index(candidates[-1]) :]  # the rest appeared later
