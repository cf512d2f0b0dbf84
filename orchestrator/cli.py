"""The `orchestrate` command: parses arguments, calls the library, picks a view, sets the exit code.

Exit codes: 0 no regression; 1 a regression (and nothing else); 2 bad input, an infrastructure
error, a matrix error or anything unexpected (one line on stderr, never a traceback); 75 another
nightly holds the lock; 130 interrupted. Errors become exit codes here and nowhere else.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console  # for type hints

from . import __version__, export, images, nightly, pipeline, tree
from . import console as views
from . import matrix as matrix_module
from .demotree import DEFAULT_TARBALL, make_demo_tree
from .errors import OrchestratorError, RevisionError, UserError
from .executors import Interrupted
from .lock import Busy
from .store import Store, default_results_dir, recover

COMMANDS = ("plan", "show", "report", "nightly", "images", "demo-tree", "recover")
BUSY = 75  # EX_TEMPFAIL: another nightly is running; try again later
ERROR = 2

# What the command line adds to a library error of a topic: the option or variable that fixes it.
HINTS = {
    "results": "pass --results DIR (or set ORCHESTRATOR_RESULTS) to use another",
    "tree": "pass --tree PATH to a kernel git tree",
    "tree-missing": "pass --tree PATH, or make the demo tree with `orchestrate demo-tree {path}`",
    "matrix-file": "pass --matrix FILE",
    "work": "set ORCHESTRATOR_WORK to a writable directory",
    "cells": "`orchestrate plan` lists them",
    "unbuilt": "build it first with `orchestrate --commit {rev}`",
    "damaged": "`orchestrate recover --results {path.parent}` does (and keeps the damaged file)",
}

DESCRIPTION = """\
Build a Linux kernel commit across a matrix of architectures, toolchains and configs with tuxmake,
and store a verdict for every cell, keyed by commit.

commands:
  orchestrate --commit REV [options]   build REV (or each commit of A..B) for every cell of the matrix,
                                       and judge each cell against its baseline (the main job)
  orchestrate plan [options]           show the expanded matrix without building
  orchestrate show REV [options]       print the stored results and diagnostics of a commit
  orchestrate report [A..B] [options]  the regression table: commits x cells, oldest first
  orchestrate nightly [options]        fetch each tree and branch of the matrix, build what is new,
                                       judge it against the previous nightly, write a dated report
  orchestrate images build [options]   build the podman images tuxmake uses, from Debian packages
  orchestrate demo-tree DIR            make a git tree of Debian's linux-source-6.1 to build
  orchestrate recover [--results DIR]  copy what can be read of a damaged results store into a new one
"""

EPILOG = """\
exit codes: 0 no regression, 1 a regression (a new failure or new errors against the baseline, a
failure with no baseline, or new warnings with --fail-on warnings), 2 bad input, an infrastructure
error or a matrix error (Kconfig dropped an option a cell asked for), 75 (nightly only) another
nightly holds the lock, 130 interrupted.
Results go to ./results (or $ORCHESTRATOR_RESULTS, or --results); worktrees, build directories
and ccache to ~/.cache/orchestrator (or $ORCHESTRATOR_WORK).
"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line saying where to look, like every other input error."""

    def error(self, message):
        print(f"{self.prog}: error: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)


def _common(parser: argparse.ArgumentParser, cells: bool = True, tree: bool = True) -> None:
    parser.add_argument("--matrix", type=Path, default=Path("matrix.yaml"), help="matrix file (default: %(default)s)")
    if tree:
        parser.add_argument("--tree", type=Path, help="kernel git tree (default: the matrix's tree.path)")
    parser.add_argument("--results", type=Path, help="results directory (default: $ORCHESTRATOR_RESULTS or results/)")
    if cells:
        parser.add_argument(
            "--cells", action="append", default=[], metavar="GLOB", help="only cells whose id matches (repeatable)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="orchestrate",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--commit", required=True, metavar="REV", help="commit to build (sha, branch, tag, HEAD~2), or A..B for each of a range"
    )
    _common(parser)
    _building(parser)
    parser.add_argument("--rebuild", action="store_true", help="build cells that already have a result too")
    _judging(parser)
    return parser


def _building(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime", choices=matrix_module.RUNTIMES, help="tuxmake runtime for every cell (default: the matrix's)"
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="make -j of each cell (default: split the cores)")


def _check_building(args) -> None:
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be a positive number")


def _judging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base", metavar="REV", help="judge against this commit's results (default: each cell's nearest first-parent ancestor with a result)"
    )
    _fail_on(parser)


def _fail_on(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on", choices=("errors", "warnings"), default="errors", help="what counts as a regression (default: errors)"
    )


