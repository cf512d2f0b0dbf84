"""Executors: what runs many cell builds, and where.

An executor takes build requests and yields each attempt as soon as it is finished; it knows nothing of
the store, retries or verdicts (the pipeline does). `local` runs them in worker processes here; another
executor (a cluster, say) is a new module beside it that keeps the same small protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from ..build import BuildRequest, Finished, build_cell
from ..classify import one_line
from ..errors import Interrupted as Interrupted  # the executors raise it; the command line catches it
from ..models import BuildResult, Check, Status, Unit

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
