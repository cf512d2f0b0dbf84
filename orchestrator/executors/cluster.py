"""The Dask executor: one task per (commit, cell) on a Dask `distributed` cluster.

Any number of `dask worker` processes, on any machines, run `on_worker.build`; this client sends the
tasks, shows which worker builds which cell, unpacks each result's artifacts where the local executor
would have built them, and yields it to the pipeline, which stores it (one writer). A worker that dies
mid-build has its task run again elsewhere by the scheduler (distributed's own `allowed-failures`); a
task that keeps losing its worker comes back as an infrastructure error saying so.

A Dask scheduler runs whatever its clients send on every worker: reachable by others, it is remote code
execution. Use tls:// with certificates, on a private network (README: Scaling out).
"""

from __future__ import annotations

import contextlib
import logging
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..build import BuildRequest, Finished, partial_dir
from ..classify import one_line
from ..errors import InfraError
from ..matrix import ExecutorSettings
from . import Interrupted, Progress, Started, Where, infra_result, on_worker, quiet

CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler and hear from it, at the start
CALL_TIMEOUT = 30.0  # seconds the scheduler has to answer any later call: then it is lost
POLL = 0.5  # seconds between looks at what runs where


class ClusterError(InfraError):
    """The Dask scheduler cannot be reached, or was lost during the run."""

    template = "Dask scheduler {address}: {detail}"


def start(where: Where) -> Started:
    """The cluster's workers, each checking out the commit from `where.url` itself."""
    return Started(DaskExecutor(where.settings, str(where.url), where.jobs, where.on_progress, where.say), str(where.source), where.jobs)


