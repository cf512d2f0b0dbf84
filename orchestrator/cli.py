"""The `orchestrate` command: parses arguments, calls the library, picks a view, sets the exit code.

Exit codes: 0 every cell passed; 1 a cell failed to build; 2 bad input, an infrastructure error
or a matrix error (and no cell failed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Optional

from rich.console import Console  # for type hints

from . import console as views
from . import matrix as matrix_module
from . import pipeline, tree
from .demotree import DEFAULT_TARBALL, make_demo_tree
from .models import InputError
from .runner import Interrupted
from .store import Store, default_results_dir

COMMANDS = ("plan", "show", "demo-tree")

DESCRIPTION = """\
Build a Linux kernel commit across a matrix of architectures, toolchains and configs with tuxmake,
and store a verdict for every cell, keyed by commit.

commands:
  orchestrate --commit REV [options]   build REV for every cell of the matrix (the main job)
  orchestrate plan [options]           show the expanded matrix without building
  orchestrate show REV [options]       print the stored results of a commit
  orchestrate demo-tree DIR            make a git tree of Debian's linux-source-6.1 to build
"""

EPILOG = """\
exit codes: 0 all cells passed, 1 a cell failed to build, 2 bad input, an infrastructure
error or a matrix error (Kconfig dropped an option a cell asked for), 130 interrupted.
Results go to ./results (or $ORCHESTRATOR_RESULTS, or --results); worktrees, build directories
and ccache to ~/.cache/orchestrator (or $ORCHESTRATOR_WORK).
"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line saying where to look, like every other input error."""

    def error(self, message):
        print(f"{self.prog}: error: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)


def _common(parser: argparse.ArgumentParser, cells: bool = True) -> None:
    parser.add_argument("--matrix", type=Path, default=Path("matrix.yaml"), help="matrix file (default: %(default)s)")
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
    parser.add_argument("--commit", required=True, metavar="REV", help="commit to build: sha, branch, tag, HEAD~2")
    _common(parser)
    parser.add_argument(
        "--runtime", choices=matrix_module.RUNTIMES, help="tuxmake runtime for every cell (default: the matrix's)"
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="make -j of each cell (default: split the cores)")
    parser.add_argument("--rebuild", action="store_true", help="build cells that already have a result too")
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


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = views.make_console()
    try:
        if argv and argv[0] in COMMANDS:
            command, rest = argv[0], argv[1:]
            handler = {"plan": cmd_plan, "show": cmd_show, "demo-tree": cmd_demo_tree}[command]
            parser = {"plan": plan_parser, "show": show_parser, "demo-tree": demo_tree_parser}[command]()
            return handler(parser.parse_args(rest), out)
        return cmd_build(build_parser().parse_args(argv), out)
    except InputError as error:
        print(f"orchestrate: error: {error}", file=sys.stderr)  # one line, never wrapped
        return 2
    except (KeyboardInterrupt, Interrupted):
        print("orchestrate: interrupted; every build that finished is stored", file=sys.stderr)
        return 130


def _results(args) -> Path:
    return args.results or default_results_dir()


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_build(args, out: Console) -> int:
    if args.commit.startswith("-"):
        raise InputError(f"--commit '{args.commit}': a revision may not begin with '-'")
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs {args.jobs}: must be a positive number")
    matrix = matrix_module.load(args.matrix)
    cells = matrix_module.select(matrix.cells, args.cells)
    source = pipeline.source_tree(matrix, args.tree)
    store = Store(_results(args))
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    title = f"building {args.commit} of {source}"
    with views.LiveProgress(out, cells, title) as progress:
        run = pipeline.build_commit(
            matrix,
            cells,
            source,
            args.commit,
            store,
            runtime=args.runtime,
            jobs=args.jobs,
            rebuild=args.rebuild,
            command=" ".join(["orchestrate", *sys.argv[1:]]),
            on_progress=progress.update,
        )
    views.summary(out, run.commit, run.results, run.built)
    return pipeline.exit_code(run.results)


def cmd_plan(args, out: Console) -> int:
    matrix = matrix_module.load(args.matrix)
    cells = matrix_module.select(matrix.cells, args.cells)
    source = args.tree or matrix.tree.path or matrix.tree.url
    views.plan(out, cells, str(source))
    return 0


def cmd_show(args, out: Console) -> int:
    if args.rev.startswith("-"):
        raise InputError(f"show '{args.rev}': a revision may not begin with '-'")
    store = Store(_results(args))
    sha = store.find_sha(args.rev)
    if sha is None:
        matrix = matrix_module.load(args.matrix)
        sha = tree.resolve(pipeline.source_tree(matrix, args.tree), args.rev)
    commit = store.commit(sha)
    results = store.builds(sha)
    if commit is None or not results:
        raise InputError(f"show '{args.rev}': no stored results for {sha[:12]}; build it with --commit {args.rev}")
    views.show(out, commit, results)
    return pipeline.exit_code(results)


def cmd_demo_tree(args, out: Console) -> int:
    sha = make_demo_tree(args.dir, args.tarball)
    out.print(f"{args.dir}: demo kernel tree at {sha}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
