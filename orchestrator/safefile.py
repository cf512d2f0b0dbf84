"""Files written where someone else may have put something first: never through a symbolic link.

A results directory can be shared, copied from another machine or unpacked from an archive, and a work
root lives in a cache anyone with the user's rights can write to. A symlink planted at the name of a
lock, a report or a temporary file would make a plain open() write (or truncate, or chmod) whatever it
points at. Every such file is opened with O_NOFOLLOW, and new ones are created fresh (O_EXCL) and moved
into place with rename(), which replaces a link instead of following it.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from .errors import InfraError

NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class LinkedFileError(InfraError):
    """A file orchestrate writes is a symbolic link, a directory or a device: something else put it there."""

    template = "{path} is {what}, not a file orchestrate made; remove it and run again"


def open_regular(path: Path, flags: int = os.O_RDWR | os.O_CREAT, mode: int = 0o644) -> int:
    """A descriptor of `path`, made if missing (with O_CREAT), never through a symlink and never a
    device or FIFO (O_NONBLOCK: opening a FIFO does not wait); LinkedFileError otherwise."""
    try:
        descriptor = os.open(path, flags | NO_FOLLOW | os.O_NONBLOCK, mode)
    except OSError:
        if Path(path).is_symlink():  # ELOOP, or EEXIST with O_EXCL: the name is a link
            raise LinkedFileError(path=path, what="a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise LinkedFileError(path=path, what="not a regular file")
    os.set_blocking(descriptor, True)
    return descriptor


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """`path` holds `data`, or what it held before: written to a fresh file beside it, then renamed over
    it (a symlink at `path` is replaced, never followed)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    descriptor = open_regular(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode, follow_symlinks=False)  # the mode asked for, whatever the umask
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(path, text.encode("utf-8", "surrogateescape"), mode)


def open_text(descriptor: int) -> IO[str]:
    """A text file object over a descriptor from open_regular, read and written from its start."""
    return os.fdopen(descriptor, "r+", encoding="utf-8", errors="replace")


def is_inside(root: Path, path: Path) -> bool:
    """Whether `path`, its links resolved, lies under `root` (also resolved)."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def open_binary(path: Path) -> BinaryIO:
    """A regular file, to read (a link is not followed: LinkedFileError)."""
    return os.fdopen(open_regular(path, os.O_RDONLY), "rb")


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a file (a link is not followed), decoded leniently, one at a time."""
    with open_binary(path) as handle:
        for raw in handle:
            yield raw.decode("utf-8", "replace").rstrip("\r\n")


def read_bytes(path: Path, limit: int) -> bytes:
    """A file's first `limit` bytes (a link is not followed)."""
    with open_binary(path) as handle:
        return handle.read(limit)
