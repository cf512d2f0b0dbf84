"""Commands that only read: a build log (parse), the store (show), a damaged store (recover)."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from .. import logparse
from ..errors import RevisionError, UserError
from ..store import recover as recover_store
from ..views import console as views
from ..views import export
from .common import open_store, results_dir, sayer, stored_sha

if TYPE_CHECKING:
    from ..matrix import Matrix


def show(args: Namespace, out: Console) -> int:
    """A view: exit 0 whatever the stored statuses are (only a judged regression exits 1)."""
    if args.rev.startswith("-"):
        raise RevisionError("a revision may not begin with '-'", label="show", rev=args.rev)
    store = open_store(args, create=False)
    sha = stored_sha(store, args.rev, lambda: _matrix(args.matrix), args.tree, "show")
    commit = store.commit(sha)
    results = store.builds(sha)
    if commit is None or not results:
        raise RevisionError(f"no stored results for {sha[:12]}", label="show", rev=args.rev, topic="unbuilt")
    views.show(out, commit, results, store.root, {r.cell_id: store.attempts(sha, r.cell_id) for r in results})
    return 0


def parse(args: Namespace, out: Console) -> int:
    """A view of any build log: exit 0 whatever it holds."""
    if args.log == "-":
        if sys.stdin is None:  # started with standard input closed (`<&-`)
            raise UserError("parse -: standard input is closed; give a build log file, or pipe one in")
        diagnostics = logparse.parse(sys.stdin.buffer, args.root)
    else:
        try:
            with open(args.log, "rb") as log:
                diagnostics = logparse.parse(log, args.root)
        except OSError as error:
            raise UserError(f"{args.log}: cannot be read ({error.strerror}); give a build log file, or - for standard input") from None
    if args.format == "json":
        out.file.write(export.parsed_json(args.log, diagnostics))
    else:
        views.parsed(out, args.log, diagnostics)
    return 0


def recover(args: Namespace, out: Console) -> int:
    recovered = recover_store(results_dir(args))
    say = sayer(out)
    say(f"{recovered.rows} rows copied into a new {recovered.damaged.with_name('results.db')}")
    say(f"the damaged database is kept as {recovered.damaged}")
    if recovered.lost:
        say(f"rows of {', '.join(recovered.lost)} on damaged pages are lost; those builds count as missing and build again")
    return 0


def _matrix(path: Path) -> Matrix:
    from ..matrix import load  # jsonschema and tuxmake: only when the store does not know the commit

    return load(path)
