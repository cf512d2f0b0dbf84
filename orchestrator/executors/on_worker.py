"""What a Dask worker runs for the cluster executor: one cell of one commit, on the worker's own disk.

The worker shares nothing with the client but the tree's URL: it fetches the commit into a mirror under
its own work root (ORCHESTRATOR_WORK of the worker process), checks it out, builds the cell there with
its own ccache, and sends back the result and the artifacts as one compressed archive. It never
touches a results store: the client is the only writer.

The build itself runs in a child process (executors/child.py): tuxmake's Build.run() installs a signal
handler, which Python refuses outside a main thread (a Dask task runs in a worker thread), and a Dask
worker is a daemonic process, which may not have a process pool. The child stops itself (make and its
compilers too) when the worker process dies.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import mirror, tree
from ..build import ARTIFACTS_LIMIT, BuildRequest, Finished, partial_dir, shell_safe
from ..errors import InfraError
from ..lock import Lock
from ..models import BuildResult, Unit
from ..workroot import prepare_work_root
from . import infra_result, local


@dataclass(frozen=True)
class Task:
    """One (commit, cell) for a worker. `run` names the client's run, so it can stop its builds."""

    cell: Unit
    sha: str
    url: str  # where the worker fetches `sha` from
    runtime: str
    jobs: int | None  # make -j; None: the worker's cores
    run: str
    timeout: float | None = None  # seconds the build may take


@dataclass(frozen=True)
class Outcome:
    """What comes back: the result (None: the build was stopped), the artifacts as a gzipped tar (None:
    nothing worth keeping), and which worker built it."""

    result: BuildResult | None
    artifacts: bytes | None
    worker: str


_running: dict[str, list[subprocess.Popen]] = {}  # client run → its builds running in this worker
_guard = threading.Lock()
_stopped: set[int] = set()  # build processes a client asked to stop: killed, they are no fault


def build(task: Task) -> Outcome:
    """Fetch, check out and build `task` on this worker (in a Dask worker thread)."""
    from distributed import get_worker

    worker = get_worker().address
    root = prepare_work_root()
    if not shell_safe(root):  # tuxmake writes build paths into `sh -c` commands
        reason = f"worker {worker}: its work directory {root} holds characters a shell would read; give the worker a plain ORCHESTRATOR_WORK"
        return Outcome(infra_result(task.cell, task.sha, task.runtime, reason), None, worker)
    # One build at a time per work root: the checkout is one worktree, moved from commit to commit.
    with Lock(root / "worker.lock", wait=True, say=lambda message: None):
        try:
            checkout = tree.checkout(_fetched(task, root), task.sha, root)
        except InfraError as error:
            return Outcome(infra_result(task.cell, task.sha, task.runtime, f"worker {worker}: {error}"), None, worker)
        request = BuildRequest(
            cell=task.cell,
            sha=task.sha,
            source=str(checkout),
            output_dir=str(root / "outgoing" / task.cell.id),
            build_dir=str(root / "builds" / task.cell.id),
            jobs=task.jobs or local.cores(),
            runtime=task.runtime,
            ccache_dir=str(root / "ccache"),
            work_root=str(root),
            timeout=task.timeout,
        )
        finished = _build(task.run, request, root)
        if finished is None:
            return Outcome(None, None, worker)
        try:
            return Outcome(finished.result, pack(finished.artifacts) if finished.artifacts else None, worker)
        finally:
            if finished.artifacts:
                shutil.rmtree(finished.artifacts, ignore_errors=True)


def stop(run: str) -> int:
    """Stop every build of the client run `run` in this worker (sent to all workers by the client when
    it is interrupted: Dask cannot stop a task that is running); the number stopped."""
    with _guard:
        processes = list(_running.get(run, []))
        _stopped.update(process.pid for process in processes)
    local.stop_groups(processes)
    return len(processes)


def _build(run: str, request: BuildRequest, root: Path) -> Finished | None:
    """Build `request` in a child process (executors/child.py); None when it was stopped."""
    exchange = root / "outgoing" / f"{request.cell.id}.exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    asked, answer = exchange / "request", exchange / "result"
    answer.unlink(missing_ok=True)
    asked.write_bytes(pickle.dumps(request))
    command = [sys.executable, "-m", "orchestrator.executors.child", str(os.getpid()), str(root / "workers.log"), str(asked), str(answer)]
    with _guard:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        _running.setdefault(run, []).append(process)
    try:
        process.wait()
    finally:
        with _guard:
            _running[run].remove(process)
            if not _running[run]:
                del _running[run]
            stopped = process.pid in _stopped
            _stopped.discard(process.pid)
    try:
        finished: Finished | None = pickle.loads(answer.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError):  # the child died before it could answer
        if stopped:
            return None
        ended = f"signal {-process.returncode}" if process.returncode < 0 else f"exit status {process.returncode}"
        output = partial_dir(Path(request.output_dir))
        reason = f"the build process ended without a result ({ended})"
        return Finished(request, infra_result(request.cell, request.sha, request.runtime, reason), output if output.is_dir() else None)
    finally:
        shutil.rmtree(exchange, ignore_errors=True)
    return finished


def _fetched(task: Task, root: Path) -> Path:
    """This worker's mirror of the task's URL, holding its commit (fetched when it does not yet)."""
    repo = mirror.ensure_mirror(task.url, root)
    if not _has_commit(repo, task.sha):
        # Branches and tags first (any server allows those), then the commit by name (servers that
        # allow it reach a commit no branch holds any more).
        mirror.fetch(repo, task.url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
        if not _has_commit(repo, task.sha):
            mirror.fetch(repo, task.url, task.sha)
    return repo


def _has_commit(repo: Path, sha: str) -> bool:
    try:
        tree.git(repo, "cat-file", "-e", f"{sha}^{{commit}}")
        return True
    except InfraError:
        return False


def pack(directory: Path) -> bytes:
    """A directory's files as a gzipped tar, paths relative to it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        for path in sorted(directory.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return buffer.getvalue()


def unpack(archive: bytes, directory: Path) -> None:
    """Unpack `pack`'s archive into `directory` (made empty first). Only plain files and directories
    inside it are written (tarfile's "data" filter): a worker cannot write elsewhere on the client."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = tar.getmembers()
        if sum(member.size for member in members) > ARTIFACTS_LIMIT:
            raise ValueError(f"artifacts of more than {ARTIFACTS_LIMIT} bytes")
        tar.extractall(directory, members=members, filter="data")
