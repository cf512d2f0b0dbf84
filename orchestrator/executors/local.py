"""The local executor: builds in a pool of worker processes on this machine, with a watchdog.

Each worker leads a process group of its own (so make and its compilers are stopped with it) and
watches the run that owns it: a run killed with SIGKILL cannot stop its builds, so its workers stop
themselves. What workers print outside the build logs goes to a log file, not the user's terminal.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import tree
from ..build import BuildRequest, Finished, current_step, partial_dir, read_tail
from . import Interrupted, Progress, Started, Where, infra_result, quiet, run

STOP_GRACE = 5.0  # seconds tuxmake gets to stop make before the whole build is killed
JOBS_PER_CORE = 8  # make -j beyond this many jobs per core here only queues them (and their memory)


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
    return Schedule(workers=workers, jobs=min(jobs or cores, JOBS_PER_CORE * cores))


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)



def start(where: Where) -> Started:
    """A pool here, building from a worktree of the commit, the cores split between its cells."""
    checkout = tree.checkout(where.source, where.sha, where.work_root)
    plan = schedule(where.cells, cores(), where.jobs, where.workers)
    return Started(LocalExecutor(plan.workers, where.on_progress, where.work_root / "workers.log"), str(checkout), plan.jobs)


class LocalExecutor:
    """Builds requests `workers` at a time in worker processes, each yielded as soon as it is done."""

    def __init__(self, workers: int, on_progress: Progress = quiet, output: Path | None = None):
        self.workers = workers
        self.on_progress = on_progress
        self.output = str(output) if output else ""
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is not None:
            self.stop()
        elif self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def submit(self, requests: list[BuildRequest]) -> Iterator[Finished]:
        for request in requests:
            self.on_progress(request.cell.id, "queued", "")
        try:
            pending = {self._submit(request): request for request in requests}
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    request = pending.pop(future)
                    finished = _outcome(future, request)
                    if finished is None:
                        raise Interrupted(request.cell.id)
                    yield finished
                for request in pending.values():
                    log = partial_dir(Path(request.output_dir)) / "build.log"
                    if log.exists():
                        self.on_progress(request.cell.id, "building", current_step(read_tail(log)))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the running builds too, not just the queue. tuxmake ends make on SIGTERM, but then its
        worker process lives on, idle, and the pool would wait for it forever; and on a loaded machine
        make may outlast the grace. Kill each worker's process group: make and compilers too."""
        if self.pool is None:
            return
        processes = list(getattr(self.pool, "_processes", {}).values())  # the pool has no public way to reach them
        stop_groups(processes)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None

    def _submit(self, request: BuildRequest) -> Future:
        """A dead worker breaks the pool (its sibling builds fail too, and are retried): make it again."""
        if self.pool is None:
            self.pool = self._start()
        try:
            return self.pool.submit(run, request)
        except BrokenProcessPool:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = self._start()
            return self.pool.submit(run, request)

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=start_worker, initargs=(os.getpid(), self.output)
        )


def _outcome(future: Future, request: BuildRequest) -> Finished | None:
    try:
        return future.result()
    except Exception as error:  # the worker process itself died (killed, out of memory)
        result = infra_result(request.cell, request.sha, request.runtime, f"build worker died: {type(error).__name__}: {error}")
        partial = partial_dir(Path(request.output_dir))
        return Finished(request, result, partial if partial.is_dir() else None)


def stop_groups(processes: list) -> None:
    """Stop processes that lead their own group (pool workers, child builds): SIGTERM (tuxmake stops
    make), STOP_GRACE seconds, then SIGKILL to each whole group. Each has `pid`, `terminate()` and
    `join(timeout)` or `wait(timeout)`."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        _join(process, max(0.0, deadline - time.monotonic()))
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        _join(process, 5)


def _join(process: Any, timeout: float) -> None:
    if hasattr(process, "join"):
        process.join(timeout)
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)


def start_worker(run_pid: int, output: str) -> None:
    """Worker start. Lead a process group of its own, so make and the compilers it starts can be
    killed with it; and stop when the run that owns the pool dies. A run killed with SIGKILL cannot
    stop its builds, and its workers' parent is the pool's forkserver, which outlives it: without this
    an orphaned worker builds on beside the next run (its cell lock makes that run wait meanwhile).
    What the worker prints goes to `output` (appended), not to the terminal the run draws on."""
    os.setpgid(0, 0)
    if output:
        try:
            log = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
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
