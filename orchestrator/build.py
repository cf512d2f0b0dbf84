"""One cell's tuxmake build: a request in, its artifacts and result out. Runs in a worker process.

tuxmake's Build.run() installs a SIGTERM handler, which Python only allows in a main thread: a build
runs in a process of its own (see executors/), never in a thread.

Build directories sit at a stable path per cell (emptied before every build) and ccache is shared:
tuxmake puts the build directory into KCFLAGS, so a fresh path per build would make every ccache
lookup miss across commits.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuxmake.arch import Architecture

from . import accepted, classify, containers, inputs, logparse, safefile, toolchains
from .classify import Command, one_line
from .lock import Lock
from .models import BuildResult, Cell, Status, Unit

HOST_PATH = os.environ.get("PATH", os.defpath)  # as the worker started
# tuxmake runs its metadata commands through `sh -c` with the build directory written in: every path it
# is given must read as one plain word to a shell.
SHELL_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+@%=:,-]+$")
TIMED_OUT = "timed out after"  # how a build stopped at the matrix's timeout begins its reason
TIMEOUT_GRACE = 5.0  # seconds a late build's make gets to stop its jobs after SIGTERM
ARTIFACTS_LIMIT = 2 * 1024**3  # bytes of one cell's artifacts taken from elsewhere (a worker, an import): more is refused
# tuxmake's refusals that are about the machine, not the matrix: a missing compiler or engine.
HOST_REFUSALS = ("CompilerNotFoundError", "RuntimeNotFoundError", "EnvironmentCheckFailed", "KorgGccPreparationFailed")


@dataclass
class BuildRequest:
    cell: Unit  # a check is run by its own code (executors.run)
    sha: str
    source: str  # the checked-out tree
    output_dir: str  # results/<sha>/<cell-id>: built into <output_dir>.partial
    build_dir: str  # stable per cell, emptied before the build
    jobs: int
    runtime: str
    ccache_dir: str
    work_root: str = ""  # where versioned toolchains get their directory of links
    timeout: float | None = None  # seconds the build may take (the matrix's `timeout`); None: no limit

    @property
    def tuxmake_cell(self) -> Cell:
        """The cell tuxmake builds (only cells reach build_cell)."""
        assert isinstance(self.cell, Cell), f"{self.cell.id} is a check, not a tuxmake cell"
        return self.cell


@dataclass
class Finished:
    """One attempt at a cell: its result, and the directory its artifacts were built in (None when
    nothing is worth keeping, e.g. the results disk filled up while they were written)."""

    request: BuildRequest
    result: BuildResult
    artifacts: Path | None


def build_cell(request: BuildRequest) -> Finished | None:
    """Run one cell's tuxmake build (in a worker process); None when it was interrupted."""
    commands = _record_tuxmake_commands()
    # tuxmake restores its SIGTERM handler last, after writing metadata: on a full disk it never does,
    # and an idle worker stopped later would die with a traceback instead of quietly.
    handler = signal.getsignal(signal.SIGTERM)
    try:
        # A worker of a killed run may still be stopping make in this cell's build directory.
        with Lock(Path(request.build_dir).with_name(Path(request.build_dir).name + ".lock"), wait=True):
            try:
                return _build_cell(request, commands)
            finally:
                _kill_leftovers()
    finally:
        signal.signal(signal.SIGTERM, handler)


