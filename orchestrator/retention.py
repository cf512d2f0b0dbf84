"""Pruning old build artifacts (logs, configs, images) by age and a disk budget.

Only directories on disk go; every database row stays, so verdicts, diagnostics and baselines of
pruned builds still work. `show` says where a log was, not that the build never happened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .models import Pruned
from .store import Store


@dataclass
class Artifacts:
    path: Path
    finished: datetime
    size: int  # bytes


def choose(artifacts: list[Artifacts], keep_days: int, budget: int | None, now: datetime) -> list[Artifacts]:
    """What to remove (pure): everything older than `keep_days`, then the oldest of the rest until
    what is left fits in `budget` bytes. `artifacts` is oldest first."""
    cutoff = now - timedelta(days=keep_days)
    doomed = [a for a in artifacts if a.finished < cutoff]
    left = [a for a in artifacts if a.finished >= cutoff]
    total = sum(a.size for a in left)
    while budget is not None and left and total > budget:
        oldest = left.pop(0)
        doomed.append(oldest)
        total -= oldest.size
    return doomed


def prune(store: Store, keep_days: int, budget: int | None, now: datetime | None = None) -> Pruned:
    """Remove the artifact directories `choose` picks, under the store's root only."""
    now = now or datetime.now(UTC)
    artifacts = []
    for path, finished in store.artifact_dirs():
        if path.is_dir() and store.root in path.parents:
            artifacts.append(Artifacts(path, datetime.fromisoformat(finished), disk_usage(path)))
    pruned = Pruned()
    for doomed in choose(artifacts, keep_days, budget, now):
        shutil.rmtree(doomed.path, ignore_errors=True)
        doomed.path.with_name(doomed.path.name + ".lock").unlink(missing_ok=True)  # the cell's lock, idle
        pruned.paths.append(doomed.path)
        pruned.freed += doomed.size
        with contextlib.suppress(OSError):  # not empty yet: other cells of the commit are kept
            doomed.path.parent.rmdir()  # the commit's directory, once its last cell is gone
    pruned.kept = sum(a.size for a in artifacts) - pruned.freed
    return pruned


def disk_usage(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
