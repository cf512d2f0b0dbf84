"""Build cells with tuxmake, several at a time, and tell infrastructure errors from build failures.

Each cell runs in its own worker process: tuxmake's Build.run() installs a SIGTERM handler, which
Python only allows in a main thread, so threads cannot run builds side by side.

Build directories sit at a stable path per cell (emptied before every build) and ccache is shared:
tuxmake puts the build directory into KCFLAGS, so a fresh path per build would make every ccache
lookup miss across commits.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import select
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from . import containers, logparse
from .lock import Lock
from .models import FAIL, INFRA, MATRIX_ERROR, PASS, BuildResult, Cell, Diagnostic

# Commands tuxmake writes into build.log, and what they mean for progress.
TOOL_NOT_FOUND = re.compile(r"(?:^|\s)(\S+): (?:command )?not found$|(?:^|\s)(\S+): No such file or directory$")
STOP_GRACE = 5.0  # seconds tuxmake gets to stop make before the whole build is killed
ERROR_LINE = re.compile(r"\berror:|^ERROR: |\*\*\* ")


@dataclass
class Schedule:
    workers: int  # cells built at once
    jobs: int  # make -j of each


def schedule(cells: int, cores: int, jobs: Optional[int] = None, workers: Optional[int] = None) -> Schedule:
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
    output_dir: str  # results/<sha>/<cell-id>
    build_dir: str  # stable per cell, emptied before the build
    jobs: int
    runtime: str
    ccache_dir: str


class Interrupted(Exception):
    """The build was stopped by a signal; it has no result to store."""


def build_cell(request: BuildRequest) -> Optional[BuildResult]:
    """Run one cell's tuxmake build (in a worker process); None when it was interrupted."""
    _lenient_tuxmake_pipes()
    # A worker of a killed run may still be stopping make in this cell's build directory.
    with Lock(Path(request.build_dir).with_name(Path(request.build_dir).name + ".lock"), wait=True):
        return _build_cell(request)


def _build_cell(request: BuildRequest) -> Optional[BuildResult]:
    # Imported here so the parent process does not pay for it when every cell is already built.
    from tuxmake.build import Build
    from tuxmake.exceptions import TuxMakeException

    cell = request.cell
    # Build into <dir>.partial and swap it in when done: an interrupted rebuild keeps the old artifacts.
    final = Path(request.output_dir)
    output = partial_dir(final)
    build_dir = Path(request.build_dir)
    for directory in (output, build_dir):
        shutil.rmtree(directory, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)  # tuxmake does not make the parent
    output.mkdir()
    os.environ["CCACHE_DIR"] = request.ccache_dir
    os.environ.update(containers.environment(request.runtime))
    # Write the fragments into the artifacts, so what was merged is kept beside the log.
    fragment_files = []
    for index, fragment in enumerate(cell.fragments):
        path = output / "fragments" / f"{index}-{fragment.path.replace('/', '-')}"
        path.parent.mkdir(exist_ok=True)
        path.write_text(fragment.text)
        fragment_files.append(str(path))

    result = BuildResult(
        cell_id=cell.id,
        sha=request.sha,
        status=INFRA,
        definition=cell.definition,
        runtime=request.runtime,
        artifacts_dir=str(final),
    )
    started = time.monotonic()
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
    except Exception as error:  # tuxmake refused the build or crashed: not the commit's fault
        crashed = not isinstance(error, TuxMakeException)
        result.reason = _one_line(f"tuxmake crashed: {type(error).__name__}: {error}" if crashed else str(error))
        image = containers.image_name(cell.arch, cell.toolchain)
        if containers.engine(request.runtime) and not containers.has_image(request.runtime, image):
            result.reason += f"; make it with `orchestrate images build --arch {cell.arch} --toolchain {cell.toolchain}`"
        result.duration = time.monotonic() - started
        return _publish(output, final, result)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    if build.interrupted:
        return None

    result.duration = time.monotonic() - started
    result.targets = {name: info.status for name, info in build.status.items()}
    metadata = build.metadata
    result.compiler = metadata.get("compiler", {}).get("version_full", "")
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
    result.status, result.reason = verdict(cell, result.targets, log, config, roots, result.diagnostics)
    return _publish(output, final, result)


