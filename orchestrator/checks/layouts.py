"""Struct and union layouts of installed uapi headers for one ABI, as the compiler laid them out.

One translation unit includes every header in scope. It is compiled freestanding (no libc) with -g and
`-fno-eliminate-unused-debug-types`, and linked into a shared object, so that its DWARF has no
relocations left: pyelftools cannot apply RISC-V ones. A header that does not compile for the ABI (it
conflicts with one included before it, or needs what this ARCH does not install) is dropped with the
compiler's first error as the reason, and the rest compiled again.

The records are in `records`, the reading of DWARF in `dwarf`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .dwarf import PROBE_PREFIX, PROBED_TYPES, read_dwarf
from .records import Layouts

MAX_ROUNDS = 40  # compile attempts per ABI; each drops at least one header
INCLUDE_LINE = re.compile(r"(?:In file included|\s+) from ([^:\s]+):(\d+)[:,]")
ERROR_LINE = re.compile(r"^([^:\s]+):(\d+):(?:\d+:)? (?:fatal )?error: (.*)$")


@dataclass(frozen=True)
class Abi:
    name: str
    karch: str  # the kernel ARCH whose headers_install it reads
    cc: tuple[str, ...]  # the compiler and its ABI flags
    package: str  # the Debian package(s) that provide the compiler


def abis() -> dict[str, Abi]:
    table = json.loads(resources.files(__package__).joinpath("abis.json").read_text())
    return {name: Abi(name, spec["karch"], tuple(spec["cc"]), spec["package"]) for name, spec in table["abis"].items()}


class CompilerMissing(Exception):
    """The ABI's compiler is not installed: the message says which and the package that has it."""


class CompileFailed(Exception):
    """The headers did not compile even after dropping those that failed (the message is the error)."""


# --- compiling ---------------------------------------------------------------------------------------


def compiler_version(abi: Abi) -> str:
    if shutil.which(abi.cc[0]) is None:
        raise CompilerMissing(f"{abi.cc[0]} not found on the host (install {abi.package})")
    done = subprocess.run([*abi.cc, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else abi.cc[0]


def layouts(abi: Abi, include: Path, headers: list[str], workdir: Path) -> Layouts:
    """Compile `headers` (relative to `include`) for `abi` and read every struct and union they define."""
    version = compiler_version(abi)
    workdir.mkdir(parents=True, exist_ok=True)
    shared_object, dropped = _compile(abi, include, headers, workdir)
    types, files = read_dwarf(shared_object, include)
    return Layouts(abi.name, version, types, files, dropped)


def _compile(abi: Abi, include: Path, headers: list[str], workdir: Path) -> tuple[Path, dict[str, str]]:
    builtin = subprocess.run([*abi.cc, "-print-file-name=include"], capture_output=True, text=True, check=False).stdout.strip()
    source, output = workdir / f"uapi-{abi.name}.c", workdir / f"uapi-{abi.name}.so"
    command = [*abi.cc, "-gdwarf-5", "-fno-eliminate-unused-debug-types", "-ffreestanding", "-nostdinc", "-isystem", builtin,
               "-I", str(include), "-nostdlib", "-shared", "-fPIC", "-w", "-o", output.name, source.name]  # fmt: skip
    kept, dropped = list(headers), dict[str, str]()
    for _ in range(MAX_ROUNDS):
        source.write_text(_unit(kept))
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=workdir)
        if done.returncode == 0:
            return output, dropped
        failing = _failing_lines(done.stderr, source.name)
        if not failing:
            raise CompileFailed(_first_error(done.stderr) or f"{abi.cc[0]} exited with {done.returncode}")
        for line, reason in failing.items():
            dropped[kept[line - 1]] = f"does not compile for {abi.name}: {reason}"
        kept = [h for number, h in enumerate(kept, 1) if number not in failing]
    raise CompileFailed(f"the headers still do not compile for {abi.name} after dropping {len(dropped)}")


def _unit(headers: list[str]) -> str:
    """Line N includes headers[N-1], so an error's include chain names the header that led to it."""
    includes = [f"#include <{h}>" for h in headers]
    probes = [f"struct {PROBE_PREFIX}{i} {{ char c; {t} x; }};" for i, t in enumerate(PROBED_TYPES)]
    return "\n".join(includes + probes) + "\n"


def _failing_lines(stderr: str, unit: str) -> dict[int, str]:
    """Line of the unit → the first error reached through it. gcc and clang both print the chain of
    includes down to an error's file when it changes; the outermost link is a line of the unit."""
    failing: dict[int, str] = {}
    current: int | None = None
    for text in stderr.splitlines():
        include = INCLUDE_LINE.match(text)
        if include:
            if include[1] == unit:
                current = int(include[2])
            continue
        error = ERROR_LINE.match(text)
        if error is None:
            if not text.startswith((" ", "In file included")) and ": note:" not in text:
                current = None if ": " in text and not text.startswith(unit) else current
            continue
        line = int(error[2]) if error[1] == unit else current
        if line is not None:
            failing.setdefault(line, error[3])
    return failing


def _first_error(stderr: str) -> str:
    return next((str(m[3]) for m in map(ERROR_LINE.match, stderr.splitlines()) if m), "")
