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
SIGNALS = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}
# How a shell, make and gcc's driver name a signal that killed a program.
SIGNAL_WORDS = {
    "Killed": "SIGKILL", "Segmentation fault": "SIGSEGV", "Terminated": "SIGTERM", "Bus error": "SIGBUS",
    "Illegal instruction": "SIGILL", "Aborted": "SIGABRT", "Floating point exception": "SIGFPE", "Trace/breakpoint trap": "SIGTRAP",
}  # fmt: skip
_SIGNAL_WORD = "(?P<signal>" + "|".join(re.escape(word) for word in SIGNAL_WORDS) + ")"
_SIGNAL_EXIT = "(?P<signal>" + "|".join(str(128 + number) for number in SIGNALS) + ")"  # a shell's exit status: 128 + the signal
ENGINES = ("podman", "docker")
ENGINE_FAILED = 125  # podman and docker: the engine itself failed, not the command in the container
NOT_FOUND = 127  # a shell, or `podman exec`, when the program to run does not exist
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
    reason: str  # formatted with the match's groups, `line` and, where it has a `signal` group, `killed`
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
    # a shell running a script (tuxmake's offline wrapper) when the program it starts is missing: make
    _fault(r"^/\S+: \d+: (\S+): not found$", "{0} not found on the host", tool=True),
    # Kbuild refuses a source tree with a .config or include/config of its own: left by an earlier build
    _fault(r"The source tree is not clean, please run", "the source tree was not clean (files an earlier build left in the worktree)"),
    # A program killed by a signal: the OOM killer (SIGKILL), a machine that failed (SIGSEGV, SIGBUS,
    # SIGILL), someone stopping it (SIGTERM). gcc's driver names the signal that ended cc1 or as; clang's
    # says it failed; make names the signal, or the status a shell reports (128 + the signal).
    _fault(_SIGNAL_WORD + r" signal terminated program (\S+)", "the compiler was killed ({1}: {killed})"),
    _fault(r"unable to execute command: " + _SIGNAL_WORD, "the compiler was killed ({killed})"),
    _fault(r"\bcommand failed due to signal\b", "the compiler was killed by a signal"),
    _fault(r"(?:virtual memory exhausted|out of memory allocating|Cannot allocate memory)", "out of memory"),
    _fault(r"^make(?:\[\d+\])?: \*\*\* \[[^\]]*\] Error " + _SIGNAL_EXIT + "$", "a build command was killed ({killed})"),
    _fault(r"^make(?:\[\d+\])?: \*\*\* \[[^\]]*\] " + _SIGNAL_WORD + r"(?: \(core dumped\))?$", "a build command was killed ({killed})"),
)


def host_fault(log: Log, commands: Sequence[Command] = (), prefixes: Iterable[str] = ()) -> str | None:
    """Why the machine, not the commit, made this build fail; None when nothing shows it did. The
    reason may quote the log line, its paths cut at `prefixes` (the tree and build directory)."""
    for command in commands:
        fault = _command_fault(command)
        if fault:
            return fault
    for line in lines_of(log):
        line = line.strip()
        if line and not EXCERPT_LINE.match(line) and (fault := _line_fault(line, prefixes)):
            return fault
    return None


def _command_fault(command: Command) -> str | None:
    """What how a command ended says of the machine: killed by a signal, not found, an engine failure."""
    names = [word.rsplit("/", 1)[-1] for word in command.argv]
    in_container = bool(names) and names[0] in ENGINES
    name = "the container" if in_container else "make" if "make" in names else names[0] if names else "a command"
    if command.returncode < 0:
        signal = SIGNALS.get(-command.returncode, f"signal {-command.returncode}")
        return f"{name} was killed from outside the build ({signal})"
    if command.returncode in KILLED:  # a shell or the engine around it says what it ran was killed
        return f"{name} was killed from outside the build ({SIGNALS[command.returncode - 128]})"
    if command.returncode == NOT_FOUND:  # the shell or engine that was to start it did not find it
        return f"{name} not found {'in the container' if in_container else 'on the host'}"
    if in_container and command.returncode == ENGINE_FAILED:
        return f"the container engine failed ({names[0]} exit {ENGINE_FAILED})"
    return None


def _line_fault(line: str, prefixes: Iterable[str]) -> str | None:
    """The reason the first HOST_FAULTS pattern that matches a log line gives."""
    for fault in HOST_FAULTS:
        match = fault.pattern.search(line)
        if match is None:
            continue
        if fault.tool and not _is_host_program(match[1]):
            continue  # `./scripts/x.sh: not found` is the tree's own file: the commit's fault
        killed = _killed(match["signal"]) if "signal" in fault.pattern.groupindex else ""
        return one_line(fault.reason.format(*match.groups(), line=_relative(line, prefixes), killed=killed))
    return None


def _killed(signal: str) -> str:
    """`SIGSEGV` for "Segmentation fault" or 139; for SIGKILL, what usually sends it."""
    name = SIGNAL_WORDS.get(signal) or SIGNALS[int(signal) - 128]
    return f"{name}, out of memory?" if name == "SIGKILL" else name


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
        return Status.FAIL, one_line(f"{diagnostic.location}: {diagnostic.said}: {diagnostic.message}")
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