def report_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="orchestrate report",
        description="The regression table: rows are commits (oldest first), columns are cells; then the new "
        "diagnostics of each regression and a command that reproduces it.",
    )
    parser.add_argument("range", nargs="?", default="HEAD", help="A..B (A is shown as the first row) or one rev (default: HEAD)")
    _common(parser)
    _judging(parser)
    parser.add_argument("--format", choices=("table", *export.FORMATS), default="table", help="default: a rich table")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the format to FILE instead of stdout")
    return parser


def nightly_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="orchestrate nightly",
        description="For each tree and branch of the matrix: fetch, build what is new since the last nightly "
        "of that branch, judge each cell against the previous nightly's tip, prune old artifacts, and write "
        "results/nightly/<UTC date>/report.md and report.json. Exit codes as for --commit; 75 when another "
        "nightly holds the lock (see --wait).",
    )
    _common(parser, tree=False)  # the trees and branches come from the matrix
    parser.add_argument("--each", action="store_true", help="build every new commit (newest first), not only the tip")
    parser.add_argument(
        "--max-commits",
        type=int,
        default=nightly.DEFAULT_MAX_COMMITS,
        metavar="N",
        help="with --each, at most N commits per branch (default: %(default)s)",
    )
    _building(parser)
    parser.add_argument(
        "--keep-days", type=int, metavar="N", help="prune artifacts older than N days (default: the matrix's nightly.keep_days, else 30)"
    )
    parser.add_argument(
        "--disk-budget", metavar="SIZE", help="prune the oldest artifacts beyond SIZE, e.g. 20G or unlimited (default: the matrix's, else 20G)"
    )
    parser.add_argument("--wait", action="store_true", help="wait for a running nightly to finish instead of exiting with 75")
    _fail_on(parser)
    return parser


def images_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="orchestrate images",
        description="Build the container images tuxmake's podman runtime uses (docker.io/tuxmake/<arch>_<toolchain>) "
        "from Debian packages with mmdebstrap, for machines that cannot reach a registry: one image holding the "
        "toolchains of every cell asked for, tagged with each name. With nothing changed, the image is reused.",
    )
    parser.add_argument("action", choices=("build",), help="build: make the images (or find them up to date)")
    parser.add_argument("--matrix", type=Path, default=Path("matrix.yaml"), help="default: the images of this matrix's cells (%(default)s)")
    parser.add_argument("--arch", action="append", default=[], choices=matrix_module.MAIN_ARCHES, help="only these arches (repeatable)")
    parser.add_argument("--toolchain", action="append", default=[], choices=("gcc", "clang"), help="only these toolchains (repeatable)")
    return parser


def plan_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="orchestrate plan", description="Show the expanded matrix; builds nothing.")
    _common(parser)
    return parser


def show_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="orchestrate show", description="Print the stored results of a commit.")
    parser.add_argument("rev", help="commit: sha (or a prefix of one stored), branch or tag")
    _common(parser, cells=False)
    return parser


def demo_tree_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="orchestrate demo-tree",
        description="Unpack Debian's linux-source tarball into DIR and commit it (same sha on every machine).",
    )
    parser.add_argument("dir", type=Path, help="where to make the tree (reused if it is already one)")
    parser.add_argument("--tarball", type=Path, default=DEFAULT_TARBALL, help="default: %(default)s")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except OrchestratorError as error:
        print(f"orchestrate: error: {error}{_hint(error)}", file=sys.stderr)  # one line, never wrapped
        return ERROR
    except (KeyboardInterrupt, Interrupted):
        print("orchestrate: interrupted; every build that finished is stored", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ERROR
    except Exception as error:  # a bug: one line, and the traceback kept for the report
        saved = _save_traceback(argv)
        where = f"; the traceback is in {saved}" if saved else ""
        print(f"orchestrate: internal error: {type(error).__name__}: {' '.join(str(error).split())[:200]}{where}", file=sys.stderr)
        return ERROR


def _hint(error: OrchestratorError) -> str:
    hint = HINTS.get(error.topic)
    return f"; {hint.format(**error.fields)}" if hint else ""


def _save_traceback(argv: list[str]) -> str | None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix=f"orchestrator-crash-{stamp}-", suffix=".txt", dir=tempfile.gettempdir(), delete=False
        ) as handle:
            handle.write(f"orchestrator {__version__}: orchestrate {' '.join(argv)}\n\n{traceback.format_exc()}")
            return handle.name
    except OSError:
        return None


