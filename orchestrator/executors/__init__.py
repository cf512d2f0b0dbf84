"""Executors: what runs many cell builds, and where.

An executor takes build requests and yields each attempt as soon as it is finished; it knows nothing of
the store, retries or verdicts (the pipeline does). `local` runs them in worker processes here, `cluster`
on a Dask cluster's workers. Which one a run gets is chosen by its address's scheme in OPENERS, the one
registry: another executor (Kubernetes, SSH) is a module beside these with a `start(Where) -> Started`
function and a line there (and its scheme in the matrix schema's address pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..build import BuildRequest, Finished, build_cell
from ..classify import one_line
from ..errors import Interrupted as Interrupted  # the executors raise it; the command line catches it
from ..models import BuildResult, Check, Status, Unit

if TYPE_CHECKING:
    from ..matrix import ExecutorSettings

# on_progress(cell_id, state, detail): "queued", then "building" with the step it is on; "worker" with
# the address of the cluster worker that took the cell.
Progress = Callable[[str, str, str], None]


def quiet(cell_id: str, state: str, detail: str) -> None:
    """A Progress that says nothing."""


def run(request: BuildRequest) -> Finished | None:
    """Run one request in this (worker) process: a cell's tuxmake build, or a check's own code; None
    when it was interrupted."""
    if isinstance(request.cell, Check):
        from ..checks import uapi_abi  # imported where it runs: a worker building cells never needs it

        return uapi_abi.run(request)
    return build_cell(request)


def infra_result(cell: Unit, sha: str, runtime: str, reason: str) -> BuildResult:
    """An infrastructure error of `cell` at `sha`: an attempt that finished nothing."""
    return BuildResult(cell_id=cell.id, sha=sha, status=Status.INFRA, definition=cell.definition, reason=one_line(reason), runtime=runtime)


class Executor(Protocol):
    def submit(self, requests: list[BuildRequest]) -> Iterator[Finished]:
        """Build `requests`, yielding each attempt as it finishes; Interrupted when a build was stopped."""
        ...

    def stop(self) -> None:
        """Stop every running build, leaving nothing running."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        """Done with it: on an exception, stop() first."""
        ...


@dataclass(frozen=True)
class Where:
    """What starting an executor for one commit's builds may need to know."""

    settings: ExecutorSettings  # the matrix's `executor:` (or --executor)
    url: str | None  # what remote workers fetch the commit from
    source: Path  # the tree
    sha: str
    work_root: Path
    cells: int  # how many requests there will be
    jobs: int | None  # make -j per cell, if the matrix or the command line says
    workers: int | None  # cells at once, if the command line says
    on_progress: Progress
    say: Callable[[str], None]


@dataclass(frozen=True)
class Started:
    executor: Executor
    source: str  # the checkout the requests name: a worktree here; the tree, for workers that check out their own
    jobs: int | None  # make -j per cell (None: each worker's own cores)


# The scheme of the executor's address → "module:function" that starts it (imported when used).
OPENERS = {
    "local": "orchestrator.executors.local:start",
    "tcp": "orchestrator.executors.cluster:start",
    "tls": "orchestrator.executors.cluster:start",
}


def start(where: Where) -> Started:
    """The executor the address names, ready to take the commit's requests (imported only when used)."""
    scheme = where.settings.address.partition("://")[0]
    module, _, function = OPENERS[scheme].partition(":")
    started: Started = getattr(import_module(module), function)(where)
    return started
