"""What a build read, from Kbuild's own records in its build directory: the cell's input set.

Kbuild writes, for every object, a `.<object>.cmd` file naming its source (`source_<obj> := <path>`) and
every header it included (`deps_<obj> := <path> \\ ...`, fixdep's output, with `$(wildcard
include/config/X)` entries for the options it tested), and `include/config/auto.conf.cmd` names every
Kconfig file read (`deps_config := ...`, relative to the source tree). A command Kbuild runs without
fixdep leaves its compiler's dependency file instead (`.missing-syscalls.d`: the headers the syscall
check preprocessed), so `.*.d` files are read too. The input set is those paths that lie in the source
tree, as tree-relative paths; files of the build directory are the build's outputs (a relative path in
a record is one of them), and the compiler's own headers are not the tree's.

Some targets read whole directories no record names (headers_install copies every uapi header): their
input set holds the directory itself, with a trailing slash. A target whose reads are not known from
its records has no input set at all, and a cell without one is always built.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ASSIGNMENT = re.compile(r"^(?:source_|deps_)\S*\s*:=\s*(?P<rest>.*)$")
WILDCARD = re.compile(r"\$\(wildcard [^)]*\)")
UAPI_DIRECTORIES = ("include/uapi/", "arch/{arch}/include/uapi/")  # what headers_install installs from, whole
# tuxmake targets whose every read of the tree is in the records (plus the directories named here,
# read whole); any other target (kselftest, perf, packages, ...) leaves the cell without an input set.
RECORDED_TARGETS = {
    "config": (),
    "default": (),
    "kernel": (),
    "debugkernel": (),
    "modules": (),
    "dtbs": (),
    "headers": UAPI_DIRECTORIES,
}


def of_build(build_dir: Path, source: Path, targets: Iterable[str], srcarch: str) -> frozenset[str] | None:
    """The input set of a finished build of `targets` (tuxmake's; plain Kbuild directory targets are
    always recorded), or None when a target reads what no record names."""
    extra: set[str] = set()
    for target in targets:
        if target not in RECORDED_TARGETS:
            return None
        extra.update(directory.format(arch=srcarch) for directory in RECORDED_TARGETS[target])
    return read_inputs(build_dir, source) | extra


def read_inputs(build_dir: Path, source: Path) -> frozenset[str]:
    """Tree-relative paths of every source, header and Kconfig file the build in `build_dir` read."""
    build, tree = os.path.abspath(build_dir), os.path.abspath(source)
    kconfig = Path(build, "include", "config", "auto.conf.cmd")
    found: set[str] = set()
    for record in [*_cmd_files(Path(build)), kconfig]:
        try:
            text = record.read_text(errors="replace")
        except OSError:
            continue  # a .cmd file that vanished or cannot be read: the build's, not the tree's
        base = tree if record == kconfig else build  # Kconfig names its files from the tree's top
        for path in dependency_paths(text) if record.name.endswith(".d") else named_paths(text):
            relative = _in_tree(path, base, build, tree)
            if relative:
                found.add(relative)
    return frozenset(found)


def named_paths(text: str) -> Iterator[str]:
    """The paths a `.cmd` (or auto.conf.cmd) file assigns to source_*, deps_* and deps_config."""
    collecting = False
    for line in text.splitlines():
        if not collecting:
            match = ASSIGNMENT.match(line)
            if match is None:
                continue
            line = match["rest"]
        collecting = line.rstrip().endswith("\\")
        for word in WILDCARD.sub(" ", line).split():
            if word != "\\":
                yield word


def dependency_paths(text: str) -> Iterator[str]:
    """The prerequisites a compiler's dependency file (`-MD`: `target: dep dep \\`) names."""
    for rule in text.replace("\\\n", " ").splitlines():
        _, colon, prerequisites = rule.partition(": ")
        if colon:
            yield from prerequisites.split()


def _cmd_files(build_dir: Path) -> Iterable[Path]:
    for directory, _, files in os.walk(build_dir):
        for name in files:
            if name.startswith(".") and name.endswith((".cmd", ".d")):
                yield Path(directory, name)


def _in_tree(path: str, base: str, build: str, tree: str) -> str:
    """`path` (relative to `base`) relative to the tree, or "" when it is not a file of the tree (an
    output in the build directory, a system file)."""
    absolute = posixpath.normpath(path if path.startswith("/") else posixpath.join(base, path))
    if absolute.startswith(build + "/"):
        return ""
    if absolute.startswith(tree + "/"):
        return absolute[len(tree) + 1 :]
    return ""


def pack(inputs: frozenset[str]) -> bytes:
    """The input set as stored: sorted, one path a line, gzip-compressed (a few thousand paths of a
    KVM-only cell take a few tens of KiB)."""
    return gzip.compress("\n".join(sorted(inputs)).encode(), mtime=0)


def unpack(blob: bytes) -> frozenset[str]:
    return frozenset(gzip.decompress(blob).decode().splitlines()) if blob else frozenset()
