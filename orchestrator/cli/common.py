"""What the command handlers share: the store they open, how they speak, where output goes.

Imports here stay light: `orchestrate parse` and `show` load this, never the build machinery.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .. import reparse, tree
from ..errors import RevisionError, UserError
from ..inert import inert
from ..store import Store, default_results_dir

if TYPE_CHECKING:
    from argparse import Namespace

    from rich.console import Console

    from ..matrix import Matrix


def results_dir(args: Namespace) -> Path:
    return args.results or default_results_dir()


def open_store(args: Namespace, create: bool = True) -> Store:
    """The results store, with the results an older log parser made parsed again (reparse.stale).
    Commands that only read it pass `create=False`: they never leave a new store where they looked."""
    store = Store(results_dir(args), create=create)
    parsed = reparse.stale(store)
    if parsed:  # on stderr: stdout may be a JSON or markdown report
        print(f"orchestrate: {parsed} stored build log{'s' if parsed != 1 else ''} parsed again: the log parser changed", file=sys.stderr)
    return store


def sayer(out: Console) -> Callable[[str], None]:
    """Progress messages for the library's `say`: printed as they are, no markup or highlighting."""
    return lambda message: out.print(inert(message), highlight=False, markup=False, soft_wrap=True)  # one line in a log


def stored_sha(store: Store, rev: str, matrix: Callable[[], Matrix], tree_override: Path | None, label: str) -> str:
    """The full sha of `rev`: a stored commit it is a prefix of, else what the matrix's tree resolves
    it to (the matrix is read only then: `show` of a stored sha needs none)."""
    stored = store.find_shas(rev)
    if len(stored) > 1:
        raise RevisionError(f"ambiguous: the store holds {', '.join(sha[:12] for sha in stored)}; give more digits", label=label, rev=rev)
    if stored:
        return stored[0]
    from ..pipeline import source_tree  # the build machinery, only when the store does not know `rev`

    return tree.resolve(source_tree(matrix(), tree_override), rev, label=label)


def write_output(output: Path | None, text: str) -> None:
    """`text` to the file -o names, else to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as error:
        raise UserError(f"-o {output}: cannot write ({error.strerror}); give a writable path") from None


@contextmanager
def collector_paused() -> Iterator[None]:
    """A report makes tens of thousands of records (builds, diagnostics, verdicts, rendered lines) that
    form no cycles: the cyclic garbage collector would walk them again and again while they are made. A
    short-lived command may switch it off for its whole run; the library never does (process-wide state)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
