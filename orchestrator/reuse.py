"""Whether a commit provably cannot change a cell's result: the rule that lets a result be reused. Pure.

A cell's build reads a known set of files (its input set: every source and header Kbuild's `.*.cmd`
files name, and the Kconfig files of `include/config/auto.conf.cmd`; an entry ending in `/` is a
directory read whole, as headers_install reads include/uapi/). A commit C cannot change the
result R had, for that cell, when every path changed between R and C is

  (a) not in R's input set,
  (b) a plain source or document (C, assembly, header, text): a file no build step generates from, and
  (c) not a build-system or generator file: `Makefile*`, `Kbuild*`, `Kconfig*`, `*.mk`, `*.tbl`,
      `*.lds*`, `*.sh`, `*.pl`, `*.py`, `*.awk`, anything under `scripts/` or `tools/`, anything at the
      top level of the tree.

(b) and (c) cover what the input set cannot: a new file is in no input set, yet a Makefile line or a
wildcard could pull it in. Anything else is doubt, and doubt builds.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

PLAIN_SOURCES = (".c", ".h", ".S", ".s", ".rst", ".txt")
BUILD_NAMES = ("Makefile", "Kbuild", "Kconfig")  # and what starts so: Makefile.build, Kconfig.debug
BUILD_SUFFIXES = (".mk", ".tbl", ".sh", ".pl", ".py", ".awk")
BUILD_DIRS = ("scripts/", "tools/")


@dataclass(frozen=True)
class Change:
    """One line of `git diff --name-status -M R C`: its status letter and its paths (a rename's both)."""

    status: str  # A, D, M, T, or R/C with a score (R100)
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Proof:
    """The rule's answer: reusable, or why not (the first path that forbids it)."""

    reusable: bool
    reason: str


def proof(changes: Iterable[Change], inputs: frozenset[str]) -> Proof:
    """Whether a result whose build read `inputs` holds for a commit that made `changes` since."""
    changed = 0
    directories = tuple(entry for entry in inputs if entry.endswith("/"))
    for change in changes:
        for path in change.paths:
            changed += 1
            why = _forbids(path, inputs, directories)
            if why:
                return Proof(False, f"{path}: {why}")
    if not changed:
        return Proof(True, "no file changed")
    return Proof(True, f"no input changed ({changed} file{'s' if changed != 1 else ''} changed, none read by this cell)")


def _forbids(path: str, inputs: frozenset[str], directories: tuple[str, ...]) -> str:
    """Why a changed path forbids reuse ("" when it does not)."""
    name = posixpath.basename(path)
    if "/" not in path:
        return "a file at the top of the tree"
    if path.startswith(BUILD_DIRS):
        return "under scripts/ or tools/, where the build's own programs live"
    if name.startswith(BUILD_NAMES) or name.endswith(BUILD_SUFFIXES) or ".lds" in name:
        return "a build-system or generator file"
    if not name.endswith(PLAIN_SOURCES):
        return "not a plain source or document"
    if path in inputs or path.startswith(directories):
        return "read by this cell's build"
    return ""


def parse_name_status(text: str) -> list[Change]:
    """`git diff --name-status -M -z`'s output (NUL-separated: status, then one path or, for renames
    and copies, two)."""
    fields = text.split("\0")
    changes, index = [], 0
    while index < len(fields) and fields[index]:
        status = fields[index]
        count = 2 if status[:1] in ("R", "C") else 1
        changes.append(Change(status, tuple(fields[index + 1 : index + 1 + count])))
        index += 1 + count
    return changes