def _build_cell(request: BuildRequest, commands: list[Command]) -> Finished | None:
    # Imported here so the parent process does not pay for it when every cell is already built.
    from tuxmake.exceptions import TuxMakeException

    # Build into <dir>.partial; the store moves it into place with the result, so an interrupted or
    # failed rebuild keeps the old artifacts.
    output = partial_dir(Path(request.output_dir))
    build_dir = Path(request.build_dir)
    result = BuildResult(
        cell_id=request.cell.id, sha=request.sha, status=Status.INFRA, definition=request.cell.definition, runtime=request.runtime
    )
    started = time.monotonic()
    if uses_ccache(request.runtime):
        try:
            _check_writable(Path(request.ccache_dir))
        except OSError as error:  # ccache then fails every compile, each in its own words (or Kconfig's)
            return _refused(request, result, output, f"the ccache directory {request.ccache_dir} cannot be written ({error.strerror})", started)
    try:
        fragment_files = _prepare(request, output, build_dir)
    except OSError as error:
        return _refused(request, result, output, f"cannot prepare {error.filename or 'the build'}: {error.strerror}", started)
    except toolchains.NotInstalled as error:
        return _refused(request, result, output, str(error), started)
    deadline = Deadline(request.timeout)
    try:
        with deadline:
            build = _tuxmake(request, output, build_dir, fragment_files)
        if deadline.expired:  # what it built so far is kept for a look, as an infrastructure error's
            result.reason = f"{TIMED_OUT} {duration_words(request.timeout or 0)} (the matrix's timeout); its log shows how far it got"
            return _finish(request, result, output, started)
        if build.passed:  # a failed build's records miss what it never got to: only a pass is complete
            cell = request.tuxmake_cell
            found = inputs.of_build(build_dir, Path(request.source), cell.targets, Architecture(cell.arch).source_arch)
            result.inputs = found if found is not None else frozenset()
    except TuxMakeException as error:
        result.status, result.reason = _tuxmake_refused(request, error)
        return _finish(request, result, output, started)
    except OSError as error:  # writing the log or artifacts failed: the results disk
        where = getattr(error, "filename2", None) or error.filename or output  # a copy names its destination second
        return _refused(request, result, output, f"cannot write {where}: {error.strerror}", started)
    except Exception as error:  # tuxmake crashed: not the commit's fault
        result.reason = one_line(f"tuxmake crashed: {type(error).__name__}: {error}")
        return _finish(request, result, output, started)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    if build.interrupted:
        return None
    _read_build(result, build, request, output, build_dir, commands)
    return _finish(request, result, output, started)


def shell_safe(path: Path | str) -> bool:
    """Whether a path reads as one plain word to a shell (tuxmake writes build paths into `sh -c`)."""
    return bool(SHELL_SAFE_PATH.match(str(path)))


def uses_ccache(runtime: str) -> bool:
    """Whether a build runs its compilers through ccache: in a container always (the images have it),
    on the host when it is installed."""
    return runtime != "null" or shutil.which("ccache") is not None


