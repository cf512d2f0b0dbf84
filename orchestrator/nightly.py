"""The nightly run: fetch every branch the matrix names, build what is new, judge it against the
previous nightly's tip, prune old artifacts, leave a report under results/nightly/<UTC date>/, and
mail it when the matrix says to whom.

A branch's nightly is recorded only when all its builds are done: a run that is killed leaves the
branch where it was, so the next run finds the same new commits, skips the cells already stored
and builds only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from . import mirror, pipeline, regress, retention, runs, tree, workroot
from .choices import DEFAULT_MAX_COMMITS
from .errors import FetchError, MailError
from .lock import Lock
from .matrix import ExecutorSettings, Matrix, TreeSpec
from .models import BranchRun, BranchState, MailSettings, Nightly, Unit
from .safefile import write_text_atomic
from .store import Store
from .views import export, html, mail


@dataclass
class Options:
    each: bool = False  # build every new commit (newest first, up to max_commits), not only the tip
    max_commits: int = DEFAULT_MAX_COMMITS
    runtime: str | None = None
    jobs: int | None = None
    keep_days: int | None = None  # None: the matrix's nightly.keep_days
    disk_budget: int | None = -1  # bytes; -1: the matrix's nightly.disk_budget; None: no limit
    wait: bool = False  # wait for another nightly to finish instead of refusing to start
    reuse: bool = True  # reuse a result where the commit provably left the cell's inputs unchanged
    verify_reuse: float | None = None  # the fraction of reused results built anyway; None: the matrix's nightly.verify_reuse
    fail_on_warnings: bool = False
    executor: ExecutorSettings | None = None  # None: the matrix's


@dataclass
class BranchPlan:
    state: BranchState
    commits: list[str]  # to build, newest first
    detail: str  # one line for the report


def plan_branch(
    previous: str | None,
    tip: str,
    new: list[str],
    total_new: int,
    force_pushed: bool,
    each: bool,
    tip_complete: bool,
) -> BranchPlan:
    """What to build of a branch (pure). new: the newest first-parent commits not in `previous`
    (at most the limit), total_new: how many there are in all; tip_complete: every cell has a
    result at `tip` already."""
    if previous is None:
        return BranchPlan(BranchState.FIRST, [tip], "first nightly of this branch: building its tip")
    if previous == tip:
        if tip_complete:
            return BranchPlan(BranchState.NOTHING_NEW, [], f"nothing new since {previous[:12]}")
        return BranchPlan(BranchState.NOTHING_NEW, [tip], f"nothing new since {previous[:12]}; building the cells it lacks")
    commits = list(new) if each else [tip]
    plural = "s" if total_new != 1 else ""
    what = f"{total_new} new commit{plural}"
    if each and total_new > len(commits):
        what += f", building the newest {len(commits)}"
    elif each:
        what += ", building each"
    else:
        what += ", building the tip"
    if force_pushed:
        return BranchPlan(BranchState.FORCE_PUSHED, commits, f"force-pushed: the previous tip {previous[:12]} is no longer on it; {what}")
    return BranchPlan(BranchState.NEW, commits, what)


def exit_code(nightly: Nightly) -> int:
    """2 when a reused result differed from building the cell (a bug in the reuse rule) or the report's
    mail could not be sent; else 1 for a
    regression on any branch; else 2 for a failed fetch or an infrastructure or matrix error; else 0."""
    if nightly.mail_failed or any(audit.mismatch for b in nightly.branches for audit in b.audits):
        return 2
    if any(b.regressions(nightly.fail_on_warnings) for b in nightly.branches):
        return 1
    return 2 if any(b.infra for b in nightly.branches) else 0


def lock_path(store: Store) -> Path:
    return store.inside(store.root / "nightly" / "lock")


def run(
    matrix: Matrix,
    cells: list[Unit],
    store: Store,
    options: Options | None = None,
    work_root: Path | None = None,
    say: Callable[[str], None] = lambda message: None,
    progress: Callable[[str], AbstractContextManager] = lambda title: nullcontext(None),
) -> Nightly:
    """One nightly over every tree and branch of the matrix. Raises lock.Busy when another nightly
    holds the results directory and options.wait is off.

    progress(title) is entered around each commit's builds; what it yields, if not None, is called
    as update(cell, state, detail) while they run."""
    options = options or Options()
    work_root = workroot.prepare_work_root(work_root)
    with Lock(lock_path(store), wait=options.wait, say=say):
        now = datetime.now(UTC)
        nightly = Nightly(
            date=now.strftime("%Y-%m-%d"),
            started=now.isoformat(timespec="seconds"),
            matrix=str(Path(matrix.path).absolute()),
            results=str(store.root),
            cells=[c.id for c in cells],
            fail_on_warnings=options.fail_on_warnings,
        )
        for spec in matrix.trees:
            for branch in mirror.branches(spec):
                nightly.branches.append(_run_branch(matrix, cells, store, options, work_root, spec, branch, say, progress))
        keep_days = matrix.nightly.keep_days if options.keep_days is None else options.keep_days
        budget = matrix.nightly.disk_budget if options.disk_budget == -1 else options.disk_budget
        nightly.pruned = retention.prune(store, keep_days, budget)
        nightly.finished = datetime.now(UTC).isoformat(timespec="seconds")
        return nightly


def _run_branch(
    matrix: Matrix,
    cells: list[Unit],
    store: Store,
    options: Options,
    work_root: Path,
    spec: TreeSpec,
    branch: str,
    say: Callable[[str], None],
    progress: Callable[[str], AbstractContextManager],
) -> BranchRun:
    run = BranchRun(tree=spec.name, branch=branch, source=spec.source)
    say(f"{spec.name} {branch}: fetching from {spec.source}" if spec.url else f"{spec.name} {branch}: reading {spec.source}")
    try:
        repo, tip = run.repo, run.tip = mirror.update(spec, branch, work_root)
    except FetchError as error:
        run.detail = str(error)
        say(f"{spec.name} {branch}: {run.detail}")
        return run
    run.previous_tip = previous = store.last_nightly_tip(spec.name, branch)
    new: list[str] = []
    total, force_pushed = 0, False
    if previous is not None and previous != tip:
        force_pushed = not tree.is_ancestor(repo, previous, tip)
        new, total = tree.new_commits(repo, tip, previous, options.max_commits)
    complete = previous == tip and not store.missing(tip, cells)
    plan = plan_branch(previous, tip, new, total, force_pushed, options.each, complete)
    run.state, run.detail = plan.state, plan.detail
    say(f"{spec.name} {branch}: {plan.detail}")
    road = runs.Road(
        matrix,
        cells,
        repo,
        store,
        runtime=options.runtime,
        jobs=options.jobs,
        reuse=options.reuse,
        verify_reuse=matrix.nightly.verify_reuse if options.verify_reuse is None else options.verify_reuse,
        executor=executor_for(options, matrix, spec),
        work_root=work_root,
        command=f"orchestrate nightly ({spec.name} {branch})",
        say=say,
    )
    for done in road.commits(plan.commits, lambda sha: progress(f"{spec.name} {branch}: building {sha[:12]}")):
        run.built += len(done.built)
        run.built_cells.update(done.built)
        run.reused += len(done.reused)
        run.audits += done.audits
        run.results.extend(done.results + done.kept)  # a kept result still had a failed attempt
    _judge(run, repo, store, cells, list(reversed(plan.commits)), options.fail_on_warnings)
    if not options.each and not force_pushed and len(new) > 1:
        _bisect(run, replace(road, command=f"orchestrate nightly ({spec.name} {branch}: bisect)"), options.fail_on_warnings)
    store.record_nightly(spec.name, branch, spec.source, previous, tip, run.state)
    return run


def executor_for(options: Options, matrix: Matrix, spec: TreeSpec) -> ExecutorSettings:
    """Where the branch's cells are built: its workers fetch from the tree's own URL (a remote tree),
    else from the executor's source_url."""
    settings = options.executor or matrix.executor
    return settings if settings.source_url or not spec.url else replace(settings, source_url=spec.url)


