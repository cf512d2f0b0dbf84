"""A finished build's status and one-line reason, from its artifacts and its commands' exit statuses. Pure.

A red cell is always the commit's fault: a build that failed is FAIL only when nothing shows that the
machine failed. Host faults leave evidence in the log (a tool not found, no space left, a compiler
killed) or in how a command ended (killed by a signal, a container engine error); any of them makes the
build INFRA, whatever else the log says, because the compiler never got to judge the whole commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .models import Cell, Diagnostic, Status, toolchain_family, toolchain_version

NO_SUCH_CONFIG = "Can't find default configuration"  # Kconfig's Makefile, for `make x_defconfig`
ERROR_LINE = re.compile(r"\berror:|^ERROR: |\*\*\* ")
EXCERPT_LINE = re.compile(r"^\s*(?:\d+\s*)?\|")  # a source line a compiler echoes: never evidence
SYSTEM_PATHS = ("/usr/", "/bin/", "/sbin/", "/opt/")
SIGNALS = {9: "SIGKILL", 15: "SIGTERM", 6: "SIGABRT", 11: "SIGSEGV"}
ENGINES = ("podman", "docker")
ENGINE_FAILED = 125  # podman and docker: the engine itself failed, not the command in the container
# What tuxmake's offline wrapper (a shell) and `podman exec` return when the command died of SIGKILL or
# SIGTERM; make itself never exits so (a recipe's killed child makes it exit 2).
KILLED = (128 + 9, 128 + 15)


# A build log: its text, or a function giving its lines afresh at each call (a log of gigabytes is read
# from its file line by line, once per look, instead of held in memory twice).
Log = str | Callable[[], Iterable[str]]


def lines_of(log: Log) -> Iterable[str]:
    return log.splitlines() if isinstance(log, str) else log()


@dataclass(frozen=True)
class Command:
    """A command tuxmake ran for the build, and how it ended (negative: killed by that signal)."""

    argv: tuple[str, ...]
    returncode: int


@dataclass(frozen=True)
class HostFault:
    """A log line that shows the machine failed. `tool`: group 1 names a program, which only counts
    when it is a program of the host (a bare name or a system path), not a file of the tree."""

    pattern: re.Pattern
    reason: str  # formatted with the match's groups
    tool: bool = False


def _fault(pattern: str, reason: str, tool: bool = False) -> HostFault:
    return HostFault(re.compile(pattern), reason, tool)


HOST_FAULTS = (
    # scripts/Kconfig.include: `linker 'riscv64-linux-gnu-ld' not found`
    _fault(r"\b(?:linker|compiler|assembler) '([^']+)' not found", "{0} not found on the host", tool=True),
    # dash, bash and make when a program is missing
    _fault(r"^(?:/bin/)?(?:ba)?sh: (?:\d+: |line \d+: )?(\S+): (?:command )?not found$", "{0} not found on the host", tool=True),
    _fault(r"^make(?:\[\d+\])?: (\S+): (?:No such file or directory|Command not found)$", "{0} not found on the host", tool=True),
    # gcc without its assembler or cc1, ccache without the compiler
    _fault(r"fatal error: cannot execute '([^']+)': execvp: No such file or directory", "{0} not found on the host", tool=True),
    _fault(r'Could not find compiler "([^"]+)" in PATH', "{0} not found on the host", tool=True),
    _fault(r"No space left on device", "no space left on device: {line}"),
    _fault(r"Disk quota exceeded", "disk quota exceeded: {line}"),
    _fault(r"Read-only file system", "a read-only file system where the build writes: {line}"),
    _fault(r"Input/output error", "an I/O error on the host's disk: {line}"),
    # gcc's driver when cc1 dies of SIGKILL: what the kernel's OOM killer leaves
    _fault(r"Killed signal terminated program (\S+)", "the compiler was killed ({0}: SIGKILL, out of memory?)"),
    _fault(r"unable to execute command: Killed", "the compiler was killed (SIGKILL, out of memory?)"),
    _fault(r"(?:virtual memory exhausted|out of memory allocating|Cannot allocate memory)", "out of memory"),
    # make, when a recipe's process was killed (128 + SIGKILL)
    _fault(r"^make(?:\[\d+\])?: \*\*\* \[[^\]]*\] (?:Error 137|Killed)$", "a build command was killed (SIGKILL, out of memory?)"),
)


def host_fault(log: Log, commands: Sequence[Command] = (), prefixes: Iterable[str] = ()) -> str | None:
    """Why the machine, not the commit, made this build fail; None when nothing shows it did. The
    reason may quote the log line, its paths cut at `prefixes` (the tree and build directory)."""
    for command in commands:
        names = [word.rsplit("/", 1)[-1] for word in command.argv]
        in_container = bool(names) and names[0] in ENGINES
        name = "the container" if in_container else "make" if "make" in names else names[0] if names else "a command"
        if command.returncode < 0:
            signal = SIGNALS.get(-command.returncode, f"signal {-command.returncode}")
            return f"{name} was killed from outside the build ({signal})"
        if command.returncode in KILLED:  # a shell or the engine around it says what it ran was killed
            return f"{name} was killed from outside the build ({SIGNALS[command.returncode - 128]})"
        if in_container and command.returncode == ENGINE_FAILED:
            return f"the container engine failed ({names[0]} exit {ENGINE_FAILED})"
    for line in lines_of(log):
        line = line.strip()
        if not line or EXCERPT_LINE.match(line):
            continue
        for fault in HOST_FAULTS:
            match = fault.pattern.search(line)
            if match is None:
                continue
            if fault.tool and not _is_host_program(match[1]):
                continue  # `./scripts/x.sh: not found` is the tree's own file: the commit's fault
            return one_line(fault.reason.format(*match.groups(), line=_relative(line, prefixes)))
    return None


def _relative(line: str, prefixes: Iterable[str]) -> str:
    for prefix in prefixes:
        line = line.replace(prefix.rstrip("/") + "/", "")
    return line


def _is_host_program(name: str) -> bool:
    return "/" not in name or name.startswith(SYSTEM_PATHS)


def classify(
    cell: Cell,
    targets: dict[str, str],
    log: Log,
    config: str,
    prefixes: Iterable[str],
    diagnostics: Iterable[Diagnostic] = (),
    commands: Sequence[Command] = (),
    compiler_version: str = "",
) -> tuple[Status, str]:
    """The status of a finished build, and the one-line reason for anything but a pass."""
    prefixes = list(prefixes)
    failed = not all(status in ("PASS", "WARNING") for status in targets.values())
    if failed:
        fault = host_fault(log, commands, prefixes)
        if fault:
            return Status.INFRA, fault
    mismatch = version_mismatch(cell.toolchain, compiler_version)
    if mismatch:
        return Status.INFRA, mismatch
    if targets.get("config") == "PASS":
        dropped = dropped_options(cell.required_options, config)
        if dropped:
            return Status.MATRIX_ERROR, "Kconfig dropped what the cell asked for: " + ", ".join(dropped)
    if not failed:
        return Status.PASS, ""
    errors = [d for d in diagnostics if d.severity == "error"]
    if any(d.tool == "make" and d.message.startswith(NO_SUCH_CONFIG) for d in errors) and targets.get("config") != "PASS":
        # the cell asks for a config target this tree does not have: the matrix's to fix, not the commit's
        return Status.MATRIX_ERROR, f"this tree has no {cell.kconfig} for {cell.arch}; name one it has, e.g. defconfig"
    if errors:  # the headline: the error that ended the build, else the first one
        diagnostic = next((d for d in errors if d.root_cause), errors[0])
        return Status.FAIL, one_line(f"{diagnostic.location}: error: {diagnostic.message}")
    return Status.FAIL, first_error(log, prefixes)


def version_mismatch(toolchain: str, compiler_version: str) -> str | None:
    """A reason when the compiler that ran is not the version the cell asked for."""
    wanted = toolchain_version(toolchain)
    if wanted is None or not compiler_version:
        return None
    if compiler_version.split(".")[0] != wanted:
        return f"built with {toolchain_family(toolchain)} {compiler_version}, not the {toolchain} the cell asks for"
    return None


def dropped_options(wanted: dict[str, str], config: str) -> list[str]:
    """Options a fragment asked for that the produced .config does not have, as `CONFIG_X=y (got m)`."""
    actual: dict[str, str] = {}
    for line in config.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            name, value = line.split("=", 1)
            actual[name] = value
    dropped = []
    for name, value in wanted.items():
        got = actual.get(name, "n")
        if got != value:
            shown = f"# {name} is not set" if value == "n" else f"{name}={value}"
            dropped.append(f"{shown} (got {'not set' if got == 'n' else got})")
    return dropped


def first_error(log: Log, prefixes: list[str]) -> str:
    """The first error line of a log, with the tree and build paths cut to tree-relative ones."""
    for line in lines_of(log):
        if ERROR_LINE.search(line) and not line.startswith("make --silent"):
            return one_line(_relative(line, prefixes))
    return "build failed (no error line in the log)"


def one_line(text: str) -> str:
    return " ".join(text.split())[:300]
