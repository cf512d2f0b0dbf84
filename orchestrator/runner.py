"""Build cells with tuxmake, several at a time, and tell infrastructure errors from build failures.

Each cell runs in its own worker process: tuxmake's Build.run() installs a SIGTERM handler, which
Python only allows in a main thread, so threads cannot run builds side by side.

Build directories sit at a stable path per cell (emptied before every build) and ccache is shared:
tuxmake puts the build directory into KCFLAGS, so a fresh path per build would make every ccache
lookup miss across commits.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from . import classify, containers, logparse, toolchains
from .classify import Command, one_line
from .lock import Lock
from .models import BuildResult, Cell, Status

STOP_GRACE = 5.0  # seconds tuxmake gets to stop make before the whole build is killed
HOST_PATH = os.environ.get("PATH", os.defpath)  # as the worker started
# tuxmake's refusals that are about the machine, not the matrix: a missing compiler or engine.
HOST_REFUSALS = ("CompilerNotFoundError", "RuntimeNotFoundError", "EnvironmentCheckFailed", "KorgGccPreparationFailed")


@dataclass
class Schedule:
    workers: int  # cells built at once
    jobs: int  # make -j of each


def schedule(cells: int, cores: int, jobs: int | None = None, workers: int | None = None) -> Schedule:
    """Split the cores between concurrent cells.

    A KVM-only cell spends much of its time in serial steps (config, prepare, a handful of
    objects), so running one cell per core with -j matching the cores keeps both busy; see
    bench/README.md for the measurement behind it.
    """
    cores = max(1, cores)
    workers = max(1, min(cells, workers or cores))
    return Schedule(workers=workers, jobs=jobs or cores)


@dataclass
class BuildRequest:
    cell: Cell
    sha: str
    source: str  # the checked-out tree
    output_dir: str  # results/<sha>/<cell-id>: built into <output_dir>.partial
    build_dir: str  # stable per cell, emptied before the build
    jobs: int
    runtime: str
    ccache_dir: str
    work_root: str = ""  # where versioned toolchains get their directory of links


@dataclass
class Finished:
    """One attempt at a cell: its result, and the directory its artifacts were built in (None when
    nothing is worth keeping, e.g. the results disk filled up while they were written)."""

    request: BuildRequest
    result: BuildResult
    artifacts: Path | None
    retrying: bool = False  # an infrastructure error that will be built again in this run


class Interrupted(Exception):
    """The build was stopped by a signal; it has no result to store."""


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
    from tuxmake.build import Build
    from tuxmake.exceptions import TuxMakeException, TuxMakeUserError

    cell = request.cell
    # Build into <dir>.partial; the store moves it into place with the result, so an interrupted or
    # failed rebuild keeps the old artifacts.
    output = partial_dir(Path(request.output_dir))
    build_dir = Path(request.build_dir)
    result = BuildResult(cell_id=cell.id, sha=request.sha, status=Status.INFRA, definition=cell.definition, runtime=request.runtime)
    started = time.monotonic()
    try:
        for directory in (output, build_dir):
            shutil.rmtree(directory, ignore_errors=True)
        output.mkdir(parents=True)
        fragment_files = _write_fragments(cell, output)
        _environment(request)
    except OSError as error:
        return _refused(request, result, output, f"cannot prepare {error.filename or 'the build'}: {error.strerror}", started)
    except toolchains.NotInstalled as error:
        return _refused(request, result, output, str(error), started)
    try:
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
            wrapper="ccache" if request.runtime != "null" or shutil.which("ccache") else None,
            quiet=True,
        )
        build.run()
    except TuxMakeException as error:
        # tuxmake refused the build: the machine's fault for a missing compiler or engine, else the
        # matrix asked for something tuxmake does not do (the matrix check should have said so).
        result.reason = one_line(str(error))
        if isinstance(error, TuxMakeUserError) and type(error).__name__ not in HOST_REFUSALS:
            result.status = Status.MATRIX_ERROR
        elif containers.engine(request.runtime) and not containers.has_image(request.runtime, containers.image_name(cell.arch, cell.toolchain)):
            result.reason += f"; make it with `orchestrate images build --arch {cell.arch} --toolchain {cell.toolchain}`"
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
    log = _read_text(output / "build.log")
    config = _read_text(output / "config")
    roots = [request.source, str(build_dir)]
    result.diagnostics = logparse.parse(log.splitlines(), roots)
    result.status, result.reason = classify.classify(
        cell, result.targets, log, config, roots, result.diagnostics, commands, str(compiler.get("version", ""))
    )
    return _finish(request, result, output, started)


def _kill_leftovers() -> None:
    """End what the build started and left running (make's children, when make itself was killed from
    outside): they share this worker's process group, and would write into the next build's directory.
    Only in a worker that leads its own group: never in the caller's."""
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
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue  # gone already, or not ours to read


