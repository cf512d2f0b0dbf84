"""Exclusive locks between runs: an flock on a file that also says who holds it.

The kernel drops an flock when its holder dies, however it dies (SIGKILL too), so a lock left by a
process that is gone is free by construction; the pid written inside only serves the messages:
who is being waited for, and whose stale lock file is being taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .errors import InfraError
from .inert import inert
from .safefile import open_regular, open_text


class Busy(Exception):
    """The lock is held by a live process and the caller chose not to wait."""

    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is held by {holder}")
        self.path = path
        self.holder = holder


def _say(message: str) -> None:
    print(inert(f"orchestrate: {message}"), file=sys.stderr)  # it may quote another process's command line


class Lock:
    def __init__(self, path: Path | str, wait: bool = True, say: Callable[[str], None] = _say):
        self.path = Path(path)
        self.wait = wait
        self.say = say
        self.handle: IO[str] | None = None  # open while held

    def __enter__(self) -> Lock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open_text(open_regular(self.path))  # never through a symlink planted at its name
        except OSError as error:
            raise InfraError(f"cannot make the lock file {self.path} ({error.strerror})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            left = holder_of(handle)
            if left and not _alive(left[0]):
                self.say(f"taking over {self.path}: its holder (pid {left[0]}) is no longer running")
        except BlockingIOError:
            holder = describe(holder_of(handle))
            if not self.wait:
                handle.close()
                raise Busy(self.path, holder) from None
            self.say(f"{self.path} is held by {holder}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        with contextlib.suppress(OSError):  # who holds it only serves messages: a full disk must not stop the run
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {started} {' '.join(sys.argv)}\n")
            handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        handle, self.handle = self.handle, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()  # an empty file: nobody holds it, nothing stale to report
        fcntl.flock(handle, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            handle.close()


def holder_of(handle: IO[str]) -> tuple[int, str] | None:
    """(pid, the rest of the line: start time and command) from an open lock file, if it names one."""
    try:
        handle.seek(0)
        pid, _, rest = handle.read(4096).strip().partition(" ")
        return int(pid), rest
    except (OSError, ValueError):
        return None


def describe(holder: tuple[int, str] | None) -> str:
    if holder is None:
        return "another process"
    pid, rest = holder
    started, _, command = rest.partition(" ")
    return f"pid {pid} (started {started}: {command})" if command else f"pid {pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
