"""The uapi headers as userspace sees them: `make headers_install` per kernel ARCH, cached by content.

The cache key is the git tree of `include/uapi` and `arch/<ARCH>/include/uapi` and the install
script, so a commit that touches none of them reuses what an earlier commit installed, at no cost.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from ..inputs import UAPI_DIRECTORIES
from ..lock import Lock
from ..tree import git
from .cache import touch

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
CONDITIONAL = re.compile(r"^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)$")
FOR_LINUX = re.compile(r"^\s*(?:defined\s*\(?\s*__linux__\s*\)?|__linux__)\s*(?:/[/*].*)?$")  # `#if defined(__linux__)`, `#ifdef __linux__`
# Where the C library's headers are: the ABI's libc provides them (layouts.py compiles against it).
LIBC_DIRECTORIES = ("sys/", "netinet/", "arpa/", "bits/", "net/", "gnu/")
# Included by the headers that need them; included first, they conflict with each other.
NOT_ON_THEIR_OWN = ("asm-generic/",)
INPUTS = (*(d.rstrip("/") for d in UAPI_DIRECTORIES), "scripts/headers_install.sh", "scripts/unifdef.c")


def quiet(message: str) -> None:
    """Waiting for another pair's install or compile of the same thing is not news."""


class InstallFailed(Exception):
    """`make headers_install` failed on the commit's own headers: the message is make's first error."""


@dataclass(frozen=True)
class Installed:
    karch: str
    key: str  # of the inputs it was installed from
    include: Path  # <dir>/include: what `-I` names


def key(source: Path, karch: str) -> str:
    """What the installed headers of `karch` depend on, as git names it (a commit's tree objects)."""
    paths = [path.format(arch=karch) for path in INPUTS]
    objects = git(source, "rev-parse", *[f"HEAD:{path}" for path in paths], what="rev-parse").split()
    return hashlib.sha256(" ".join([karch, *objects]).encode()).hexdigest()[:16]


def install(source: Path, karch: str, cache: Path, jobs: int = 1) -> Installed:
    """The headers of `karch` at the commit checked out in `source`, installed once per key."""
    digest = key(source, karch)
    final = cache / f"{karch}-{digest}"
    touch(final)  # before it is read: an entry in use is never old enough to prune
    if (final / "include").is_dir():
        return Installed(karch, digest, final / "include")
    cache.mkdir(parents=True, exist_ok=True)
    with Lock(cache / f"{karch}-{digest}.lock", wait=True, say=quiet):  # a sibling pair installing them
        if not (final / "include").is_dir():  # another run installed it while this one waited
            with tempfile.TemporaryDirectory(dir=cache, prefix=f".{karch}-") as scratch:
                _make(source, karch, Path(scratch), jobs)
                os.replace(Path(scratch) / "usr", final)
    return Installed(karch, digest, final / "include")


def _make(source: Path, karch: str, scratch: Path, jobs: int) -> None:
    # O= keeps the checkout clean: builds of other cells read the same tree.
    command = ["make", "-s", f"-j{jobs}", f"ARCH={karch}", f"O={scratch / 'build'}", f"INSTALL_HDR_PATH={scratch / 'usr'}", "headers_install"]
    done = subprocess.run(command, cwd=source, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "error" in line.lower() or "***" in line]
        raise InstallFailed((errors or done.stderr.splitlines() or [f"make exited with {done.returncode}"])[0].strip())
    shutil.rmtree(scratch / "build", ignore_errors=True)