def _bisect(run: BranchRun, road: runs.Road, fail_on_warnings: bool) -> None:
    """Where the tip's regressions began, when more than one new commit could have brought them: only
    those judged against the previous tip, which is then known good."""
    assert run.previous_tip is not None and run.tip is not None and run.rows
    found = [v for v in run.rows[-1].verdicts.values() if v.base_sha == run.previous_tip and v.is_regression(fail_on_warnings)]
    if not found:
        return
    commits = tree.first_parent_range(road.source, f"{run.previous_tip}..{run.tip}")
    road.say(f"{run.tree} {run.branch}: bisecting {len(found)} regression(s) over {len(commits) - 1} new commits")
    run.first_bad = runs.first_bad(road, commits, found, fail_on_warnings)
    run.built += sum(answer.builds for answer in run.first_bad)
    run.causes = regress.with_first_bad(run.causes, run.first_bad)
    for answer in run.first_bad:
        road.say(f"{run.tree} {run.branch}: {export.first_bad_line(answer)} ({', '.join(answer.cells)})")


def _judge(run: BranchRun, repo: Path, store: Store, cells: list[Unit], built: list[str], fail_on_warnings: bool = False) -> None:
    """The branch's table: the previous tip as the reference row, then the commits built, oldest
    first; each cell is judged against the row above that has a usable result for it."""
    shas = ([run.previous_tip] if run.previous_tip and run.previous_tip not in built else []) + built
    if not shas:
        return
    ids = [c.id for c in cells]
    results = {key: r for key, r in store.results_for(shas).items() if key[1] in ids}
    first = [r for (sha, _), r in results.items() if sha == shas[0]]
    earlier = pipeline.baselines(store, repo, first)
    stored = store.commits(shas)
    commits = [(sha, (stored.get(sha) or tree.commit_info(repo, sha)).subject) for sha in shas]
    rows = regress.table(commits, results, ids, earlier.found, earlier.cut)
    for row in rows:
        row.author = stored[row.sha].author if row.sha in stored else ""
    if shas[0] != (built[0] if built else None):
        run.reference, rows = rows[0], rows[1:]
    if run.state == BranchState.NOTHING_NEW:  # judged and reported before; only the cells it lacked are news
        for row in rows:
            row.verdicts = {cell: v for cell, v in row.verdicts.items() if cell in run.built_cells}
    run.rows = rows
    run.causes = regress.root_causes(run.regressions(fail_on_warnings), fail_on_warnings)


