"""The path from a matrix and a revision to stored results: the library API under the CLI and nightly."""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import containers, regress, runner, tree
from .lock import Lock
from .matrix import Matrix
from .models import FAIL, INFRA, MATRIX_ERROR, BuildResult, Cell, Commit, InputError
from .store import Store


def default_work_root() -> Path:
    """Where worktrees, build directories and ccache live: reused across runs and results dirs."""
    env = os.environ.get("ORCHESTRATOR_WORK")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "orchestrator"


@dataclass
class CommitRun:
    commit: Commit
    results: list[BuildResult]  # one per selected cell, in matrix order
    built: list[str] = field(default_factory=list)  # cells built by this run (the rest were stored)


def source_tree(matrix: Matrix, override: Optional[Path]) -> Path:
    if override is not None:
        return tree.check_tree(override)
    if matrix.tree.path is None:
        raise InputError(f"{matrix.path}: tree has no `path`; pass --tree PATH to a kernel git tree")
    return tree.check_tree(matrix.tree.path)


def build_commit(
    matrix: Matrix,
    cells: list[Cell],
    source: Path,
    rev: str,
    store: Store,
    *,
    runtime: Optional[str] = None,
    jobs: Optional[int] = None,
    workers: Optional[int] = None,
    rebuild: bool = False,
    work_root: Optional[Path] = None,
    command: str = "orchestrate",
    on_progress: Callable[[str, str, str], None] = lambda cell, state, detail: None,
    say: Callable[[str], None] = lambda message: None,
) -> CommitRun:
    """Build every cell that has no result for `rev` yet (all of them with `rebuild`), storing each at once."""
    sha = tree.resolve(source, rev)
    commit = tree.commit_info(source, sha)
    store.add_commit(commit)
    todo = list(cells) if rebuild else store.missing(sha, cells)
    # Absolute, like every path handed to tuxmake: make runs in the source tree, not here.
    work_root = Path(work_root or default_work_root()).absolute()
    built = []
    if todo:
        with work_lock(work_root):
            checkout = tree.checkout(source, sha, work_root)
            plan = runner.schedule(len(todo), runner.cores(), jobs or matrix.jobs, workers)
            runtimes = choose_runtimes(todo, runtime, say)
            ccache = os.path.abspath(os.environ.get("CCACHE_DIR") or work_root / "ccache")
            requests = [
                runner.BuildRequest(
                    cell=cell,
                    sha=sha,
                    source=str(checkout),
                    output_dir=str(store.artifacts_dir(sha, cell.id)),
                    build_dir=str(work_root / "builds" / cell.id),
                    jobs=plan.jobs,
                    runtime=runtimes[cell.id],
                    ccache_dir=ccache,
                )
                for cell in todo
            ]
            run_id = store.start_run(command, str(source))
            for result in runner.run_builds(requests, plan.workers, on_progress):
                store.add_build(result, run_id)
                built.append(result.cell_id)
            store.finish_run(run_id)
    results = [store.result(sha, cell.id, cell.definition) for cell in cells]
    return CommitRun(commit=commit, results=[r for r in results if r is not None], built=built)


def choose_runtimes(cells: list[Cell], override: Optional[str], say: Callable[[str], None]) -> dict[str, str]:
    """cell id → the runtime it builds with: the override or its own, with `auto` made podman where
    podman can run the cell's image here and null elsewhere, saying why."""
    chosen, fallbacks = {}, {}
    for cell in cells:
        wanted = override or cell.runtime
        if wanted == "auto":
            reason = containers.why_not("podman", cell.arch, cell.toolchain)
            wanted = "podman" if reason is None else "null"
            if reason:
                fallbacks.setdefault(reason, []).append(cell.id)
        chosen[cell.id] = wanted
    in_podman = [c for c, r in chosen.items() if r == "podman"]
    if fallbacks:
        if in_podman:
            say(f"runtime auto: podman containers for {', '.join(in_podman)}")
        for reason, ids in fallbacks.items():
            say(f"runtime auto: the host toolchains for {', '.join(ids)}, because {reason}")
    elif in_podman and any((override or c.runtime) == "auto" for c in cells):
        say("runtime auto: podman containers for every cell")
    return chosen