def _write_fragments(cell: Cell, output: Path) -> list[str]:
    """The fragments, written into the artifacts: what was merged is kept beside the log."""
    files = []
    for index, fragment in enumerate(cell.fragments):
        path = output / "fragments" / f"{index}-{fragment.path.replace('/', '-')}"
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
        links = toolchains.link_directory(request.cell.arch, request.cell.toolchain, Path(request.work_root or request.build_dir))
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
        def __init__(self, *args, **kwargs):
            if kwargs.get("universal_newlines") or kwargs.get("text"):
                kwargs.setdefault("errors", "replace")
            super().__init__(*args, **kwargs)
            self.recorded = False

        def wait(self, timeout=None):
            code = super().wait(timeout)
            if not self.recorded:
                self.recorded = True
                argv = self.args if isinstance(self.args, (list, tuple)) else [self.args]
                commands.append(Command(tuple(str(a) for a in argv), code))
            return code

    class RecordingSubprocess:
        Popen = RecordedPopen

        def __getattr__(self, name):
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


def run_builds(
    requests: list[BuildRequest],
    workers: int,
    on_progress: Callable[[str, str, str], None] = lambda cell, state, detail: None,
    retries: int = 0,
    output: Path | None = None,
) -> Iterator[Finished]:
    """Build the requests `workers` at a time, yielding each attempt as soon as it is finished.

    What the workers print outside the build logs (tuxmake's warnings, a container engine's own errors,
    a dying worker's traceback) is appended to `output`, never to the user's terminal.

    An infrastructure error is built again, up to `retries` times: its attempt is yielded first, with
    `retrying` set (the caller records it and moves its artifacts aside), then the cell is resubmitted.
    on_progress(cell_id, state, detail) hears "queued", "building" (detail: current step) and "done".
    """
    if not requests:
        return
    for request in requests:
        on_progress(request.cell.id, "queued", "")
    pool = _Pool(workers, output)
    tries = {request.cell.id: 0 for request in requests}
    try:
        pending = {pool.submit(request): request for request in requests}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                request = pending.pop(future)
                finished = _outcome(future, request)
                if finished is None:
                    raise Interrupted(request.cell.id)
                tries[request.cell.id] += 1
                if finished.result.status == Status.INFRA and tries[request.cell.id] <= retries:
                    finished.retrying = True
                    on_progress(request.cell.id, "building", f"again after: {finished.result.reason}")
                    yield finished
                    pending[pool.submit(request)] = request
                    continue
                on_progress(request.cell.id, "done", finished.result.status)
                yield finished
            for request in pending.values():
                log = partial_dir(Path(request.output_dir)) / "build.log"
                if log.exists():
                    on_progress(request.cell.id, "building", current_step(_tail(log)))
    except BaseException:
        pool.stop()
        raise
    finally:
        pool.shutdown()


def _outcome(future, request: BuildRequest) -> Finished | None:
    try:
        return future.result()
    except Exception as error:  # the worker process itself died (killed, out of memory)
        result = BuildResult(
            cell_id=request.cell.id,
            sha=request.sha,
            status=Status.INFRA,
            definition=request.cell.definition,
            reason=one_line(f"build worker died: {type(error).__name__}: {error}"),
            runtime=request.runtime,
        )
        partial = partial_dir(Path(request.output_dir))
        return Finished(request, result, partial if partial.is_dir() else None)


class _Pool:
    """The worker processes; made again when a worker died and broke the pool (its builds are retried)."""

    def __init__(self, workers: int, output: Path | None):
        self.workers = workers
        self.output = str(output) if output else ""
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(), self.output)
        )

    def submit(self, request: BuildRequest):
        try:
            return self.executor.submit(build_cell, request)
        except BrokenProcessPool:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = self._start()
            return self.executor.submit(build_cell, request)

    def stop(self) -> None:
        _stop_workers(self.executor)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _start_worker(run_pid: int, output: str) -> None:
    """Worker start. Lead a process group of its own, so make and the compilers it starts can be
    killed with it; and stop when the run that owns the pool dies. A run killed with SIGKILL cannot
    stop its builds, and its workers' parent is the pool's forkserver, which outlives it: without this
    an orphaned worker builds on beside the next run (its cell lock makes that run wait meanwhile).
    What the worker prints goes to `output` (appended), not to the terminal the run draws on."""
    os.setpgid(0, 0)
    if output:
        try:
            log = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
        except OSError:
            pass  # a full or read-only work root: the terminal it is
    try:
        run = os.pidfd_open(run_pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): orphans finish, the cell lock serializes
        return

    def watch() -> None:
        select.select([run], [], [])  # readable once the run has exited
        os.kill(os.getpid(), signal.SIGTERM)  # tuxmake stops make; an idle worker just ends
        time.sleep(STOP_GRACE)
        os.killpg(0, signal.SIGKILL)  # whatever is left of the build, and this worker

    threading.Thread(target=watch, name="watch-run", daemon=True).start()


def _stop_workers(pool: ProcessPoolExecutor, grace: float = STOP_GRACE) -> None:
    """Interrupted: stop the running builds too, not just the queue. tuxmake ends make on SIGTERM, but
    then its worker process lives on, idle, and the pool would wait for it forever; and on a loaded
    machine make may outlast the grace. Kill each worker's process group: make and compilers too."""
    processes = list(getattr(pool, "_processes", {}).values())  # the pool has no public way to reach them
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # each worker leads its own group
        process.join(5)


def _tail(path: Path, size: int = 16384) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", "replace")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

