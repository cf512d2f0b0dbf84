"""The work root: where worktrees, build directories, mirrors and ccache live, reused across runs.

The machine running `orchestrate` has one, and so has every Dask worker (its own, on its own disk).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import WorkRootError


def default_work_root() -> Path:
    """Where worktrees, build directories and ccache live: reused across runs and results dirs."""
    env = os.environ.get("ORCHESTRATOR_WORK")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "orchestrator"


def prepare_work_root(path: Path | None = None) -> Path:
    """The work root, absolute (make runs in the source tree, not here) and made if missing."""
    root = Path(path or default_work_root()).absolute()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WorkRootError("is a file, not a directory", path=root) from None
    except NotADirectoryError:
        raise WorkRootError("cannot be made: a part of its path is a file", path=root) from None
    except OSError as error:
        raise WorkRootError(f"cannot be made ({error.strerror})", path=root) from None
    if not os.access(root, os.W_OK):
        raise WorkRootError("is not writable", path=root)
    return root
