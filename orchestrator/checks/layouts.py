"""Struct and union layouts of installed uapi headers for one ABI, as the compiler laid them out.

One translation unit includes every header in scope, against the ABI's own C library headers (uapi
headers include <sys/socket.h>, <sys/time.h>...; DRM's include <drm.h>, beside them). It is compiled with
-g and `-fno-eliminate-unused-debug-types`, and linked into a shared object, so that its DWARF has no
relocations left: pyelftools cannot apply RISC-V ones. A header that does not compile in it is dropped,
and the rest compiled again. Most of those conflict only with one included before them (a libc header
and its uapi twin both define struct timeval), so the dropped ones get a unit of their own, and so on;
once a unit gains nothing, each header left is compiled alone, as the kernel's own header test does, and
one that fails even then is left out with the compiler's first error as the reason.

The records are in `records`, the reading of DWARF in `dwarf`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .dwarf import PROBE_PREFIX, PROBED_TYPES, read_dwarf
from .headers import closures
from .records import Aggregate, Layouts

MAX_ROUNDS = 40  # compile attempts per unit; each drops at least one header
MAX_UNITS = 8  # units of headers dropped from the one before; then each header left on its own
STANDINS = "libc-standins"  # beside this file: what a libc package lacks for an ABI (abis.json says)
# glibc's headers are shared by the ABIs of an arch; gnu/stubs.h includes the one file of each ABI
# (stubs-32.h, stubs-x32.h, stubs-hard.h...), which only that ABI's libc package installs.
LIBC_PROBE = "#include <features.h>\n#include <gnu/stubs.h>\n"
GLIBC_VERSION = re.compile(r"^#define __GLIBC(?P<part>_MINOR)?__ (?P<number>\d+)$", re.MULTILINE)
INCLUDE_LINE = re.compile(r"(?:In file included|\s+) from ([^:\s]+):(\d+)[:,]")
ERROR_LINE = re.compile(r"^([^:\s]+):(\d+):(?:\d+:)? (?:fatal )?error: (.*)$")


@dataclass(frozen=True)
class Abi:
    name: str
    karch: str  # the kernel ARCH whose headers_install it reads
    cc: tuple[str, ...]  # the compiler and its ABI flags
    package: str  # the Debian package(s) that provide the compiler
    libc: str = ""  # the Debian package of its C library's headers
    libc_flags: tuple[str, ...] = ()  # where they are, when the compiler does not look there itself

    @property
    def flags(self) -> tuple[str, ...]:
        """The compiler, its ABI flags and where its C library's headers are."""
        return (*self.cc, *self.libc_flags)


def abis() -> dict[str, Abi]:
    data = resources.files(__package__)
    table = json.loads(data.joinpath("abis.json").read_text())
    standins = str(data.joinpath(STANDINS))
    return {
        name: Abi(name, spec["karch"], tuple(spec["cc"]), spec["package"], spec.get("libc", ""),
                  tuple(flag.replace("{standins}", standins) for flag in spec.get("libc_flags", ())))
        for name, spec in table["abis"].items()
    }  # fmt: skip


class CompilerMissing(Exception):
    """The ABI's compiler or its C library's headers are not installed: the message says which and the
    package that has it."""


class CompileFailed(Exception):
    """The headers did not compile even after dropping those that failed (the message is the error)."""


# --- compiling ---------------------------------------------------------------------------------------


def compiler_version(abi: Abi) -> str:
    """The compiler's first `--version` line and its C library's version: what the layouts depend on."""
    if shutil.which(abi.cc[0]) is None:
        raise CompilerMissing(f"{abi.cc[0]} not found on the host (install {abi.package})")
    done = subprocess.run([*abi.cc, "--version"], capture_output=True, text=True, check=False)
    version = done.stdout.splitlines()[0] if done.stdout else abi.cc[0]
    return f"{version}, {_libc_version(abi)}"