def _lenient_tuxmake_pipes() -> None:
    """tuxmake 1.45 reads build output through a strict UTF-8 text pipe, so a compiler echoing a source
    line with a Latin-1 byte kills the build with UnicodeDecodeError. In our worker processes only,
    make those pipes decode with errors="replace": the log keeps U+FFFD where the byte was."""
    import subprocess

    import tuxmake.runtime

    class LenientSubprocess:
        def __getattr__(self, name):
            return getattr(subprocess, name)

        @staticmethod
        def Popen(*args, **kwargs):
            if kwargs.get("universal_newlines") or kwargs.get("text"):
                kwargs.setdefault("errors", "replace")
            return subprocess.Popen(*args, **kwargs)

    tuxmake.runtime.subprocess = LenientSubprocess()


def partial_dir(final: Path) -> Path:
    return final.with_name(final.name + ".partial")


def _publish(partial: Path, final: Path, result: BuildResult) -> BuildResult:
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return result


def verdict(
    cell: Cell,
    targets: dict[str, str],
    log: str,
    config: str,
    prefixes: list[str],
    diagnostics: list[Diagnostic] = (),
) -> tuple[str, str]:
    """The status of a finished build, and the one-line reason for anything but a pass (pure)."""
    if targets.get("config") == "PASS":
        dropped = dropped_options(cell.required_options, config)
        if dropped:
            return MATRIX_ERROR, "Kconfig dropped what the cell asked for: " + ", ".join(dropped)
    if all(status in ("PASS", "WARNING") for status in targets.values()):
        return PASS, ""
    if targets.get("config") != "PASS":
        for line in log.splitlines():
            if match := TOOL_NOT_FOUND.search(line.strip()):
                tool = match[1] or match[2]
                if "/" not in tool or tool.startswith("/usr"):
                    return INFRA, f"toolchain not usable: {tool} not found"
    for diagnostic in diagnostics:
        if diagnostic.severity == "error":
            return FAIL, _one_line(f"{diagnostic.location}: error: {diagnostic.message}")
    return FAIL, first_error(log, prefixes)


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


def first_error(log: str, prefixes: list[str]) -> str:
    """The first error line of a log, with the tree and build paths cut to tree-relative ones."""
    for line in log.splitlines():
        if ERROR_LINE.search(line) and not line.startswith("make --silent"):
            for prefix in prefixes:
                line = line.replace(prefix.rstrip("/") + "/", "")
            return _one_line(line)
    return "build failed (no error line in the log)"


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
) -> Iterator[BuildResult]:
    """Build the requests `workers` at a time, yielding each result as soon as it is finished.

    on_progress(cell_id, state, detail) hears "queued", "building" (detail: current step) and "done".
    """
    if not requests:
        return
    for request in requests:
        on_progress(request.cell.id, "queued", "")
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),))
    try:
        pending = {pool.submit(build_cell, r): r for r in requests}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                request = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # the worker process itself died
                    result = BuildResult(
                        cell_id=request.cell.id,
                        sha=request.sha,
                        status=INFRA,
                        definition=request.cell.definition,
                        reason=_one_line(f"build worker died: {type(error).__name__}: {error}"),
                        runtime=request.runtime,
                    )
                if result is None:
                    raise Interrupted(request.cell.id)
                on_progress(request.cell.id, "done", result.status)
                yield result
            for request in pending.values():
                log = partial_dir(Path(request.output_dir)) / "build.log"
                if log.exists():
                    on_progress(request.cell.id, "building", current_step(_tail(log)))
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(run_pid: int) -> None:
    """Worker start. Lead a process group of its own, so make and the compilers it starts can be
    killed with it; and stop when the run that owns the pool dies. A run killed with SIGKILL cannot
    stop its builds, and its workers' parent is the pool's forkserver, which outlives it: without this
    an orphaned worker builds on beside the next run (its cell lock makes that run wait meanwhile)."""
    os.setpgid(0, 0)
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
        try:
            os.killpg(process.pid, signal.SIGKILL)  # each worker leads its own group
        except (ProcessLookupError, PermissionError):
            pass
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


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

