"""The one road every command takes to build commits: `--commit`, the nightly, bisect (and testing a
posted series next). A Road says how every commit of a run builds; `commits()` builds them in order,
each cell through the executor and each result stored as it finishes, and yields each commit's run as
it is done; `judge()` says what a commit did to each cell against its baseline, with its exit status;
`first_bad()` finds where regressions began, building on the same road.

A command only chooses the commits, shows what comes back, and maps the exit status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from . import bisect, pipeline, tree
from .executors import Progress, quiet
from .matrix import ExecutorSettings, Matrix
from .models import BuildResult, FirstBad, RootCause, Unit, Verdict
from .pipeline import CommitRun
from .store import Store

Say = Callable[[str], None]
# title → a context in which the commit builds, giving the callable its cells' progress goes to (or None)
ProgressFor = Callable[[str], AbstractContextManager[Progress | None]]


def _silent(message: str) -> None:
    """A Say that says nothing."""


def _unshown(sha: str) -> AbstractContextManager[None]:
    """A commit's progress, shown nowhere."""
    return nullcontext()


@dataclass(frozen=True, eq=False)
class Road:
    """How every commit of a run builds: which cells, from which tree, into which store, where."""

    matrix: Matrix
    units: Sequence[Unit]
    source: Path  # the tree the commits are in
    store: Store
    runtime: str | None = None
    jobs: int | None = None
    rebuild: bool = False  # build cells that have a result already (never reuses one)
    reuse: bool = True  # a cell the commit provably cannot change takes its earlier result
    verify_reuse: float = 0.0  # the fraction of reusable cells built anyway, to audit the proof
    executor: ExecutorSettings | None = None  # None: the matrix's
    work_root: Path | None = None  # None: $ORCHESTRATOR_WORK or ~/.cache/orchestrator
    command: str = "orchestrate"  # what a stored run says made it
    say: Say = _silent

    def build(self, sha: str, on_progress: Progress = quiet, units: Sequence[Unit] | None = None) -> CommitRun:
        """One commit: every cell (or `units`) without a result yet, each stored as it finishes."""
        return pipeline.build_commit(
            self.matrix,
            self.units if units is None else units,
            self.source,
            sha,
            self.store,
            runtime=self.runtime,
            jobs=self.jobs,
            rebuild=self.rebuild,
            reuse=self.reuse,
            verify_reuse=self.verify_reuse,
            executor=self.executor,
            work_root=self.work_root,
            command=self.command,
            on_progress=on_progress,
            say=self.say,
        )

    def commits(self, shas: Iterable[str], progress: ProgressFor | None = None) -> Iterator[CommitRun]:
        """Each commit in turn, yielded once it is built and stored (and its progress shown is closed)."""
        for sha in shas:
            with (progress or _unshown)(sha) as update:
                run = self.build(sha, update or quiet)
            yield run


@dataclass
class Judged:
    """What one commit did to each cell, against each cell's baseline."""

    run: CommitRun
    verdicts: list[Verdict]
    causes: list[RootCause]  # its regressions, one per root cause
    history_note: str  # why failures could not be judged (a clone's history cut off), or ""
    exit_code: int  # 0 nothing regressed, 1 a regression, 2 an error or a failure that could not be judged


def judge(road: Road, run: CommitRun, base: str | None = None, fail_on_warnings: bool = False) -> Judged:
    """`run`'s results against their baselines (each cell's nearest first-parent ancestor with a
    result, or `base`'s), its root causes, and its exit status."""
    found = pipeline.verdicts(road.store, road.source, run.results, base, road.say)
    causes = pipeline.causes(road.store, run.commit, found, fail_on_warnings)
    code = pipeline.exit_code(run.results + run.kept, found, fail_on_warnings, run.mismatches)  # a kept result had an attempt that failed
    return Judged(run, found, causes, pipeline.history_cut_note(road.source, found) or "", code)


def first_bad(road: Road, commits: list[str], found: list[Verdict], fail_on_warnings: bool = False) -> list[FirstBad]:
    """Where each regression among `found` (verdicts at commits[-1] against commits[0]) began: one
    bisection per set of new fingerprints, shared by the cells that regressed alike, building only the
    first of them, on the road. Each build is stored like any other, and so is each answer."""
    by_id = {unit.id: unit for unit in road.units}
    groups: dict[frozenset[str], list[str]] = {}
    for verdict in found:
        if verdict.cell_id in by_id and verdict.is_regression(fail_on_warnings):
            new = verdict.new_errors + (verdict.new_warnings if fail_on_warnings else [])
            groups.setdefault(frozenset(d.fingerprint for d in new), []).append(verdict.cell_id)
    answers: list[FirstBad] = []
    for fingerprints, cells in groups.items():
        unit = by_id[cells[0]]

        def build(sha: str, unit: Unit = unit) -> tuple[BuildResult | None, bool]:
            run = road.build(sha, units=[unit])
            return (run.results[0] if run.results else None), unit.id in run.built

        answers += bisect.first_bad(commits, cells, fingerprints, build)
    stored = road.store.commits(sorted({sha for answer in answers for sha in answer.candidates}))
    for answer in answers:
        answer.commits = {sha: stored.get(sha) or tree.commit_info(road.source, sha) for sha in answer.candidates}
        road.store.add_first_bad(answer)  # `orchestrate report` names it too
    return answers