def scope(include: Path, wanted: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """The headers to compile (`wanted`, or every installed one) and those left out, with why: a header
    that includes what this ARCH does not install. What the C library has (<sys/socket.h>) is there."""
    installed = installed_headers(include)
    includes = included_by(include)
    reasons: dict[str, str] = {}

    def missing(header: str) -> str:
        if header not in reasons:
            reasons[header] = ""  # first, so that headers including each other end the walk
            for name in includes.get(header, []):
                found = missing(name) if name in installed else _why_missing(name)
                if found:
                    reasons[header] = found
                    break
        return reasons[header]

    kept, left_out = [], {}
    for header in chosen(installed, wanted):
        if header not in installed:
            left_out[header] = "not installed for this ARCH"
        elif reason := missing(header):
            left_out[header] = reason
        else:
            kept.append(header)
    return kept, left_out


def chosen(installed: AbstractSet[str], wanted: tuple[str, ...] = ()) -> list[str]:
    """The headers a check compares: `wanted`, or every installed one that can be included on its own."""
    return list(wanted) if wanted else sorted(h for h in installed if not h.startswith(NOT_ON_THEIR_OWN))


@functools.lru_cache(maxsize=16)  # asked by scope, closures and the log: a cache entry never changes once made
def installed_headers(include: Path) -> frozenset[str]:
    prefix = len(str(include).rstrip("/")) + 1
    return frozenset(str(path)[prefix:] for path in include.rglob("*.h"))


@functools.lru_cache(maxsize=16)  # read once for scope and for closures, as installed_headers
def included_by(include: Path) -> dict[str, tuple[str, ...]]:
    """What each installed header includes (includes_of), installed or not."""
    installed = installed_headers(include)
    return {h: tuple(includes_of(h, (include / h).read_text(errors="replace"), installed)) for h in installed}


def closures(include: Path, roots: list[str]) -> dict[str, frozenset[str]]:
    """Every installed header each of `roots` reaches, directly or through others."""
    names, includes = installed_headers(include), included_by(include)
    found: dict[str, frozenset[str]] = {}
    for header in roots:
        seen: set[str] = set()
        todo = list(includes.get(header, ()))
        while todo:
            if (name := todo.pop()) not in seen and name in names:
                seen.add(name)
                todo.extend(includes[name])
        found[header] = frozenset(seen)
    return found


def kernel_test_skips(source: Path) -> frozenset[str]:
    """The headers the kernel's own header test (usr/include/Makefile) leaves out: `no-header-test += x.h`."""
    try:
        text = (source / "usr" / "include" / "Makefile").read_text(errors="replace")
    except OSError:
        return frozenset()
    return frozenset(m[1] for m in re.finditer(r"^no-header-test\s*\+=\s*(\S+)\s*$", text, re.MULTILINE))


def includes_of(header: str, text: str, installed: AbstractSet[str]) -> list[str]:
    """What a header includes, as installed names: `#include "drm.h"` in drm/drm_mode.h is drm/drm.h
    (beside it first, as the compiler looks). Not what it includes in a branch a compiler for Linux
    never takes: drm.h's `#else /* One of the BSDs */ #include <sys/ioccom.h>`."""
    found = []
    branches: list[list[bool]] = []  # per open #if: [a branch for Linux was seen, this branch is never taken]
    for line in text.splitlines():
        if "#" not in line:
            continue
        if (conditional := CONDITIONAL.match(line)) is not None:
            _branch(branches, conditional[1], conditional[2])
        elif (included := INCLUDE.match(line)) is not None and not any(never for _, never in branches):
            name = included[2]
            beside = posixpath.normpath(posixpath.join(posixpath.dirname(header), name))
            found.append(beside if included[1] == '"' and beside in installed else name)
    return found


def _branch(branches: list[list[bool]], word: str, condition: str) -> None:
    """Follow one #if/#elif/#else/#endif: which branches after one for Linux are never taken."""
    if word in ("if", "ifdef", "ifndef"):
        linux = word != "ifndef" and FOR_LINUX.match(condition) is not None
        branches.append([linux, False])
    elif branches and word in ("elif", "else"):
        seen = branches[-1][0]
        branches[-1][1] = seen  # after the branch for Linux, every other one is for another system
        branches[-1][0] = seen or (word == "elif" and FOR_LINUX.match(condition) is not None)
    elif branches and word == "endif":
        branches.pop()


def _why_missing(name: str) -> str:
    """Why a header that includes `name`, not installed, cannot be compiled ("": the C library has it)."""
    if "/" not in name or name.startswith(LIBC_DIRECTORIES):
        return ""
    return f"needs <{name}>, which this ARCH does not install"


def source_path(source: Path, karch: str, installed: str) -> str:
    """The tree file an installed header comes from: include/uapi/linux/kvm.h for linux/kvm.h,
    arch/x86/include/uapi/asm/kvm.h for asm/kvm.h; generated ones keep their installed name."""
    for candidate in (f"include/uapi/{installed}", f"arch/{karch}/include/uapi/{installed}"):
        if (source / candidate).is_file():
            return candidate
    return f"usr/include/{installed}"