class DaskExecutor:
    """Builds requests on the workers of the Dask scheduler at `settings.address`, fetching from `url`."""

    def __init__(
        self, settings: ExecutorSettings, url: str, jobs: int | None = None, on_progress: Progress = quiet, say: Callable[[str], None] = print
    ):
        self.settings = settings
        self.say = say
        self.url = url
        self.jobs = jobs
        self.on_progress = on_progress
        self.run = uuid.uuid4().hex
        self.client: Any = None  # distributed.Client, once connected
        self.futures: dict[Any, BuildRequest] = {}
        self.workers: dict[str, str] = {}  # cell id → the worker last seen building it

    def __enter__(self) -> DaskExecutor:
        self.client = connect(self.settings)
        workers = len(self._ask("the list of its workers", self.client.scheduler_info).get("workers", {}))
        if workers == 0:
            self.say(f"the Dask scheduler {self.settings.address} has no workers yet: the cells wait for one")
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is not None:
            self.stop()
        self._close()

    def submit(self, requests: list[BuildRequest]) -> Iterator[Finished]:
        for request in requests:
            self.on_progress(request.cell.id, "queued", "")
        try:
            self.futures = {self._submit(request): request for request in requests}
            while self.futures:
                for future in _first_done(list(self.futures)):
                    yield self._finished(future, self.futures.pop(future))
                self._show_workers()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel what is queued and stop what is running, on every worker (Dask cannot stop a task
        that is running: on_worker.stop kills its build)."""
        if self.client is None:
            return
        futures, self.futures = list(self.futures), {}
        with contextlib.suppress(Exception):  # a lost or mute scheduler: its workers lose the tasks with it
            self._ask("to cancel the run's tasks", self.client.cancel, futures, force=True)
            self._ask("to stop the run's builds", self.client.run, on_worker.stop, self.run, wait=True)

    def _close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # a lost scheduler: nothing to close
                self._ask("to close the connection", self.client.close, timeout=5)
            self.client = None

    def _ask(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return within(CALL_TIMEOUT, f"it did not answer within {CALL_TIMEOUT:g} s when asked {what}", self.settings.address, call, *args, **kwargs)

    def _submit(self, request: BuildRequest) -> Any:
        task = on_worker.Task(request.cell, request.sha, self.url, request.runtime, self.jobs, self.run, request.timeout)
        key = f"orchestrate-{request.cell.id}-{request.sha[:12]}-{uuid.uuid4().hex[:12]}"  # a retry is a new task
        return self.client.submit(on_worker.build, task, key=key, pure=False)

    def _finished(self, future: Any, request: BuildRequest) -> Finished:
        """The attempt a finished task gives: its result with the artifacts unpacked into the partial
        directory, or an infrastructure error when the task itself failed."""
        from distributed import KilledWorker

        if future.status == "cancelled":
            raise ClusterError(f"lost during the run (the build of {request.cell.id} was cancelled)", address=self.settings.address)
        try:
            outcome: on_worker.Outcome = future.result()
        except KilledWorker as error:
            return _infra(request, f"the build lost its Dask worker each time it ran (last {_worker_of(error)}); retried by the scheduler")
        except Exception as error:  # the task raised: a worker without orchestrator, a broken worker
            return _infra(request, f"the Dask task failed: {type(error).__name__}: {error}")
        if outcome.result is None:
            raise Interrupted(request.cell.id)
        self._assigned(request.cell.id, outcome.worker)  # a task quicker than a look at the scheduler
        partial = partial_dir(Path(request.output_dir))
        if outcome.artifacts is None:
            return Finished(request, outcome.result, None)
        try:
            on_worker.unpack(outcome.artifacts, partial)
        except (OSError, ValueError, tarfile.TarError) as error:  # TarError: a member outside the directory, say
            return _infra(request, f"cannot unpack the artifacts from {outcome.worker}: {error}")
        return Finished(request, outcome.result, partial)

    def _assigned(self, cell_id: str, worker: str) -> None:
        if self.workers.get(cell_id) != worker:
            self.workers[cell_id] = worker
            self.on_progress(cell_id, "worker", worker)

    def _show_workers(self) -> None:
        """Say which worker builds which cell, when that changes."""
        by_key = {future.key: request for future, request in self.futures.items()}
        try:
            if self.client.status in ("closing", "closed"):
                raise ConnectionError("the connection closed")
            processing = self._ask("what its workers run", self.client.processing)
        except Exception as error:
            raise ClusterError(f"lost during the run ({one_line(str(error))})", address=self.settings.address) from None
        for worker, keys in processing.items():
            for key in keys:
                request = by_key.get(key)
                if request is not None:
                    self._assigned(request.cell.id, worker)


def _first_done(futures: list[Any]) -> list[Any]:
    """Those of `futures` done within POLL seconds: as soon as one is (a finished build is stored at
    once), else none, for a look at the workers."""
    from distributed import wait

    with contextlib.suppress(Exception):  # a timeout; or cancelled futures (a lost scheduler), said by _finished
        wait(futures, timeout=POLL, return_when="FIRST_COMPLETED")
    return [future for future in futures if future.done()]


def connect(settings: ExecutorSettings) -> Any:
    """A distributed.Client of the scheduler, or ClusterError in one line."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("the distributed package is not installed here (pip install distributed)", address=settings.address) from None
    # distributed logs a lost scheduler on stderr by itself; here that is said once, as an error.
    logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)
    mute = f"accepts connections but does not answer within {CONNECT_TIMEOUT:g} s (is it a Dask scheduler?)"
    try:
        return within(CONNECT_TIMEOUT + 5, mute, settings.address, Client, settings.address, security=security(settings),
                      timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)  # fmt: skip
    except ClusterError:
        raise
    except Exception as error:  # OSError, TimeoutError, TLS errors: all mean "cannot use it"
        raise ClusterError(f"cannot be reached ({one_line(str(error)) or type(error).__name__})", address=settings.address) from None


def within(seconds: float, silence: str, address: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call(*args, **kwargs)`, or ClusterError(silence) when it has not returned after `seconds`.

    distributed bounds its calls in parts only: a scheduler that accepts the connection and never
    answers keeps `Client()` (its handshake) and later calls waiting forever. The call runs in a daemon
    thread, which is left behind when it does not return (it cannot be stopped, and keeps no exit
    waiting); this thread stays free to take Ctrl-C or SIGTERM."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call(*args, **kwargs)
        except BaseException as error:  # handed to the caller, raised there
            outcome["error"] = error

    worker = threading.Thread(target=run, name="dask-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise ClusterError(silence, address=address)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def security(settings: ExecutorSettings) -> Any:
    """distributed's TLS settings: the matrix's certificate files, else distributed's own configuration
    (DASK_DISTRIBUTED__COMM__TLS__* in the environment)."""
    from distributed.security import Security

    if settings.tls_ca_file or settings.tls_cert:
        return Security(
            tls_ca_file=settings.tls_ca_file,
            tls_client_cert=settings.tls_cert,
            tls_client_key=settings.tls_key,
            require_encryption=True,
        )
    return Security()


def _infra(request: BuildRequest, reason: str) -> Finished:
    return Finished(request, infra_result(request.cell, request.sha, request.runtime, reason), None)


def _worker_of(error: Exception) -> str:
    """The worker a KilledWorker names (its `last_worker`), else its message."""
    last = getattr(error, "last_worker", None)
    return str(getattr(last, "address", "") or error)
