"""Stored results whose diagnostics an older log parser made, parsed again with today's.

Bumping logparse.VERSION changes records (files, messages, fingerprints); a verdict must never compare
the fingerprints of two parsers, or an unchanged error shows as one gone and one new.
"""

from __future__ import annotations

from pathlib import Path

from . import logparse, safefile
from .models import Diagnostic, is_check
from .store import Store


def stale(store: Store) -> int:
    """Results whose diagnostics an older log parser made, parsed again from their build.log with
    today's (once: they are stored so), for a verdict never to compare fingerprints of two parsers.
    A result whose log is gone keeps its diagnostics. Returns how many were parsed again."""
    if store.read_only:
        return 0
    parsed = 0
    for build_id, cell, artifacts in store.stale_builds(logparse.VERSION):
        if is_check(cell):
            store.reparsed(build_id, 0, None)  # a check's findings never came from a log
        else:
            diagnostics = _parsed_again(store.root / artifacts / "build.log") if artifacts else None
            store.reparsed(build_id, logparse.VERSION, diagnostics)
            parsed += diagnostics is not None
    return parsed


def _parsed_again(log: Path) -> list[Diagnostic] | None:
    try:
        with safefile.open_binary(log) as stream:  # a link planted in a copied store is not read
            return logparse.parse(stream)
    except (OSError, safefile.LinkedFileError):
        return None  # pruned, unreadable, or not a file of ours: what was stored stays
