"""The command line's grammar: `orchestrate --commit REV [options]` (the main job) and subcommands.

One argparse parser: the main job's options at the top level, each subcommand a subparser whose
`func` names its handler as "module.function" in this package (commands.py builds and judges,
reading.py only reads). Nothing here imports a handler: `--help` and `--version` load no machinery,
and each command loads only its own. A usage error is one line, like every other error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from .. import __version__
from ..choices import DEFAULT_MAX_COMMITS, DEFAULT_TARBALL, MAIN_ARCHES, RUNTIMES
from ..inert import inert
from ..views import formats

DESCRIPTION = """\
Build a Linux kernel commit across a matrix of architectures, toolchains and configs with tuxmake,
and store a verdict for every cell, keyed by commit.

The main job:
  orchestrate --commit REV [options]   build REV (or each commit of A..B) for every cell of the matrix,
                                       and judge each cell against its baseline
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

    def error(self, message: str) -> NoReturn:
        print(inert(f"{self.prog}: error: {message}; see {self.prog} --help"), file=sys.stderr)
        sys.exit(2)


def parser() -> ArgumentParser:
    top = ArgumentParser(prog="orchestrate", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"orchestrate {__version__}")
    top.add_argument("--commit", metavar="REV", help="commit to build (sha, branch, tag, HEAD~2), or A..B for each of a range")
    _common(top)
    _building(top)
    top.add_argument("--rebuild", action="store_true", help="build cells that already have a result too (never reuses one)")
    _judging(top)
    top.set_defaults(func="commands.build")
    sub = top.add_subparsers(title="commands", metavar="COMMAND", parser_class=ArgumentParser)

    plan = sub.add_parser("plan", help="show the expanded matrix without building", description="Show the expanded matrix; builds nothing.")
    _common(plan)
    plan.set_defaults(func="commands.plan")

    show = sub.add_parser("show", help="print the stored results and diagnostics of a commit", description="Print the stored results of a commit.")
    show.add_argument("rev", help="commit: sha (or a prefix of one stored), branch or tag")
    _common(show, cells=False)
    show.set_defaults(func="reading.show")

    accept = sub.add_parser(
        "accept",
        help="accept the stored findings of a commit as known (the matrix's accepted file)",
        description="Write the errors and warnings stored for REV (checks) and the warnings (cells) into the file the matrix names "
        "with `accepted:`, replacing the entries of the cells chosen. Known findings are counted and shown, never judged; only "
        "what a later commit adds is. Review the file's diff like any other change.",
    )
    accept.add_argument("rev", help="commit whose stored findings to accept: sha (or a prefix of one stored), branch or tag")
    accept.add_argument("--only", choices=("errors", "warnings"), help="accept only these (default: errors and warnings)")
    _common(accept)
    accept.set_defaults(func="commands.accept")

    report = sub.add_parser(
        "report",
        help="the regression table: commits x cells, oldest first",
        description="The regression table: rows are commits (oldest first), columns are cells; then the new "
        "diagnostics of each regression and a command that reproduces it.",
    )
    report.add_argument("range", nargs="?", default="HEAD", help="A..B (A is shown as the first row) or one rev (default: HEAD)")
    _common(report)
    _judging(report)
    report.add_argument("--format", choices=("table", *formats.FORMATS), default="table", help="default: a rich table")
    report.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the format to FILE instead of stdout")
    report.set_defaults(func="commands.report")

    bisect = sub.add_parser(
        "bisect",
        help="find the first bad commit of each regression between GOOD and BAD",
        description="Build GOOD and BAD for the cells, judge BAD against GOOD, and for each regression find the first "
        "first-parent commit where its new diagnostics appear: a binary search building only one cell per step "
        "(cells that regressed alike share it). A commit that cannot be judged (INFRA, or failing for another reason) "
        "is skipped, and the answer is then a range. Every build is stored like any other. Exit codes as for --commit.",
    )
    bisect.add_argument("range", help="GOOD..BAD")
    _common(bisect)
    _building(bisect)
    _fail_on(bisect)
    bisect.set_defaults(func="commands.bisect")

    _nightly(sub.add_parser(
        "nightly",
        help="fetch each tree and branch of the matrix, build what is new, judge it, write a dated report",
        description="For each tree and branch of the matrix: fetch, build what is new since the last nightly "
        "of that branch, judge each cell against the previous nightly's tip, prune old artifacts, and write "
        "results/nightly/<UTC date>/report.md, report.json and report.html, and mail it (the matrix's nightly.mail). "
        "Exit codes as for --commit; 75 when another "
        "nightly holds the lock (see --wait).",
    ))

    export_plan = sub.add_parser(
        "export",
        help="write the matrix for another system to run (a TuxSuite plan), or results for KernelCI (KCIDB)",
        description="tuxsuite-plan: the matrix (or --cells) as a TuxSuite plan (version 1, one job of builds, each "
        "named by its cell id); its artifacts come back with `orchestrate import`. kcidb: the stored results of RANGE "
        "(A..B or one rev, default HEAD) as a KCIDB v5 document, as `report RANGE --format kcidb` (README: KCIDB).",
    )
    export_plan.add_argument("what", choices=("tuxsuite-plan", "kcidb"), help="tuxsuite-plan: a TuxSuite plan (YAML); kcidb: a KCIDB document (JSON)")
    export_plan.add_argument("range", nargs="?", help="kcidb: A..B or one rev (default: HEAD)")
    export_plan.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    _common(export_plan)
    export_plan.set_defaults(func="commands.export_matrix")

    imports = sub.add_parser(
        "import",
        help="store tuxmake artifacts built elsewhere (TuxSuite, another CI) as a commit's result",
        description="Store a directory of tuxmake artifacts (build.log, metadata.json, config) built elsewhere as the "
        "result of a cell at a commit: parsed and judged like a build here, recorded as imported. DIR may instead "
        "hold one such directory per cell, named by cell id (then --cell is not needed). Exit 0 once stored; "
        "`orchestrate report` judges it.",
    )
    imports.add_argument("dir", type=Path, help="the artifacts directory, or a directory of them named by cell id")
    imports.add_argument("--commit", required=True, metavar="REV", help="the commit they were built from")
    imports.add_argument("--cell", metavar="ID", help="the cell they are a build of (default: DIR's subdirectories name their cells)")
    imports.add_argument("--origin", default="elsewhere", help="where they were built, stored as runtime imported:ORIGIN (default: %(default)s)")
    imports.add_argument(
        "--replace", action="store_true", help="replace a result the cell has already (by default it is kept and nothing is imported)"
    )
    _common(imports, cells=False)
    imports.set_defaults(func="commands.import_artifacts")

    images = sub.add_parser(
        "images",
        help="build the podman images tuxmake uses, from Debian packages",
        description="Build the container images tuxmake's podman runtime uses (docker.io/tuxmake/<arch>_<toolchain>) "
        "from Debian packages with mmdebstrap, for machines that cannot reach a registry: one image holding the "
        "toolchains of every cell asked for, tagged with each name. With nothing changed, the image is reused.",
    )
    images.add_argument("action", choices=("build",), help="build: make the images (or find them up to date)")
    images.add_argument("--matrix", type=Path, default=Path("matrix.yaml"), help="default: the images of this matrix's cells (%(default)s)")
    images.add_argument("--arch", action="append", default=[], choices=MAIN_ARCHES, help="only these arches (repeatable)")
    images.add_argument("--toolchain", action="append", default=[], choices=("gcc", "clang"), help="only these toolchains (repeatable)")
    images.set_defaults(func="commands.images")

    parse = sub.add_parser(
        "parse",
        help="print the diagnostics orchestrate finds in any build log, and its root cause",
        description="Parse a kernel build log (tuxmake's build.log, plain make output, or a log another CI wrote, "
        "with timestamps or not) into the records orchestrate stores: errors and warnings with tree-relative "
        "paths, and the root cause (the error that ended the build) marked. Needs no store, tree or matrix; exit 0.",
    )
    parse.add_argument("log", help="the log file, or - for standard input")
    parse.add_argument(
        "--root", action="append", default=[], metavar="PATH", help="a source or build directory the log's paths start with (repeatable)"
    )
    parse.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    parse.set_defaults(func="reading.parse")

    demo = sub.add_parser(
        "demo-tree",
        help="make a git tree of Debian's linux-source-6.1 to build",
        description="Unpack Debian's linux-source tarball into DIR and commit it (same sha on every machine).",
    )
    demo.add_argument("dir", type=Path, help="where to make the tree (reused if it is already one)")
    demo.add_argument("--tarball", type=Path, default=DEFAULT_TARBALL, help="default: %(default)s")
    demo.set_defaults(func="commands.demo_tree")

    recover = sub.add_parser(
        "recover",
        help="copy what can be read of a damaged results store into a new one",
        description="Copy what can still be read of a damaged results.db into a new one, table by table and row "
        "by row; the damaged file is kept beside it as results.db.damaged-<time>.",
    )
    recover.add_argument("--results", type=Path, help="results directory (default: $ORCHESTRATOR_RESULTS or results/)")
    recover.set_defaults(func="reading.recover")
    return top


