"""The path from a matrix and a revision to stored results: the library API under the CLI and nightly."""

from __future__ import annotations

import fcntl
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import runner, tree
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
) -> CommitRun:
    """Build every cell that has no result for `rev` yet (all of them with `rebuild`), storing each at once."""
    sha = tree.resolve(source, rev)
    commit = tree.commit_info(source, sha)
    store.add_commit(commit)
    todo = list(cells) if rebuild else store.missing(sha, cells)
    work_root = Path(work_root or default_work_root())
    built = []
    if todo:
        with work_lock(work_root):
            checkout = tree.checkout(source, sha, work_root)
            plan = runner.schedule(len(todo), runner.cores(), jobs or matrix.jobs, workers)
            ccache = os.environ.get("CCACHE_DIR") or str(work_root / "ccache")
            requests = [
                runner.BuildRequest(
                    cell=cell,
                    sha=sha,
                    source=str(checkout),
                    output_dir=str(store.artifacts_dir(sha, cell.id)),
                    build_dir=str(work_root / "builds" / cell.id),
                    jobs=plan.jobs,
                    runtime=runtime or cell.runtime,
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


def exit_code(results: list[BuildResult]) -> int:
    """1 when a cell failed (the commit's fault), else 2 for infra or matrix errors, else 0."""
    statuses = {r.status for r in results}
    if FAIL in statuses:
        return 1
    if statuses & {INFRA, MATRIX_ERROR}:
        return 2
    return 0


class work_lock:
    """One run at a time per work root: build directories there are shared between runs."""

    def __init__(self, work_root: Path):
        self.path = Path(work_root) / "lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"orchestrate: another run holds {self.path}; waiting for it", file=sys.stderr)
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        return False