def baselines(
    store: Store, source: Path, results: list[BuildResult], base: Optional[str] = None
) -> dict[tuple[str, str], BuildResult]:
    """(cell, definition) → the result each of `results` is judged against: the one at `base` if given,
    else the nearest first-parent ancestor with a finished (pass or fail) result of the same cell
    definition. One walk up the first-parent line serves every cell of a commit."""
    found: dict[tuple[str, str], BuildResult] = {}
    if base is not None:
        for result in results:
            at_base = store.result(base, result.cell_id, result.definition)
            if regress.usable_baseline(at_base):
                found[(result.cell_id, result.definition)] = at_base
        return found
    wanted: dict[str, list[tuple[BuildResult, set[str]]]] = {}  # sha → its cells' candidate baselines
    for result in results:
        candidates = store.finished_shas(result.cell_id, result.definition) - {result.sha}
        if candidates:
            wanted.setdefault(result.sha, []).append((result, candidates))
    for sha, cells in wanted.items():
        for ancestor in tree.first_parent_ancestors(source, sha):
            for result, candidates in list(cells):
                if ancestor in candidates:
                    found[(result.cell_id, result.definition)] = store.result(ancestor, result.cell_id, result.definition)
                    cells.remove((result, candidates))
            if not cells:
                break
    return found


def verdicts(
    store: Store, source: Path, results: list[BuildResult], base: Optional[str] = None
) -> list[regress.Verdict]:
    """Each result judged against its baseline."""
    found = baselines(store, source, results, base)
    return [regress.compare(r, found.get((r.cell_id, r.definition))) for r in results]


@dataclass
class Report:
    rows: list[regress.Row]
    cells: list[str]


def report(
    store: Store, source: Path, spec: str, cells: Optional[list[str]] = None, base: Optional[str] = None
) -> Report:
    """The commits × cells table for a range `A..B` (A shown first) or one rev, oldest first."""
    with collector_paused():
        return _report(store, source, spec, cells, base)


@contextmanager
def collector_paused():
    """A report makes tens of thousands of records (builds, diagnostics, verdicts) that form no cycles;
    the cyclic garbage collector would walk them again and again while they are made."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _report(store: Store, source: Path, spec: str, cells: Optional[list[str]], base: Optional[str]) -> Report:
    shas = tree.first_parent_range(source, spec)
    results = store.results_for(shas)
    if cells is None:
        cells = sorted({cell for _, cell in results})
    stored = store.commits(shas)
    commits = [(sha, (stored.get(sha) or tree.commit_info(source, sha)).subject) for sha in shas]
    position = {sha: index for index, sha in enumerate(shas)}
    first_with: dict[str, BuildResult] = {}  # each cell's first row in the table
    for (sha, cell), result in results.items():
        if cell in cells and (cell not in first_with or position[sha] < position[first_with[cell].sha]):
            first_with[cell] = result
    earlier = baselines(store, source, list(first_with.values()), base)
    if base is not None:  # every row against the same base
        return Report(rows=_against_base(commits, results, cells, earlier), cells=cells)
    return Report(rows=regress.table(commits, results, cells, earlier), cells=cells)


def _against_base(commits, results, cells, earlier) -> list[regress.Row]:
    rows = []
    for sha, subject in commits:
        row = regress.Row(sha=sha, subject=subject, verdicts={})
        for cell in cells:
            if (current := results.get((sha, cell))) is not None:
                row.verdicts[cell] = regress.compare(current, earlier.get((cell, current.definition)))
        rows.append(row)
    return rows


def exit_code(results: list[BuildResult], found: list[regress.Verdict], fail_on_warnings: bool = False) -> int:
    """1 for a regression; else 2 for an infrastructure or matrix error; else 0."""
    if any(v.is_regression(fail_on_warnings) for v in found):
        return 1
    if {r.status for r in results} & {INFRA, MATRIX_ERROR}:
        return 2
    return 0


def status_code(results: list[BuildResult]) -> int:
    """For views of stored results: 1 when a cell failed, else 2 for infra or matrix errors, else 0."""
    statuses = {r.status for r in results}
    if FAIL in statuses:
        return 1
    return 2 if statuses & {INFRA, MATRIX_ERROR} else 0


def work_lock(work_root: Path) -> Lock:
    """One run at a time per work root: build directories there are shared between runs."""
    return Lock(Path(work_root) / "lock", wait=True)