def _libc_version(abi: Abi) -> str:
    probe = subprocess.run([*abi.flags, "-E", "-dM", "-x", "c", "-"], input=LIBC_PROBE, capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise CompilerMissing(f"the C library headers for {abi.name} are not on the host (install {abi.libc})")
    parts = {match["part"] or "": match["number"] for match in GLIBC_VERSION.finditer(probe.stdout)}
    return f"glibc {parts.get('', '?')}.{parts.get('_MINOR', '?')}"


def layouts(abi: Abi, include: Path, headers: list[str], workdir: Path, version: str = "") -> Layouts:
    """Compile `headers` (relative to `include`) for `abi` and read every struct and union they define
    (`version`: the compiler_version() the caller asked already)."""
    version = version or compiler_version(abi)
    workdir.mkdir(parents=True, exist_ok=True)
    shared_objects, dropped = _compile(abi, include, headers, workdir)
    types: dict[str, Aggregate] = {}
    files: set[str] = set()
    for shared_object in shared_objects:
        unit_types, unit_files = read_dwarf(shared_object, include, frozenset(types))  # the first unit's, if both have it
        types.update(unit_types)
        files.update(unit_files)
    return Layouts(abi.name, version, types, frozenset(files), dropped)


def _compile(abi: Abi, include: Path, headers: list[str], workdir: Path) -> tuple[list[Path], dict[str, str]]:
    """The shared objects of the units that compiled, and the headers that did not compile, with why."""
    compiled: list[Path] = []
    pending, dropped = list(headers), dict[str, str]()
    reaches = closures(include, headers)
    while pending and len(compiled) < MAX_UNITS:
        # Only the first unit is large enough for a round to cost much; later ones drop just the failing.
        output, dropped = _compile_unit(abi, include, pending, workdir / f"uapi-{abi.name}-{len(compiled)}", reaches if not compiled else {})
        if len(dropped) == len(pending):  # nothing compiled together: each one alone, below
            break
        compiled.append(output)
        pending = list(dropped)
    alone = dict[str, str]()
    for number, header in enumerate(pending if dropped else []):
        output, failed = _compile_unit(abi, include, [header], workdir / f"uapi-{abi.name}-alone-{number}", {})
        if failed:
            alone.update(failed)
        else:
            compiled.append(output)
    return compiled, alone


def _compile_unit(abi: Abi, include: Path, headers: list[str], stem: Path, reaches: dict[str, frozenset[str]]) -> tuple[Path, dict[str, str]]:
    """One unit of `headers`, dropping those that fail until the rest compile: its shared object and
    the headers dropped, with the compiler's first error for each. The first try compiles it with debug
    info and links it (most units compile); after a failure the rounds check syntax only, several times
    faster, and the unit that passes is then compiled and linked.
    An error inside a header another one includes (asm/signal.h's sigset_t, after libc's <signal.h>)
    would fail the next header including it in the next round, and so on: every header that reaches
    it is dropped at once (it gets its own reason in a later unit, or compiles there)."""
    source, output = stem.with_suffix(".c"), stem.with_suffix(".so")
    check = [*abi.flags, "-fsyntax-only", "-I", str(include), "-w", source.name]
    build = [*abi.flags, "-gdwarf-5", "-fno-eliminate-unused-debug-types", "-I", str(include), "-nostdlib", "-shared", "-fPIC", "-w",
             "-o", output.name, source.name]  # fmt: skip
    kept, dropped = list(headers), dict[str, str]()
    for attempt in range(MAX_ROUNDS):
        if not kept:
            return output, dropped
        source.write_text(_unit(kept))
        done = _run(check if attempt else build, stem.parent)
        if done.returncode == 0:
            if attempt:  # its syntax passed: now the shared object
                done = _run(build, stem.parent)
            if done.returncode != 0:
                raise CompileFailed(_first_error(done.stderr) or f"{abi.cc[0]} exited with {done.returncode}")
            return output, dropped
        failing = _failing_lines(done.stderr, source.name)
        if not failing:
            raise CompileFailed(_first_error(done.stderr) or f"{abi.cc[0]} exited with {done.returncode}")
        inside = {_installed_name(file, include) for _, file in failing.values()} - {""}
        for line, (reason, _) in failing.items():
            dropped[kept[line - 1]] = f"does not compile for {abi.name}: {reason}"
        for header in kept:
            if header not in dropped and not inside.isdisjoint(reaches.get(header, ())):
                dropped[header] = f"does not compile for {abi.name} after another header: it includes what that one failed in"
        kept = [h for h in kept if h not in dropped]
    raise CompileFailed(f"the headers still do not compile for {abi.name} after dropping {len(dropped)}")


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The compiler in the C locale, so that its reasons quote with ' whatever the user's locale is."""
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, env={**os.environ, "LC_ALL": "C"})


def _unit(headers: list[str]) -> str:
    """Line N includes headers[N-1], so an error's include chain names the header that led to it."""
    includes = [f"#include <{h}>" for h in headers]
    probes = [f"struct {PROBE_PREFIX}{i} {{ char c; {t} x; }};" for i, t in enumerate(PROBED_TYPES)]
    return "\n".join(includes + probes) + "\n"


def _failing_lines(stderr: str, unit: str) -> dict[int, tuple[str, str]]:
    """Line of the unit → the first error reached through it, and the file it is in. gcc and clang both
    print the chain of includes down to an error's file when it changes; the outermost link is a line
    of the unit."""
    failing: dict[int, tuple[str, str]] = {}
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
            failing.setdefault(line, (error[3], error[1]))
    return failing


def _installed_name(path: str, include: Path) -> str:
    """`<include>/asm/signal.h` → asm/signal.h; "" for a file of the C library's or the unit itself."""
    prefix = str(include).rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else ""


def _first_error(stderr: str) -> str:
    return next((str(m[3]) for m in map(ERROR_LINE.match, stderr.splitlines()) if m), "")
