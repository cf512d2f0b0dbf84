"""The uapi-abi cache under the work root: installed headers, layouts and findings, pruned by last use.

Each entry is stamped (its mtime) whenever a run uses it; once a day a run removes the entries no run
has used for KEEP_DAYS. A nightly that follows a busy tree makes a new set (~60 MB for four ARCHes) for
each commit that changes a uapi header; without this the work root would only grow. An entry is stamped
before it is read, so one in use is never old enough to go; one removed is only made again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

KEEP_DAYS = 14
PARTS = ("headers", "layouts", "findings")
DAY = 86_400


def touch(path: Path) -> None:
    """Stamp an entry as used now (a read-only work root keeps its old stamp)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def prune(cache: Path, keep_days: int = KEEP_DAYS, now: float | None = None) -> list[Path]:
    """Remove the entries unused for `keep_days`, at most once a day; the paths removed."""
    now = time.time() if now is None else now
    marker = cache / "pruned"
    try:
        if now - marker.stat().st_mtime < DAY:
            return []
    except FileNotFoundError:
        pass
    removed = []
    for part in PARTS:
        directory = cache / part
        for entry in sorted(directory.iterdir()) if directory.is_dir() else []:
            if entry.name.startswith(".") or entry.suffix == ".lock":
                continue  # scratch of a run in progress; locks go with their entry
            try:
                if now - entry.stat().st_mtime < keep_days * DAY:
                    continue
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            except OSError:
                continue  # gone already, or not ours to remove
            entry.with_name(entry.stem + ".lock" if entry.suffix == ".json" else entry.name + ".lock").unlink(missing_ok=True)
            removed.append(entry)
    with contextlib.suppress(OSError):  # a read-only work root: try again next time
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.utime(marker, (now, now))
    return removed