def _check_writable(directory: Path) -> None:
    """OSError unless a file can be made in `directory` (made if missing): trying is the one test
    that sees every reason it cannot be written (permissions, a read-only mount, a full disk)."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=directory, prefix=".orchestrator-probe-")
    os.close(descriptor)
    os.unlink(name)


def _prepare(request: BuildRequest, output: Path, build_dir: Path) -> list[str]:
    """Empty build and artifact directories, the fragments written, the environment set: the fragment files."""
    for directory in (output, build_dir):
        shutil.rmtree(directory, ignore_errors=True)
    output.mkdir(parents=True)
    fragment_files = _write_fragments(request.tuxmake_cell, output)
    _environment(request)
    return fragment_files


def _tuxmake(request: BuildRequest, output: Path, build_dir: Path, fragment_files: list[str]) -> Any:  # tuxmake.build.Build
    from tuxmake.build import Build

    cell = request.tuxmake_cell
    build = Build(
        tree=request.source,
        output_dir=str(output),
        build_dir=str(build_dir),
        target_arch=cell.arch,
        toolchain=cell.toolchain,
        kconfig=cell.kconfig,
        kconfig_add=fragment_files,
        targets=list(cell.targets),
        make_target=list(cell.make_targets) or None,
        make_variables=dict(cell.make_variables),
        jobs=request.jobs,
        runtime=containers.tuxmake_runtime(request.runtime, cell.arch, cell.toolchain),
        wrapper="ccache" if uses_ccache(request.runtime) else None,
        quiet=True,
    )
    build.run()
    return build


def _tuxmake_refused(request: BuildRequest, error: Exception) -> tuple[Status, str]:
    """tuxmake refused the build: the machine's fault for a missing compiler or engine, else the matrix
    asked for something tuxmake does not do (the matrix check should have said so)."""
    from tuxmake.exceptions import TuxMakeUserError

    cell, reason = request.tuxmake_cell, one_line(str(error))
    if isinstance(error, TuxMakeUserError) and type(error).__name__ not in HOST_REFUSALS:
        return Status.MATRIX_ERROR, reason
    if containers.engine(request.runtime) and not containers.has_image(request.runtime, containers.image_name(cell.arch, cell.toolchain)):
        reason += f"; make it with `orchestrate images build --arch {cell.arch} --toolchain {cell.toolchain}`"
    return Status.INFRA, reason


def _read_build(result: BuildResult, build: Any, request: BuildRequest, output: Path, build_dir: Path, commands: list[Command]) -> None:
    """A finished build's targets, compiler, image, diagnostics and, from all of them, its status."""
    result.targets = {name: info.status for name, info in build.status.items()}
    metadata = build.metadata
    compiler = metadata.get("compiler", {})
    result.compiler = compiler.get("version_full", "")
    if containers.engine(request.runtime):
        # The name this cell asked for, at the digest tuxmake saw (its own field may carry another of
        # the image's names: one image serves several cells here).
        image = metadata.get("runtime", {})
        digest = (image.get("image_digest") or "").partition("@")[2]
        result.image = f"{image.get('image_name', '')}@{digest}" if digest else image.get("image_name", "")
    result.errors = metadata.get("results", {}).get("errors", 0)
    result.warnings = metadata.get("results", {}).get("warnings", 0)
    log_path = output / "build.log"
    config = _read_text(output / "config")
    roots = [request.source, str(build_dir)]
    try:
        with log_path.open("rb") as log:  # streamed: a runaway log of gigabytes is never held whole
            result.diagnostics = accepted.mark(logparse.parse(log, roots), request.cell.accepted, ("warning",))
        result.warnings = max(0, result.warnings - sum(d.count for d in result.diagnostics if d.known and d.severity == "warning"))
        log_lines: classify.Log = functools.partial(safefile.read_lines, log_path)
    except OSError:
        log_lines = ""
    result.parser = logparse.VERSION
    result.status, result.reason = classify.classify(
        request.tuxmake_cell, result.targets, log_lines, config, roots, result.diagnostics, commands, str(compiler.get("version", ""))
    )


def _kill_leftovers() -> None:
    """End what the build started and left running (make's children, when make itself was killed from
    outside): they share this worker's process group, and would write into the next build's directory."""
    _signal_group(signal.SIGKILL)


def _signal_group(signum: int) -> None:
    """Send `signum` to every other process of this worker's process group (make, compilers, tuxmake's
    commands). Only in a worker that leads its own group: never in the caller's."""
    me = os.getpid()
    if os.getpgrp() != me:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                group = int(stat.read().rsplit(")", 1)[1].split()[2])  # after the name: state, ppid, pgrp
            if group == me:
                os.kill(int(entry), signum)
        except (OSError, ValueError, IndexError):
            continue  # gone already, or not ours to read


class Deadline:
    """While entered, stops the build once `seconds` have passed: SIGTERM to what it runs (make ends
    its jobs), then after TIMEOUT_GRACE SIGKILL, each second until tuxmake returns (it goes on to its
    next command, and cleans up a container). `expired` says whether it had to. No signal reaches
    this process itself: tuxmake's handler may already be gone when one would arrive."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.expired = False
        self._done = threading.Event()
        self._watch: threading.Thread | None = None

    def __enter__(self) -> Deadline:
        if self.seconds is not None:
            self._watch = threading.Thread(target=self._stop_when_late, name="deadline", daemon=True)
            self._watch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._watch is not None:
            self._watch.join()

    def _stop_when_late(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.expired = True
        _signal_group(signal.SIGTERM)
        if self._done.wait(TIMEOUT_GRACE):
            return
        while not self._done.is_set():
            _signal_group(signal.SIGKILL)
            self._done.wait(1.0)


def duration_words(seconds: float) -> str:
    """6h, 90m, 45s: a whole number of the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _write_fragments(cell: Cell, output: Path) -> list[str]:
    """The fragments, written into the artifacts: what was merged is kept beside the log."""
    files = []
    for index, fragment in enumerate(cell.fragments):
        # The name tuxmake is given: the fragment's own path may hold what a shell reads (a link in configs/ to such a name).
        path = output / "fragments" / f"{index}-{re.sub(r'[^A-Za-z0-9_.+-]', '_', fragment.path.replace('/', '-'))}"
        path.parent.mkdir(exist_ok=True)
        path.write_text(fragment.text)
        files.append(str(path))
    return files


