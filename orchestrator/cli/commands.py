"""What each command does: thin handlers over the library, each picking a view and an exit code.

Each takes the parsed arguments and the console, and returns the exit code; errors are raised and
become exit codes in one place (cli/__init__.py).
"""

from __future__ import annotations

import os
import signal
import sys
from argparse import Namespace
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from rich.console import Console

from .. import accepted, pipeline, runs, tree
from .. import images as container_images
from .. import matrix as matrix_module
from .. import nightly as nightly_run
from ..demotree import make_demo_tree
from ..errors import RevisionError, UserError
from ..executors import Progress
from ..inert import inert
from ..lock import Busy
from ..models import Report, Status, Unit, is_check
from ..store import Store
from ..views import console as views
from ..views import formats, kcidb, mail, tuxsuite_plan
from .common import collector_paused, open_store, sayer, stored_sha, write_output

BUSY = 75  # EX_TEMPFAIL: another nightly is running; try again later


def _check_building(args: Namespace) -> None:
    if args.jobs is not None and not 1 <= args.jobs <= matrix_module.MAX_JOBS:
        raise UserError(f"--jobs {args.jobs}: must be a number from 1 to {matrix_module.MAX_JOBS}")
    if args.verify_reuse and (not args.reuse or getattr(args, "rebuild", False)):
        raise UserError(f"--verify-reuse checks reused results: it cannot go with {'--no-reuse' if not args.reuse else '--rebuild'}")


def _executor(args: Namespace, matrix: matrix_module.Matrix) -> matrix_module.ExecutorSettings:
    """Where cells are built: --executor over the matrix's `executor:` (its source_url and certificates kept)."""
    if not getattr(args, "executor", None):
        return matrix.executor
    try:
        return replace(matrix.executor, address=matrix_module.executor_address(args.executor))
    except ValueError as error:
        raise UserError(f"--executor {error}") from None


def _audited_fraction(args: Namespace) -> float:
    """The fraction of reusable cells built anyway to audit the reuse: all with --verify-reuse, else none."""
    return 1.0 if args.verify_reuse else 0.0


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _rerun(args: Namespace, source: Path, store: Store) -> tuple[str, ...]:
    """Options that make a reproduce command find this tree, matrix and store from any directory."""
    options = ("--tree", str(source), "--matrix", str(Path(args.matrix).absolute()), "--results", str(store.root))
    return options + (("--runtime", args.runtime) if getattr(args, "runtime", None) else ())


def _selected(args: Namespace) -> tuple[matrix_module.Matrix, list[Unit], Path]:
    """The matrix, the cells and checks --cells selects of it, and the tree to build."""
    matrix = matrix_module.load(args.matrix)
    return matrix, matrix_module.select(matrix.units, args.cells, label="--cells"), pipeline.source_tree(matrix, args.tree)


def build(args: Namespace, out: Console) -> int:
    if args.commit.startswith("-"):
        raise RevisionError("a revision may not begin with '-'", label="--commit", rev=args.commit)
    _check_building(args)
    road = _road(args, out, rebuild=args.rebuild)
    shas = tree.first_parent_range(road.source, args.commit, label="--commit")
    base = tree.resolve(road.source, args.base, label="--base") if args.base else None
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    fail_on_warnings = args.fail_on == "warnings"
    rerun = _rerun(args, road.source, road.store)
    codes = []
    for run in road.commits(shas, _live_commits(out, road)):
        views.summary(out, run.commit, run.results, run.built)
        views.audits(out, run.audits)
        judged = runs.judge(road, run, base, fail_on_warnings)
        views.verdicts(out, run.commit, judged.verdicts, judged.causes, rerun)
        if judged.history_note:
            print(inert(f"orchestrate: {judged.history_note}, or pass --base REV"), file=sys.stderr)
        codes.append(judged.exit_code)
    if len(shas) > 1:
        out.print()
        ids = [c.id for c in road.units]
        report = pipeline.report(road.store, road.source, args.commit, ids, base, "--commit", road.say, fail_on_warnings)
        report.rerun = rerun
        views.report(out, report, fail_on_warnings)
    return pipeline.range_exit_code(codes)