COMMANDS = ("plan", "show", "accept", "report", "bisect", "nightly", "export", "import", "parse", "images", "demo-tree", "recover")


def _nightly(parser: argparse.ArgumentParser) -> None:
    _common(parser, tree=False)  # the trees and branches come from the matrix
    parser.add_argument("--each", action="store_true", help="build every new commit (newest first), not only the tip")
    parser.add_argument(
        "--max-commits",
        type=int,
        default=DEFAULT_MAX_COMMITS,
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
    parser.add_argument("--mail-dry-run", action="store_true", help="print the mail the matrix's nightly.mail asks for instead of sending it")
    _fail_on(parser)
    parser.set_defaults(func="commands.nightly")


def _common(parser: argparse.ArgumentParser, cells: bool = True, tree: bool = True) -> None:
    parser.add_argument("--matrix", type=Path, default=Path("matrix.yaml"), help="matrix file (default: %(default)s)")
    if tree:
        parser.add_argument("--tree", type=Path, help="kernel git tree (default: the matrix's tree.path)")
    parser.add_argument("--results", type=Path, help="results directory (default: $ORCHESTRATOR_RESULTS or results/)")
    if cells:
        parser.add_argument("--cells", action="append", default=[], metavar="GLOB", help="only cells whose id matches (repeatable)")


def _building(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", choices=RUNTIMES, help="tuxmake runtime for every cell (default: the matrix's)")
    parser.add_argument("--jobs", type=int, metavar="N", help="make -j of each cell (default: split the cores)")
    parser.add_argument(
        "--executor",
        metavar="WHERE",
        help="local (a pool here), dask://HOST:PORT or tls://HOST:PORT (a Dask scheduler's workers); default: the matrix's executor, else local",
    )
    parser.add_argument(
        "--no-reuse", dest="reuse", action="store_false", help="build every cell, even one whose inputs the commit provably left unchanged"
    )
    parser.add_argument(
        "--verify-reuse",
        action="store_true",
        help="build every cell a result would be (or was) reused for, and compare: a mismatch exits 2",
    )


def _judging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base", metavar="REV", help="judge against this commit's results (default: each cell's nearest first-parent ancestor with a result)"
    )
    _fail_on(parser)


def _fail_on(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fail-on", choices=("errors", "warnings"), default="errors", help="what counts as a regression (default: errors)")