def _environment(request: BuildRequest) -> None:
    """ccache, the container options, and for a versioned toolchain on the host its programs first on PATH."""
    os.environ["CCACHE_DIR"] = request.ccache_dir
    os.environ.update(containers.environment(request.runtime))
    os.environ["PATH"] = HOST_PATH  # a worker builds many cells: none inherits another's links
    if request.runtime == "null":
        links = toolchains.link_directory(request.tuxmake_cell.arch, request.tuxmake_cell.toolchain, Path(request.work_root or request.build_dir))
        if links is not None:
            os.environ["PATH"] = f"{links}{os.pathsep}{HOST_PATH}"


def _finish(request: BuildRequest, result: BuildResult, output: Path, started: float) -> Finished:
    result.duration = time.monotonic() - started
    return Finished(request, result, output if output.is_dir() else None)


def _refused(request: BuildRequest, result: BuildResult, output: Path, reason: str, started: float) -> Finished:
    """An infrastructure error before or outside tuxmake's build: nothing of it is worth keeping (and
    what was written may be cut short by a full disk)."""
    result.status, result.reason = Status.INFRA, one_line(reason)
    result.duration = time.monotonic() - started
    shutil.rmtree(output, ignore_errors=True)
    return Finished(request, result, None)


def _record_tuxmake_commands() -> list[Command]:
    """Make tuxmake's commands report how they ended, and its pipes decode leniently, in this worker.

    How a command ended is evidence: make killed by a signal, or a container engine that failed, is the
    machine's fault, whatever the log says. And tuxmake 1.45 reads build output through a strict UTF-8
    text pipe, so a compiler echoing a source line with a Latin-1 byte would kill the build with
    UnicodeDecodeError: here those pipes decode with errors="replace" (the log keeps U+FFFD)."""
    import subprocess

    import tuxmake.runtime

    commands: list[Command] = []

    class RecordedPopen(subprocess.Popen):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("universal_newlines") or kwargs.get("text"):
                kwargs.setdefault("errors", "replace")
            super().__init__(*args, **kwargs)
            self.recorded = False

        def wait(self, timeout: float | None = None) -> int:
            code = super().wait(timeout)
            if not self.recorded:
                self.recorded = True
                argv = self.args if isinstance(self.args, (list, tuple)) else [self.args]
                commands.append(Command(tuple(str(a) for a in argv), code))
            return code

    class RecordingSubprocess:
        Popen = RecordedPopen

        def __getattr__(self, name: str) -> Any:
            return getattr(subprocess, name)

    tuxmake.runtime.subprocess = RecordingSubprocess()
    return commands


def partial_dir(final: Path) -> Path:
    return final.with_name(final.name + ".partial")


def current_step(log_tail: str) -> str:
    """What a running build is doing, from the last command tuxmake logged."""
    step = ""
    for line in log_tail.splitlines():
        if line.startswith("make --silent"):
            step = line.rsplit(" ", 1)[-1]  # tuxmake puts the make target last
        elif line.startswith("scripts/kconfig/merge_config.sh"):
            step = "merge fragments"
    return step


def read_tail(path: Path, size: int = 16384) -> str:
    """The end of a file that is still being written (a running build's log)."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", "replace")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
