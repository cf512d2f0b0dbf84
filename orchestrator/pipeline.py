"""The path from a matrix and a revision to stored results: the library API under the CLI and nightly."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import build, containers, executors, imported, regress, reuse, tree
from .build import BuildRequest
from .errors import MatrixError, RevisionError, TreeError, UserError, WorkRootError
from .executors import Executor, Progress, quiet
from .lock import Busy, Lock
from .matrix import ExecutorSettings, Matrix
from .models import (
    BuildResult,
    Cell,
    Check,
    Commit,
    Report,
    ReuseAudit,
    RootCause,
    Row,
    Status,
    Unit,
    Verdict,
    VerdictKind,
)
from .store import Store
from .views import export
from .workroot import prepare_work_root

Say = Callable[[str], None]
REUSE_DISTANCE = 1000  # first-parent commits searched for a result to reuse: farther, some input has changed


@dataclass
class CommitRun:
    commit: Commit
    results: list[BuildResult]  # one per selected cell, in matrix order
    built: list[str] = field(default_factory=list)  # cells built by this run (the rest were stored)
    kept: list[BuildResult] = field(default_factory=list)  # infrastructure errors that left a finished result
    reused: list[str] = field(default_factory=list)  # cells this run reused an earlier commit's result for
    audits: list[ReuseAudit] = field(default_factory=list)  # reused results this run built to check them

    @property
    def mismatches(self) -> list[ReuseAudit]:
        return [audit for audit in self.audits if audit.mismatch]


def source_tree(matrix: Matrix, override: Path | None) -> Path:
    if override is not None:
        return tree.check_tree(override)
    if matrix.tree.path is None:
        raise TreeError("the matrix's tree has no `path`", path=matrix.path)
    return tree.check_tree(matrix.tree.path)


def build_commit(
    matrix: Matrix,
    cells: Sequence[Unit],
    source: Path,
    rev: str,
    store: Store,
    *,
    runtime: str | None = None,
    jobs: int | None = None,
    workers: int | None = None,
    rebuild: bool = False,
    reuse: bool = True,
    verify_reuse: float = 0.0,
    executor: ExecutorSettings | None = None,
    work_root: Path | None = None,
    command: str = "orchestrate",
    on_progress: Progress = quiet,
    say: Say = lambda message: None,
) -> CommitRun:
    """Build every cell that has no result for `rev` yet (all of them with `rebuild`), storing each at once.

    A cell the commit provably cannot change (`reusable`) gets the result it had at the nearest earlier
    commit instead, unless `reuse` is off or `rebuild` on; `verify_reuse` is the fraction of such cells
    (and of those reused before) built anyway, to audit the proof (1.0: every one).

    Each cell of the commit is locked in the results store while it builds: a run that finds one held
    waits for it, then reads the store again and uses what the other run stored.

    `executor` says where cells are built (default: the matrix's); results never depend on it."""
    settings = executor or matrix.executor
    url = source_url(settings, matrix)
    commit = _known_commit(source, rev, store, say)
    sha = commit.sha
    todo = list(cells) if rebuild else store.missing(sha, cells)
    to_audit = {} if rebuild else _stored_reused(store, sha, [cell for cell in cells if cell not in todo], verify_reuse)
    todo += [cell for cell in cells if cell.id in to_audit]
    run = CommitRun(commit=commit, results=[])
    if todo:
        store.require_writable()
        with claim(store, sha, todo, rebuild, say) as todo:
            proposed = _proposals(store, source, sha, todo, to_audit, runtime) if reuse and not rebuild else {}
            todo = _reuse(run, store, todo, proposed, verify_reuse, on_progress)
            if todo:
                root = prepare_work_root(work_root)
                _require_shell_safe(store.root, root)
                with work_lock(root):
                    building = Building(settings, url, root, runtime, jobs, workers, command)
                    _build(run, matrix, todo, source, sha, store, building, on_progress, say)
            audited = [(cell_id, found) for cell_id, found in proposed.items() if is_audited(sha, cell_id, verify_reuse)]
            run.audits = [_audit(found, store.result(sha, cell_id, found.definition)) for cell_id, found in audited]
    results = [store.result(sha, cell.id, cell.definition) for cell in cells]
    run.results = [r for r in results if r is not None]
    return run


def _require_shell_safe(results: Path, work_root: Path) -> None:
    """tuxmake writes the paths it builds in and into into `sh -c` commands: a path a shell would read
    as more than one plain word (a space, `$(...)`) is refused before anything is built."""
    why = "holds characters a shell would read (tuxmake runs its build paths through sh); "
    why += "use a path made of letters, digits and / . _ + - @ % = : , only"
    if not build.shell_safe(results):
        raise UserError(f"results directory {results}: {why}", topic="results")
    if not build.shell_safe(work_root):
        raise WorkRootError(why, path=work_root)


def _known_commit(source: Path, rev: str, store: Store, say: Say) -> Commit:
    """The commit `rev` names, stored (saying so when the tree's HEAD has uncommitted changes: they are not built)."""
    sha = tree.resolve(source, rev)
    commit = tree.commit_info(source, sha)
    if tree.head(source) == sha and tree.has_uncommitted_changes(source):
        say(f"{source} has uncommitted changes: building the committed HEAD, {sha[:12]}")
    if store.commit(sha) != commit:  # a read-only store can still judge what it holds
        store.add_commit(commit)
    return commit


def is_audited(sha: str, cell_id: str, fraction: float) -> bool:
    """Whether a reusable cell of a commit is built anyway to audit the proof: a `fraction` of them,
    picked by a hash of both (the same cells on every run, spread evenly; none for 0, all for 1)."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(f"{sha}:{cell_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def _stored_reused(store: Store, sha: str, cells: Sequence[Unit], fraction: float) -> dict[str, BuildResult]:
    """cell id → the stored reused result of `sha` the audit picks among `cells`, to build and compare."""
    if fraction <= 0:
        return {}
    found = {}
    for cell in cells:
        if is_audited(sha, cell.id, fraction):
            stored = store.result(sha, cell.id, cell.definition)
            if stored is not None and stored.reused:
                found[cell.id] = stored
    return found


def _proposals(
    store: Store, source: Path, sha: str, todo: list[Unit], to_audit: dict[str, BuildResult], runtime: str | None
) -> dict[str, BuildResult]:
    """cell id → the result reusing an earlier one gives each of `todo`: the stored reused results the
    audit picked, and what `reusable` finds for the rest."""
    runtimes = choose_runtimes(todo, runtime, say=lambda message: None)  # said when one is built
    proposed = reusable(store, source, sha, [cell for cell in todo if cell.id not in to_audit], runtimes)
    proposed.update({cell.id: to_audit[cell.id] for cell in todo if cell.id in to_audit})
    return proposed


def _reuse(
    run: CommitRun, store: Store, todo: list[Unit], proposed: dict[str, BuildResult], fraction: float, on_progress: Progress
) -> list[Unit]:
    """Store the proposed results the audit does not pick; returns the cells still to build."""
    building = []
    for cell in todo:
        found = proposed.get(cell.id)
        if found is None or is_audited(found.sha, cell.id, fraction):
            building.append(cell)
            continue
        store.add_build(found)
        run.reused.append(cell.id)
        on_progress(cell.id, "reused", found.reused_from)
    return building


def reusable(store: Store, source: Path, sha: str, cells: Sequence[Unit], runtimes: dict[str, str]) -> dict[str, BuildResult]:
    """cell id → the result each of `cells` can take from the nearest first-parent ancestor with a
    recorded input set, for the cells where reuse.proof holds (and the runtime is the one it would
    build with now). Doubt (a shallow clone, a merge commit) reuses nothing."""
    wanted = {cell.id: (cell, store.with_inputs(cell.id, cell.definition) - {sha}) for cell in cells}
    wanted = {cell_id: pair for cell_id, pair in wanted.items() if pair[1]}
    if not wanted or tree.is_shallow(source) or len(tree.parents(source, sha)) != 1:
        return {}
    nearest: dict[str, str] = {}
    for ancestor in tree.first_parent_ancestors(source, sha, REUSE_DISTANCE):
        for cell_id, (_, shas) in list(wanted.items()):
            if ancestor in shas:
                nearest[cell_id] = ancestor
                del wanted[cell_id]
        if not wanted:
            break
    changes: dict[str, list[reuse.Change]] = {}
    found = {}
    for cell in cells:
        if cell.id not in nearest:
            continue
        earlier_sha = nearest[cell.id]
        earlier = store.result(earlier_sha, cell.id, cell.definition)
        read = store.inputs_of(earlier_sha, cell.id, cell.definition)
        if earlier is None or read is None or earlier.runtime != runtimes.get(cell.id):
            continue
        if earlier_sha not in changes:
            changes[earlier_sha] = reuse.parse_name_status(tree.name_status(source, earlier_sha, sha))
        if reuse.proof(changes[earlier_sha], read).reusable:
            found[cell.id] = replace(earlier, sha=sha, duration=0.0, inputs=read, reused_from=earlier.reused_from or earlier_sha)
    return found


def _audit(reused: BuildResult, now: BuildResult | None) -> ReuseAudit:
    """What building a reusable cell found, against what reusing it gave."""
    if now is None or now.reused or now.status == Status.INFRA:
        return ReuseAudit(reused.cell_id, reused.sha, reused.reused_from, reused.status, None)
    before, after = {d.fingerprint for d in reused.diagnostics}, {d.fingerprint for d in now.diagnostics}
    missing, extra = tuple(sorted(after - before)), tuple(sorted(before - after))
    return ReuseAudit(reused.cell_id, reused.sha, reused.reused_from, reused.status, now.status, missing, extra)


@dataclass(frozen=True)
class Building:
    """How a run builds: where (the executor and the URL its workers fetch from), with what, as what command."""

    executor: ExecutorSettings
    url: str | None
    work_root: Path
    runtime: str | None
    jobs: int | None
    workers: int | None
    command: str


def source_url(settings: ExecutorSettings, matrix: Matrix) -> str | None:
    """The URL a cluster's workers fetch commits from (None for the local executor); UserError when
    there is none: workers share no filesystem with this machine."""
    if settings.is_local:
        return None
    url = settings.source_url or matrix.tree.url
    if not url:
        raise MatrixError(
            f"the executor {settings.address} needs a URL its workers can fetch commits from: add `source_url` to `executor:` "
            "(git://, ssh://, https://, or a path every worker sees), or give the tree a `url`",
            where=str(matrix.path),
        )
    return url


def _build(
    run: CommitRun, matrix: Matrix, todo: list[Unit], source: Path, sha: str, store: Store, building: Building, on_progress: Progress, say: Say
) -> None:
    root = building.work_root
    runtimes = choose_runtimes(todo, building.runtime, say)
    jobs = building.jobs or matrix.jobs
    where = executors.Where(building.executor, building.url, source, sha, root, len(todo), jobs, building.workers, on_progress, say)
    started = executors.start(where)
    executor, checkout, jobs = started.executor, started.source, started.jobs
    ccache = os.path.abspath(os.environ.get("CCACHE_DIR") or root / "ccache")
    requests = [
        BuildRequest(
            cell=cell,
            sha=sha,
            source=str(checkout),
            output_dir=str(store.artifacts_dir(sha, cell.id)),
            build_dir=str(root / "builds" / cell.id),
            jobs=jobs or 0,  # 0 only for a cluster: each worker's own cores
            runtime=runtimes[cell.id],
            ccache_dir=ccache,
            work_root=str(root),
            timeout=matrix.timeout,
        )
        for cell in todo
    ]
    with executor:  # connects to a cluster before anything of the run is stored
        run_id = store.start_run(building.command, str(source))
        _store_attempts(run, executor, requests, store, run_id, matrix.retries, on_progress, say)
    store.finish_run(run_id)


def _store_attempts(
    run: CommitRun, executor: Executor, requests: list[BuildRequest], store: Store, run_id: int, retries: int, on_progress: Progress, say: Say
) -> None:
    """Store each attempt as it finishes. An infrastructure error is built again, up to `retries` times,
    once the others are done; its attempt is recorded (and its artifacts moved aside) first."""
    tries: dict[str, int] = {}
    while requests:
        again = []
        for finished in executor.submit(requests):
            attempt = finished.result
            tries[attempt.cell_id] = tries.get(attempt.cell_id, 0) + 1
            # A build stopped at the timeout is not built again: it would most likely take as long again.
            retrying = attempt.status == Status.INFRA and tries[attempt.cell_id] <= retries and not attempt.reason.startswith(build.TIMED_OUT)
            now = store.publish(attempt, finished.artifacts, run_id, retrying)
            if retrying:
                say(f"{attempt.cell_id}: infrastructure error ({attempt.reason}); building it again")
                on_progress(attempt.cell_id, "queued", f"again after: {attempt.reason}")
                again.append(finished.request)
                continue
            if attempt.status == Status.INFRA and now.status != Status.INFRA:
                say(f"{attempt.cell_id}: infrastructure error ({attempt.reason}); the stored {now.status.upper()} is kept")
                run.kept.append(attempt)
            on_progress(attempt.cell_id, "done", attempt.status)
            run.built.append(attempt.cell_id)
        requests = again


def import_results(
    matrix: Matrix,
    cells: dict[str, Path],
    source: Path,
    rev: str,
    store: Store,
    origin: str,
    command: str = "orchestrate import",
    replace_stored: bool = False,
) -> list[BuildResult]:
    """Store tuxmake artifacts built elsewhere (cell id → its directory) as the results of `rev`: read
    as a build here would be (imported.read_result), copied into the store, each in one transaction.
    Every directory is read before anything is stored: a bad one stores nothing. A cell that has a
    finished result already keeps it, unless `replace_stored`."""
    units = {unit.id: unit for unit in matrix.units}
    commit = _known_commit(source, rev, store, lambda message: None)
    results = []
    for cell_id, directory in cells.items():
        cell = units.get(cell_id)
        if not isinstance(cell, Cell):
            known = ", ".join(c.id for c in matrix.cells)
            raise UserError(
                f"{directory}: '{cell_id}' is not a cell of {matrix.path} (a check cannot be imported); the cells are {known}", topic="cells"
            )
        stored = store.result(commit.sha, cell.id, cell.definition)
        if stored is not None and stored.status != Status.INFRA and not replace_stored:
            raise UserError(
                f"{cell.id} at {commit.sha[:12]} has a result already ({stored.status.upper()}, {stored.runtime or 'built'}); "
                "importing would replace it: pass --replace to do so"
            )
        results.append(imported.read_result(directory, cell, commit.sha, origin))
    store.require_writable()
    run_id = store.start_run(command, str(source))
    published = []
    for result, directory in zip(results, cells.values(), strict=True):
        with Lock(store.cell_lock(commit.sha, result.cell_id), wait=True):
            partial = store.artifacts_dir(commit.sha, result.cell_id).with_name(result.cell_id + ".partial")
            imported.copy(imported.scan(directory), partial)
            published.append(store.publish(result, partial, run_id))
    store.finish_run(run_id)
    return published


@contextmanager
def claim(store: Store, sha: str, cells: list[Unit], rebuild: bool, say: Say) -> Iterator[list[Unit]]:
    """Lock each cell of `sha` in the results store and yield those still to build. A cell another run
    holds is waited for; then, if that run stored a finished result meanwhile, it is used, not rebuilt."""
    with ExitStack() as held:
        waited: dict[str, int | None] = {}  # cell → its result row before the wait
        for cell in cells:
            try:
                held.enter_context(Lock(store.cell_lock(sha, cell.id), wait=False, say=say))
            except Busy:
                waited[cell.id] = store.result_id(sha, cell.id, cell.definition)
        for cell in cells:
            if cell.id in waited:
                held.enter_context(Lock(store.cell_lock(sha, cell.id), wait=True, say=say))
        todo = []
        for cell in cells:
            if cell.id in waited:
                now = store.result(sha, cell.id, cell.definition)
                fresh = store.result_id(sha, cell.id, cell.definition) != waited[cell.id]
                if now is not None and now.status != Status.INFRA and (fresh or not rebuild):
                    say(f"{cell.id}: using the result the other run stored ({now.status.upper()})")
                    continue
            todo.append(cell)
        yield todo


def choose_runtimes(cells: list[Unit], override: str | None, say: Say) -> dict[str, str]:
    """cell id → the runtime it builds with: the override or its own, with `auto` made podman where
    podman can run the cell's image here and null elsewhere, saying why."""
    chosen: dict[str, str] = {}
    fallbacks: dict[str, list[str]] = {}
    for cell in cells:
        if isinstance(cell, Check):  # a check runs on the host
            chosen[cell.id] = "null"
            continue
        wanted = override or cell.runtime
        if wanted == "auto":
            reason = containers.why_not("podman", cell.arch, cell.toolchain)
            wanted = "podman" if reason is None else "null"
            if reason:
                fallbacks.setdefault(reason, []).append(cell.id)
        chosen[cell.id] = wanted
    in_podman = [c for c, r in chosen.items() if r == "podman"]
    if fallbacks:
        if in_podman:
            say(f"runtime auto: podman containers for {', '.join(in_podman)}")
        for reason, ids in fallbacks.items():
            say(f"runtime auto: the host toolchains for {', '.join(ids)}, because {reason}")
    elif in_podman and any((override or c.runtime) == "auto" for c in cells if not isinstance(c, Check)):
        say("runtime auto: podman containers for every cell")
    return chosen


@dataclass
class Baselines:
    """What each result is judged against: (cell, definition) → the baseline result, and the
    (cell, definition) whose search ran into the cut-off history of a shallow clone."""

    found: dict[tuple[str, str], BuildResult] = field(default_factory=dict)
    cut: frozenset[tuple[str, str]] = frozenset()


def baselines(
    store: Store, source: Path, results: list[BuildResult], base: str | None = None, say: Say = lambda message: None
) -> Baselines:
    """The result each of `results` is judged against: the one at `base` if given, else the nearest
    first-parent ancestor with a finished (pass or fail) result of the same cell definition. One walk
    up the first-parent line serves every cell of a commit. A shallow clone is deepened from its remote
    until the baselines are found; without a remote, cells whose search reached the cut are named."""
    found: dict[tuple[str, str], BuildResult] = {}
    if base is not None:
        for result in results:
            at_base = store.result(base, result.cell_id, result.definition)
            if regress.usable_baseline(at_base):
                found[(result.cell_id, result.definition)] = at_base
        return Baselines(found)
    wanted: dict[str, list[tuple[BuildResult, set[str]]]] = {}  # sha → its cells' candidate baselines
    for result in results:
        candidates = store.finished_shas(result.cell_id, result.definition) - {result.sha}
        if candidates:
            wanted.setdefault(result.sha, []).append((result, candidates))
    cut: set[tuple[str, str]] = set()
    for sha, cells in wanted.items():
        while _walk(source, sha, cells, found, store) and cells:  # walked all the history there is
            shallow = tree.is_shallow(source)
            if not shallow or not tree.deepen(source, sha, say):
                if shallow:
                    cut.update((result.cell_id, result.definition) for result, _ in cells)
                break
    return Baselines(found, frozenset(cut))


def _walk(source: Path, sha: str, cells: list, found: dict, store: Store, limit: int = 100_000) -> bool:
    """Match `cells` (result, candidates) to their nearest ancestors with a result, removing those
    found; True when the walk reached the end of the history git has (not the limit)."""
    walked = 0
    for ancestor in tree.first_parent_ancestors(source, sha, limit):
        walked += 1
        for result, candidates in list(cells):
            if ancestor in candidates:
                found[(result.cell_id, result.definition)] = store.result(ancestor, result.cell_id, result.definition)
                cells.remove((result, candidates))
        if not cells:
            return False
    return walked < limit


def verdicts(
    store: Store, source: Path, results: list[BuildResult], base: str | None = None, say: Say = lambda message: None
) -> list[Verdict]:
    """Each result judged against its baseline."""
    known = baselines(store, source, results, base, say)
    keys = [(r.cell_id, r.definition) for r in results]
    return [regress.compare(r, known.found.get(key), key in known.cut) for r, key in zip(results, keys, strict=False)]


def history_cut_note(source: Path, found: list[Verdict]) -> str | None:
    """What to say when a failure could not be judged because the clone's history is cut off."""
    cells = [v.cell_id for v in found if v.kind == VerdictKind.BASELINE_UNKNOWN and v.status == Status.FAIL]
    if not cells:
        return None
    return (
        f"{source} is a shallow clone with no remote to deepen it from: the baselines of {', '.join(cells)} "
        "lie beyond its history, so their failures are not judged as regressions; run `git fetch --unshallow` there"
    )


def report(
    store: Store,
    source: Path,
    spec: str,
    cells: list[str] | None = None,
    base: str | None = None,
    label: str = "range",
    say: Say = lambda message: None,
    fail_on_warnings: bool = False,
) -> Report:
    """The commits × cells table for a range `A..B` (A shown first) or one rev, oldest first, and its
    regressions grouped by root cause, with the first bad commits stored bisections found for them."""
    shas = tree.first_parent_range(source, spec, label)
    results = store.results_for(shas)
    if not results:
        what = f"its {len(shas)} commits" if len(shas) > 1 else shas[0][:12]
        raise RevisionError(f"no stored results for {what}", label=label, rev=spec, topic="unbuilt")
    if cells is None:
        cells = sorted({cell for _, cell in results})
    stored = store.commits(shas)
    commits = [(sha, (stored.get(sha) or tree.commit_info(source, sha)).subject) for sha in shas]
    position = {sha: index for index, sha in enumerate(shas)}
    first_with: dict[str, BuildResult] = {}  # each cell's first row in the table
    for (sha, cell), result in results.items():
        if cell in cells and (cell not in first_with or position[sha] < position[first_with[cell].sha]):
            first_with[cell] = result
    earlier = baselines(store, source, list(first_with.values()), base, say)
    if base is not None:  # every row against the same base: no row becomes the next one's baseline
        rows = [regress.table([commit], results, cells, earlier.found)[0] for commit in commits]
    else:
        rows = regress.table(commits, results, cells, earlier.found, earlier.cut)
    for row in rows:
        row.author = stored[row.sha].author if row.sha in stored else ""
    made = Report(rows=rows, cells=cells, results=results, commits=stored)
    causes = regress.root_causes(export.regressions(made, fail_on_warnings), fail_on_warnings)
    made.causes = regress.with_first_bad(causes, store.first_bad(shas))
    return made


def causes(store: Store, commit: Commit, found: list[Verdict], fail_on_warnings: bool = False) -> list[RootCause]:
    """A commit's regressions among `found`, one entry per root cause, with the first bad commits
    stored bisections found for them."""
    row = Row(sha=commit.sha, subject=commit.subject, verdicts={})
    causes = regress.root_causes([(row, v) for v in found if v.is_regression(fail_on_warnings)], fail_on_warnings)
    return regress.with_first_bad(causes, store.first_bad([commit.sha]))


def exit_code(results: list[BuildResult], found: list[Verdict], fail_on_warnings: bool = False, mismatches: Sequence[ReuseAudit] = ()) -> int:
    """2 when a reused result differed from building the cell (a bug in the reuse rule, never accepted);
    else 1 for a regression; else 2 for an infrastructure or matrix error, or a failure that could not be
    judged (its history is cut off); else 0."""
    if mismatches:
        return 2
    if any(v.is_regression(fail_on_warnings) for v in found):
        return 1
    if {r.status for r in results} & {Status.INFRA, Status.MATRIX_ERROR}:
        return 2
    if any(v.kind == VerdictKind.BASELINE_UNKNOWN and v.status == Status.FAIL for v in found):
        return 2
    return 0


def range_exit_code(codes: list[int]) -> int:
    """The exit code of a range from its commits': 1 if any regressed, else the worst of the rest."""
    return 1 if 1 in codes else max(codes, default=0)


def work_lock(work_root: Path) -> Lock:
    """One run at a time per work root: build directories there are shared between runs."""
    return Lock(Path(work_root) / "lock", wait=True)