def _dispatch(argv: list[str]) -> int:
    out = views.make_console()
    if not argv or argv[0].startswith("-"):
        return cmd_build(build_parser().parse_args(argv), out)
    if argv[0] not in SUBCOMMANDS:
        raise UserError(
            f"unknown command '{argv[0]}'; the commands are {', '.join(COMMANDS)}, or --commit REV to build (see orchestrate --help)"
        )
    make_parser, handler = SUBCOMMANDS[argv[0]]
    return handler(make_parser().parse_args(argv[1:]), out)


def _results(args) -> Path:
    return args.results or default_results_dir()


def _sayer(out: Console):
    """Progress messages for the library's `say`: printed as they are, no markup or highlighting."""
    return lambda message: out.print(message, highlight=False, markup=False, soft_wrap=True)  # one line in a log


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def _rerun(args, source: Path, store: Store) -> tuple[str, ...]:
    """Options that make a reproduce command find this tree, matrix and store from any directory."""
    options = ("--tree", str(source), "--matrix", str(Path(args.matrix).absolute()), "--results", str(store.root))
    return options + (("--runtime", args.runtime) if getattr(args, "runtime", None) else ())


def cmd_build(args, out: Console) -> int:
    if args.commit.startswith("-"):
        raise RevisionError("a revision may not begin with '-'", label="--commit", rev=args.commit)
    _check_building(args)
    matrix = matrix_module.load(args.matrix)
    cells = matrix_module.select(matrix.cells, args.cells, label="--cells")
    source = pipeline.source_tree(matrix, args.tree)
    shas = tree.first_parent_range(source, args.commit, label="--commit")
    base = tree.resolve(source, args.base, label="--base") if args.base else None
    store = Store(_results(args))
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    fail_on_warnings = args.fail_on == "warnings"
    say = _sayer(out)
    rerun = _rerun(args, source, store)
    codes = []
    for sha in shas:
        with views.LiveProgress(out, cells, f"building {sha[:12]} of {source}") as progress:
            run = pipeline.build_commit(
                matrix,
                cells,
                source,
                sha,
                store,
                runtime=args.runtime,
                jobs=args.jobs,
                rebuild=args.rebuild,
                command=" ".join(["orchestrate", *sys.argv[1:]]),
                on_progress=progress.update,
                say=say,
            )
        views.summary(out, run.commit, run.results, run.built)
        found = pipeline.verdicts(store, source, run.results, base, say)
        views.verdicts(out, run.commit, found, fail_on_warnings, rerun)
        note = pipeline.history_cut_note(source, found)
        if note:
            print(f"orchestrate: {note}, or pass --base REV", file=sys.stderr)
        codes.append(pipeline.exit_code(run.results + run.kept, found, fail_on_warnings))
    if len(shas) > 1:
        out.print()
        report = pipeline.report(store, source, args.commit, [c.id for c in cells], base, label="--commit", say=say)
        report.rerun = rerun
        views.report(out, report, fail_on_warnings)
    return 1 if 1 in codes else max(codes)


def cmd_report(args, out: Console) -> int:
    with pipeline.collector_paused():  # a short-lived command making tens of thousands of records
        return _report(args, out)


def _report(args, out: Console) -> int:
    if args.format == "table" and args.output:
        raise UserError("-o FILE goes with --format markdown, json or junit")
    store = Store(_results(args))
    matrix = matrix_module.load(args.matrix)
    source = pipeline.source_tree(matrix, args.tree)
    base = tree.resolve(source, args.base, label="--base") if args.base else None
    cells = [c.id for c in matrix_module.select(matrix.cells, args.cells, label="--cells")] if args.cells else None
    report = pipeline.report(store, source, args.range, cells, base, label="report", say=_sayer(out))
    report.rerun = _rerun(args, source, store)
    if cells is None:  # matrix order first, then cells no longer in the matrix
        order = {c.id: i for i, c in enumerate(matrix.cells)}
        report.cells.sort(key=lambda c: (order.get(c, len(order)), c))
    fail_on_warnings = args.fail_on == "warnings"
    if args.format == "table":
        views.report(out, report, fail_on_warnings)
        return 0
    text = export.FORMATS[args.format](report, fail_on_warnings)
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as error:
            raise UserError(f"-o {args.output}: cannot write ({error.strerror}); give a writable path") from None
    else:
        sys.stdout.write(text)
    return 0