def _road(args: Namespace, out: Console, rebuild: bool = False) -> runs.Road:
    """The road the command's commits build on: the matrix's cells --cells selects, its tree (or
    --tree), the store, and the building options of the command line."""
    matrix, units, source = _selected(args)
    return runs.Road(
        matrix,
        units,
        source,
        open_store(args),
        runtime=args.runtime,
        jobs=args.jobs,
        rebuild=rebuild,
        reuse=args.reuse,
        verify_reuse=_audited_fraction(args),
        executor=_executor(args, matrix),
        command=" ".join(["orchestrate", *sys.argv[1:]]),
        say=sayer(out),
    )


def _live(out: Console, units: Sequence[Unit]) -> runs.ProgressFor:
    """The cells shown live while a commit builds, under a title."""

    @contextmanager
    def progress(title: str) -> Iterator[Progress]:
        with views.LiveProgress(out, list(units), title) as live:
            yield live.update

    return progress


def _live_commits(out: Console, road: runs.Road) -> runs.ProgressFor:
    """The road's cells shown live while each commit builds, under its sha."""
    shown = _live(out, road.units)
    return lambda sha: shown(f"building {sha[:12]} of {road.source}")


def bisect(args: Namespace, out: Console) -> int:
    """Build the range's ends, judge the bad end against the good one, and bisect each regression."""
    if ".." not in args.range or args.range.startswith("-"):
        raise RevisionError("give a range GOOD..BAD: the first commit good, the last one bad", label="bisect", rev=args.range)
    _check_building(args)
    road = _road(args, out)
    commits = tree.first_parent_range(road.source, args.range, label="bisect")
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    fail_on_warnings = args.fail_on == "warnings"
    good, bad = road.commits([commits[0], commits[-1]], _live_commits(out, road))
    judged = runs.judge(road, bad, commits[0], fail_on_warnings)
    views.verdicts(out, bad.commit, judged.verdicts, judged.causes, _rerun(args, road.source, road.store))
    answers = runs.first_bad(road, commits, judged.verdicts, fail_on_warnings)
    out.print()
    if not answers:
        out.print(f"no regression from {commits[0][:12]} to {commits[-1][:12]}: nothing to bisect", highlight=False)
    views.first_bad(out, answers)
    return pipeline.exit_code(good.results + bad.results, judged.verdicts, fail_on_warnings)


def report(args: Namespace, out: Console) -> int:
    with collector_paused():  # a short-lived command making tens of thousands of records
        return _report(args, out)


def _report(args: Namespace, out: Console) -> int:
    if args.format == "table" and args.output:
        raise UserError(f"-o FILE goes with --format {', '.join(formats.FORMATS)}")
    made, matrix, store = _made_report(args, out)
    if args.format == "table":
        views.report(out, made, args.fail_on == "warnings")
    else:
        write_output(args.output, formats.write(args.format, _report_file(args, made, matrix, store)))
    return 0


def _report_file(args: Namespace, made: Report, matrix: matrix_module.Matrix, store: Store) -> formats.ReportFile:
    return formats.ReportFile(
        report=made,
        fail_on_warnings=getattr(args, "fail_on", "errors") == "warnings",
        title=f"orchestrate report {args.range or 'HEAD'}",
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        results_url=_url_of(store.root, args.output),
        units={u.id: u for u in matrix.units},
        source=_kcidb_source(matrix, store),
    )


def _made_report(args: Namespace, out: Console) -> tuple[Report, matrix_module.Matrix, Store]:
    """The report of args.range over the matrix's cells (or --cells), in matrix order."""
    store = open_store(args, create=False)
    matrix = matrix_module.load(args.matrix)
    source = pipeline.source_tree(matrix, args.tree)
    base = tree.resolve(source, args.base, label="--base") if getattr(args, "base", None) else None
    cells = [c.id for c in matrix_module.select(matrix.units, args.cells, label="--cells")] if args.cells else None
    fail_on_warnings = getattr(args, "fail_on", "errors") == "warnings"
    made = pipeline.report(store, source, args.range or "HEAD", cells, base, label="report", say=sayer(out), fail_on_warnings=fail_on_warnings)
    made.rerun = _rerun(args, source, store)
    if cells is None:  # matrix order first, then cells no longer in the matrix
        order = {c.id: i for i, c in enumerate(matrix.units)}
        made.cells.sort(key=lambda c: (order.get(c, len(order)), c))
    return made, matrix, store