REPORTS = ("report.md", "report.json", "report.html")


def write_report(store: Store, nightly: Nightly, cells: list[Unit], keep_earlier: bool = True) -> Path:
    """results/nightly/<date>/report.md, report.json and report.html; an earlier report of the same
    date is kept beside them, renamed after the time it was written (unless this rewrites its own)."""
    directory = store.inside(store.root / "nightly" / nightly.date)
    directory.mkdir(parents=True, exist_ok=True)
    for name in REPORTS if keep_earlier else ():
        old = directory / name
        if old.exists():
            written = datetime.fromtimestamp(old.stat().st_mtime, UTC).strftime("%H%M%S")
            old.rename(old.with_name(f"report-{written}{old.suffix}"))
    by_id = {c.id: c for c in cells}
    nightly.report_dir = directory
    write_text_atomic(directory / "report.md", export.nightly_markdown(nightly, by_id))
    write_text_atomic(directory / "report.json", export.nightly_json(nightly))
    write_text_atomic(directory / "report.html", html.nightly_page(nightly, html.Links("../../")))  # results/ from results/nightly/<date>/
    return directory


def compose_mail(nightly: Nightly, settings: MailSettings) -> EmailMessage:
    """The mail of a written report: report.md as its text, report.html attached."""
    assert nightly.report_dir is not None, "the report is written before it is mailed"
    text, page = ((nightly.report_dir / name).read_text() for name in ("report.md", "report.html"))
    return mail.compose(nightly, settings, text, page, datetime.now(UTC))


def deliver(store: Store, nightly: Nightly, cells: list[Unit], settings: MailSettings, password: str | None) -> None:
    """Mail the written report, then write report.md and report.json again saying what became of it.
    A mail that cannot be sent makes the nightly exit 2; the report files exist either way."""
    message = compose_mail(nightly, settings)
    try:
        mail.send(message, settings, password)
        nightly.mail = f"sent to {mail.recipients_line(message)}"
    except MailError as error:
        nightly.mail, nightly.mail_failed = str(error), True
    write_report(store, nightly, cells, keep_earlier=False)  # report.json says what became of the mail
