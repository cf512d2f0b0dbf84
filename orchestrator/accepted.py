"""Findings a maintainer accepted as known: a file under configs/ the matrix names (`accepted:`).

Linux 6.1 already lays dozens of uapi structs out differently on i386; the kernel serves them with
compat code. They are history, not news: listed here, they are counted and shown as known, never a
FAIL, and only what a commit adds is judged. The file is written by `orchestrate accept` and read in
review like any other change:

    # <why, and the command that wrote it>
    <unit id>  <fingerprint>  <the finding as shown>

one finding per line, the three fields separated by a tab. Deleting a line judges that finding again.
Pure, but for reading and writing the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from . import safefile
from .errors import MatrixError
from .models import Diagnostic

MAX_BYTES = 16 * 2**20  # a baseline of every finding of a whole tree is a few hundred KB
HEADER = """# Findings accepted as known: counted and shown, never judged (README: Known findings).
# One per line: the cell or check, the finding's fingerprint, the finding as shown; tab-separated.
# Delete a line to judge that finding again.
"""


def load(path: Path) -> dict[str, frozenset[str]]:
    """Each unit's accepted fingerprints. A line that is not three tab-separated fields is a
    MatrixError naming its file:line."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise MatrixError(f"larger than {MAX_BYTES // 2**20} MB: is it an accepted-findings file?", where=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}  # nothing accepted yet: `orchestrate accept` writes it
    except (OSError, UnicodeDecodeError) as error:
        raise MatrixError(f"cannot be read ({error})", where=str(path)) from None
    return parse(text, str(path))


def parse(text: str, name: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0] or not fields[1]:
            raise MatrixError("expected `<cell or check>\\t<fingerprint>\\t<finding>`: rewrite it with `orchestrate accept`",
                              where=f"{name}:{number}")  # fmt: skip
        found.setdefault(fields[0], set()).add(fields[1])
    return {unit: frozenset(fingerprints) for unit, fingerprints in found.items()}


def lines(unit_id: str, diagnostics: Iterable[Diagnostic]) -> list[str]:
    """The file's lines for a unit's errors and warnings, one per fingerprint, in a stable order."""
    chosen: dict[str, Diagnostic] = {}
    for diagnostic in diagnostics:
        if diagnostic.severity in ("error", "warning"):
            chosen.setdefault(diagnostic.fingerprint, diagnostic)
    shown = {f: f"{d.location}: {d.said}: {d.message}" for f, d in chosen.items()}
    return [f"{unit_id}\t{f}\t{_one_field(shown[f])}" for f in sorted(chosen)]


def merged(text: str, replaced: dict[str, list[str]], why: str) -> str:
    """The file with the entries of the units in `replaced` replaced by theirs; every other unit's
    entries kept as they were, comments of the header aside."""
    kept = [line for line in text.splitlines() if line.strip() and not line.startswith("#") and line.split("\t", 1)[0] not in replaced]
    entries = sorted(kept + [line for unit_lines in replaced.values() for line in unit_lines])
    return HEADER + f"# {_one_field(why)}\n" + "".join(line + "\n" for line in entries)


def write(path: Path, text: str) -> None:
    """Atomically (a reader sees the old file or the new one), readable like any file of the checkout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    safefile.write_text_atomic(path, text)


def mark(diagnostics: list[Diagnostic], accepted: frozenset[str], severities: tuple[str, ...] = ("error", "warning")) -> list[Diagnostic]:
    """The diagnostics with the accepted ones of `severities` marked known. A build accepts warnings
    only: an error stopped it, and accepting that would hide that it does not build."""
    if not accepted:
        return diagnostics
    return [replace(d, known=True) if d.fingerprint in accepted and d.severity in severities else d for d in diagnostics]


def _one_field(text: str) -> str:
    return " ".join(text.split())  # no tab or newline may split a line's fields
