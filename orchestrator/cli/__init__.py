"""The `orchestrate` command: parses arguments, calls the library, picks a view, sets the exit code.

Exit codes: 0 no regression; 1 a regression (and nothing else); 2 bad input, an infrastructure
error, a matrix error or anything unexpected (one line on stderr, never a traceback); 75 another
nightly holds the lock; 130 interrupted. Errors become exit codes here and nowhere else.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from importlib import import_module

from .. import __version__
from ..errors import Interrupted, OrchestratorError, UserError
from ..inert import inert
from . import arguments

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except OrchestratorError as error:
        print(inert(f"orchestrate: error: {error}{_hint(error)}"), file=sys.stderr)  # one line, never wrapped
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
        print(inert(f"orchestrate: internal error: {type(error).__name__}: {' '.join(str(error).split())[:200]}{where}"), file=sys.stderr)
        return ERROR


def _run(argv: list[str]) -> int:
    if argv and not argv[0].startswith("-") and argv[0] not in arguments.COMMANDS:
        raise UserError(
            f"unknown command '{argv[0]}'; the commands are {', '.join(arguments.COMMANDS)}, or --commit REV to build "
            "(see orchestrate --help)"
        )
    parser = arguments.parser()
    args = parser.parse_args(argv)
    if args.func == "commands.build" and args.commit is None:
        parser.error("the following arguments are required: --commit (or a command)")
    module, _, name = args.func.rpartition(".")
    handler = getattr(import_module(f"{__package__}.{module}"), name)  # only the command's own machinery loads
    from ..views.console import make_console  # rich: for the commands, never for --help or --version

    return handler(args, make_console())


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