def _url_of(directory: Path, page: Path | None) -> str:
    """The results directory as a page at `page` links to it: relative, so the two can move together;
    a file URL for a page written to stdout (its place is unknown)."""
    if page is None:
        return directory.resolve().as_uri() + "/"
    relative = os.path.relpath(directory.resolve(), page.resolve().parent)
    return "" if relative == "." else quote(Path(relative).as_posix()) + "/"


def _kcidb_source(matrix: matrix_module.Matrix, store: Store) -> kcidb.Source:
    return kcidb.Source(
        origin=matrix.kcidb.origin,
        logs=matrix.kcidb.log_url or store.root.resolve().as_uri() + "/",
        tree_name=matrix.tree.name,
        repository_url=matrix.tree.url or "",
    )


def nightly(args: Namespace, out: Console) -> int:
    _check_building(args)
    if args.max_commits < 1:
        raise UserError(f"--max-commits {args.max_commits}: must be a positive number")
    if args.keep_days is not None and args.keep_days < 0:
        raise UserError(f"--keep-days {args.keep_days}: must be 0 or more")
    options = nightly_run.Options(
        each=args.each,
        max_commits=args.max_commits,
        runtime=args.runtime,
        jobs=args.jobs,
        keep_days=args.keep_days,
        wait=args.wait,
        fail_on_warnings=args.fail_on == "warnings",
        reuse=args.reuse,
        verify_reuse=1.0 if args.verify_reuse else None,
    )
    if args.disk_budget is not None:
        try:
            options.disk_budget = matrix_module.parse_size(args.disk_budget)
        except ValueError as error:
            raise UserError(f"--disk-budget {error}") from None
    matrix = matrix_module.load(args.matrix)
    options.executor = _executor(args, matrix)
    mailing = matrix.nightly.mail
    if args.mail_dry_run and mailing is None:
        raise UserError(f"{args.matrix}: --mail-dry-run, but the matrix has no nightly.mail; add one with smtp: HOST:PORT, from and to")
    password = mail.password(mailing) if mailing is not None and not args.mail_dry_run else None
    if not matrix.trees:
        raise UserError(f"{args.matrix}: no `tree` or `trees` to fetch; add a tree with `url` (or `path`) and `branches`")
    cells = matrix_module.select(matrix.units, args.cells, label="--cells")
    store = open_store(args)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        run = nightly_run.run(matrix, cells, store, options, say=sayer(out), progress=_live(out, cells))
    except Busy as busy:
        print(
            inert(f"orchestrate: another nightly is running ({busy.holder}; lock {busy.path}); exiting — pass --wait to wait for it"),
            file=sys.stderr,
        )
        return BUSY
    nightly_run.write_report(store, run, cells)
    if mailing is not None and args.mail_dry_run:
        out.file.write(nightly_run.compose_mail(run, mailing).as_string())
    elif mailing is not None:
        nightly_run.deliver(store, run, cells, mailing, password)
    out.print()
    views.nightly(out, run)
    return nightly_run.exit_code(run)


def images(args: Namespace, out: Console) -> int:
    if args.arch or args.toolchain:
        pairs = [(a, t) for a in args.arch or ["x86_64", "arm64", "riscv"] for t in args.toolchain or ["gcc", "clang"]]
    else:
        cells = matrix_module.load(args.matrix).cells
        pairs = sorted({(c.arch, c.toolchain) for c in cells if c.toolchain in ("gcc", "clang")})
    spec = container_images.spec_for(pairs)
    container_images.build(spec, say=sayer(out))
    return 0


def plan(args: Namespace, out: Console) -> int:
    matrix = matrix_module.load(args.matrix)
    cells = matrix_module.select(matrix.units, args.cells, label="--cells")
    source = args.tree or matrix.tree.path or matrix.tree.url
    views.plan(out, cells, str(source))
    return 0


