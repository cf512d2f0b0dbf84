"""Versioned toolchains (gcc-12, clang-14) on the host, where tuxmake would use whatever is installed.

tuxmake's null runtime runs `riscv64-linux-gnu-gcc` and `clang` whatever version the cell asks for
(and only warns in build.log). So a cell asking for gcc-12 is built with gcc-12 itself: a directory of
links, put first on PATH, names the versioned programs by the plain names the kernel's Makefile calls.
Where the versioned compiler is not installed, the cell is not built at all: the machine lacks it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tuxmake.arch import Architecture

from .models import toolchain_family, toolchain_version

# What the kernel runs with LLVM=1 (and as host tools); clang itself is required, the rest are linked
# where a versioned one is installed.
LLVM_PROGRAMS = ("clang", "clang++", "ld.lld", "llvm-ar", "llvm-nm", "llvm-objcopy", "llvm-objdump", "llvm-readelf", "llvm-strip")


class NotInstalled(Exception):
    """The versioned compiler a cell asks for is not on this machine."""


def programs(arch: str, toolchain: str) -> dict[str, str]:
    """plain name → versioned program for a versioned toolchain (empty for `gcc`, `clang`, ...). The
    first entry is the compiler itself."""
    version = toolchain_version(toolchain)
    if version is None:
        return {}
    if toolchain_family(toolchain) == "gcc":
        cross = Architecture(arch).makevars.get("CROSS_COMPILE", "")
        return {f"{cross}gcc": f"{cross}gcc-{version}"}
    return {name: f"{name}-{version}" for name in LLVM_PROGRAMS}


def link_directory(arch: str, toolchain: str, root: Path, path: str | None = None) -> Path | None:
    """A directory (under `root`) of links from plain names to the versioned programs, to put first on
    PATH; None for an unversioned toolchain. NotInstalled when the versioned compiler is missing."""
    wanted = programs(arch, toolchain)
    if not wanted:
        return None
    compiler, versioned = next(iter(wanted.items()))
    if shutil.which(versioned, path=path) is None:
        raise NotInstalled(
            f"{versioned} is not installed, so {toolchain} cannot be built on the host (tuxmake would use "
            f"whatever {compiler} is there); install it or use a container runtime"
        )
    directory = Path(root) / "toolchains" / f"{arch}-{toolchain}"
    directory.mkdir(parents=True, exist_ok=True)
    for plain, name in wanted.items():
        found = shutil.which(name, path=path)
        link = directory / plain
        if found is None:
            continue
        if link.is_symlink() and os.readlink(link) == found:
            continue
        temporary = directory / f".{plain}.tmp"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(found)
        os.replace(temporary, link)  # atomic: another worker may be reading this directory
    return directory