def cmd_nightly(args, out: Console) -> int:
    _check_building(args)
    if args.max_commits < 1:
        raise UserError(f"--max-commits {args.max_commits}: must be a positive number")
    if args.keep_days is not None and args.keep_days < 0:
        raise UserError(f"--keep-days {args.keep_days}: must be 0 or more")
    options = nightly.Options(
        each=args.each,
        max_commits=args.max_commits,
        runtime=args.runtime,
        jobs=args.jobs,
        keep_days=args.keep_days,
        wait=args.wait,
        fail_on_warnings=args.fail_on == "warnings",
    )
    if args.disk_budget is not None:
        try:
            options.disk_budget = matrix_module.parse_size(args.disk_budget)
        except ValueError as error:
            raise UserError(f"--disk-budget {error}") from None
    matrix = matrix_module.load(args.matrix)
    if not matrix.trees:
        raise UserError(f"{args.matrix}: no `tree` or `trees` to fetch; add a tree with `url` (or `path`) and `branches`")
    cells = matrix_module.select(matrix.cells, args.cells, label="--cells")
    store = Store(_results(args))
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)

    @contextmanager
    def progress(title: str):
        with views.LiveProgress(out, cells, title) as live:
            yield live.update

    try:
        run = nightly.run(matrix, cells, store, options, say=_sayer(out), progress=progress)
    except Busy as busy:
        print(
            f"orchestrate: another nightly is running ({busy.holder}; lock {busy.path}); "
            "exiting — pass --wait to wait for it",
            file=sys.stderr,
        )
        return BUSY
    nightly.write_report(store, run, cells)
    out.print()
    views.nightly(out, run)
    return nightly.exit_code(run)


def cmd_images(args, out: Console) -> int:
    if args.arch or args.toolchain:
        pairs = [(a, t) for a in args.arch or ["x86_64", "arm64", "riscv"] for t in args.toolchain or ["gcc", "clang"]]
    else:
        cells = matrix_module.load(args.matrix).cells
        pairs = sorted({(c.arch, c.toolchain) for c in cells if c.toolchain in ("gcc", "clang")})
    spec = images.spec_for(pairs)
    images.build(spec, say=_sayer(out))
    return 0


def cmd_plan(args, out: Console) -> int:
    matrix = matrix_module.load(args.matrix)
    cells = matrix_module.select(matrix.cells, args.cells, label="--cells")
    source = args.tree or matrix.tree.path or matrix.tree.url
    views.plan(out, cells, str(source))
    return 0


def cmd_show(args, out: Console) -> int:
    """A view: exit 0 whatever the stored statuses are (only a judged regression exits 1)."""
    if args.rev.startswith("-"):
        raise RevisionError("a revision may not begin with '-'", label="show", rev=args.rev)
    store = Store(_results(args))
    stored = store.find_shas(args.rev)
    if len(stored) > 1:
        listed = ", ".join(sha[:12] for sha in stored)
        raise RevisionError(f"ambiguous: the store holds {listed}; give more digits", label="show", rev=args.rev)
    sha = stored[0] if stored else tree.resolve(pipeline.source_tree(matrix_module.load(args.matrix), args.tree), args.rev, label="show")
    commit = store.commit(sha)
    results = store.builds(sha)
    if commit is None or not results:
        raise RevisionError(f"no stored results for {sha[:12]}", label="show", rev=args.rev, topic="unbuilt")
    views.show(out, commit, results, store.root, {r.cell_id: store.attempts(sha, r.cell_id) for r in results})
    return 0


def recover_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="orchestrate recover",
        description="Copy what can still be read of a damaged results.db into a new one, table by table and row "
        "by row; the damaged file is kept beside it as results.db.damaged-<time>.",
    )
    parser.add_argument("--results", type=Path, help="results directory (default: $ORCHESTRATOR_RESULTS or results/)")
    return parser


def cmd_recover(args, out: Console) -> int:
    recovered = recover(_results(args))
    out.print(f"{recovered.rows} rows copied into a new {recovered.damaged.with_name('results.db')}", highlight=False)
    out.print(f"the damaged database is kept as {recovered.damaged}", highlight=False)
    if recovered.lost:
        out.print(f"rows of {', '.join(recovered.lost)} on damaged pages are lost; those builds count as missing and build again", highlight=False)
    return 0


def cmd_demo_tree(args, out: Console) -> int:
    sha = make_demo_tree(args.dir, args.tarball)
    out.print(f"{args.dir}: demo kernel tree at {sha}", highlight=False)
    return 0


SUBCOMMANDS = {
    "plan": (plan_parser, cmd_plan),
    "show": (show_parser, cmd_show),
    "report": (report_parser, cmd_report),
    "nightly": (nightly_parser, cmd_nightly),
    "images": (images_parser, cmd_images),
    "demo-tree": (demo_tree_parser, cmd_demo_tree),
    "recover": (recover_parser, cmd_recover),
}
assert tuple(SUBCOMMANDS) == COMMANDS

if __name__ == "__main__":
    sys.exit(main())