def accept(args: Namespace, out: Console) -> int:
    """Write the findings stored for a commit into the matrix's accepted file."""
    if args.rev.startswith("-"):
        raise RevisionError("a revision may not begin with '-'", label="accept", rev=args.rev)
    matrix = matrix_module.load(args.matrix)
    if matrix.accepted is None:
        raise UserError(f"{args.matrix}: names no accepted file: add `accepted: configs/accepted.txt` and run again", topic="matrix")
    units = matrix_module.select(matrix.units, args.cells, label="--cells")
    store = open_store(args, create=False)
    sha = stored_sha(store, args.rev, lambda: matrix, args.tree, "accept")
    stored = {r.cell_id: r for r in store.builds(sha)}
    finished = [(u, stored[u.id]) for u in units if u.id in stored and stored[u.id].status in (Status.PASS, Status.FAIL)]
    if not finished:
        raise RevisionError(f"no finished result of {', '.join(args.cells) or 'any cell'} is stored", label="accept", rev=args.rev, topic="unbuilt")
    # A check accepts its errors and warnings; a build its warnings only (an error stopped it).
    severities = {"errors": ("error",), "warnings": ("warning",), None: ("error", "warning")}[args.only]
    entries = {
        u.id: accepted.lines(u.id, [d for d in r.diagnostics if d.severity in severities and (is_check(u.id) or d.severity == "warning")])
        for u, r in finished
    }
    before = matrix.accepted.read_text(encoding="utf-8") if matrix.accepted.is_file() else ""
    why = " ".join([f"orchestrate accept {sha[:12]}", *(f"--cells '{p}'" for p in args.cells), *([f"--only {args.only}"] if args.only else [])])
    accepted.write(matrix.accepted, accepted.merged(before, entries, why))
    say = sayer(out)
    each = ", ".join(f"{unit_id} {len(lines)}" for unit_id, lines in entries.items())
    say(f"{sum(map(len, entries.values()))} findings accepted as known in {matrix.accepted} ({each})")
    return 0


def export_matrix(args: Namespace, out: Console) -> int:
    """The matrix in another system's terms (a TuxSuite plan), or its results (a KCIDB document), on
    stdout or in -o FILE."""
    if args.what == "kcidb":
        with collector_paused():
            made, matrix, store = _made_report(args, out)
            write_output(args.output, formats.write("kcidb", _report_file(args, made, matrix, store)))
        return 0
    if args.range is not None:
        raise UserError(f"export tuxsuite-plan takes no range ('{args.range}'): a plan is the matrix, not results")
    matrix = matrix_module.load(args.matrix)
    units = matrix_module.select(matrix.units, args.cells, label="--cells")
    text = tuxsuite_plan.text(units, f"orchestrator-{Path(args.matrix).stem}")
    write_output(args.output, text)
    return 0


def import_artifacts(args: Namespace, out: Console) -> int:
    """Store artifacts built elsewhere as results, then say what was stored."""
    if args.commit.startswith("-"):
        raise RevisionError("a revision may not begin with '-'", label="--commit", rev=args.commit)
    matrix = matrix_module.load(args.matrix)
    source = pipeline.source_tree(matrix, args.tree)
    if args.cell:
        directories = {args.cell: args.dir}
    else:
        directories = {path.name: path for path in sorted(args.dir.iterdir()) if path.is_dir()} if args.dir.is_dir() else {}
        if not directories:
            raise UserError(f"{args.dir}: no directory of artifacts named by cell id here; give --cell ID for a single build's artifacts")
    store = open_store(args)
    command = " ".join(["orchestrate", *sys.argv[1:]])
    stored = pipeline.import_results(matrix, directories, source, args.commit, store, args.origin, command, replace_stored=args.replace)
    for result in stored:
        reason = f" ({result.reason})" if result.reason else ""
        sayer(out)(f"{result.cell_id}: {result.status.upper()} imported for {result.sha[:12]} from {args.origin}{reason}")
    return 0


def demo_tree(args: Namespace, out: Console) -> int:
    sha = make_demo_tree(args.dir, args.tarball)
    sayer(out)(f"{args.dir}: demo kernel tree at {sha}")
    return 0
