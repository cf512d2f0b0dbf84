#!/usr/bin/env python3
"""Logs no one here wrote: orchestrator.logparse on KernelCI's labelled kbuild logs.

KernelCI's log parser, logspec (https://github.com/kernelci/logspec), tests itself on real build logs
of KernelCI's own builds (tests/logs/kbuild/*.log), each labelled in tests/test_kbuild.py with the error
that broke the build: its source file and line, or its message for errors without one. Nothing of that
repository is copied here; give this script a checkout of it.

Usage: python3 bench/foreign_logs.py LOGSPEC_CHECKOUT

For each labelled log: is the labelled error among our records (found), and is it the record we mark as
the root cause? A record names the labelled file when the paths are the same after normalization
(`amdgpu/../display/x.c` is `display/x.c`), when the label is an absolute path ending in ours (we cut the
build's root), or when the label names the translation unit and our record is the error in a header it
includes (the unit is the last entry of the record's include chain). Errors without a file are matched
by the first 40 characters of their message (clang's driver says `clang: error: x`: our message is `x`, the program `clang`).
"""

from __future__ import annotations

import ast
import posixpath
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator import logparse  # noqa: E402
from orchestrator.models import Diagnostic  # noqa: E402


def labelled(checkout: Path) -> list[tuple[str, dict]]:
    """(log file, its first labelled error) from the parametrize list of tests/test_kbuild.py."""
    tree = ast.parse((checkout / "tests" / "test_kbuild.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize":
            return [(log, expected["errors"][0]) for log, _, expected in ast.literal_eval(node.args[1]) if expected.get("errors")]
    sys.exit(f"{checkout}: no parametrized cases in tests/test_kbuild.py")


def same_file(ours: str, theirs: str) -> bool:
    ours, theirs = posixpath.normpath(ours), posixpath.normpath(theirs)
    return ours == theirs or (theirs.startswith("/") and theirs.endswith("/" + ours))


def names(record: Diagnostic, label: dict) -> bool:
    file, line = label.get("src_file"), label.get("line_no")
    if file:
        if same_file(record.file, file):
            return line is None or str(record.line) == str(line)
        unit = record.include_chain[-1].rsplit(":", 1)[0] if record.include_chain else ""
        return bool(unit) and same_file(unit, file)
    wanted = label.get("error_summary", "").replace("error: ", "").lower()
    return wanted[:40] in record.message.lower() or record.message.lower()[:40] in wanted


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    checkout = Path(sys.argv[1])
    cases = labelled(checkout)
    found = root = 0
    for log, label in cases:
        with open(checkout / "tests" / "logs" / "kbuild" / log, "rb") as stream:
            records = logparse.parse(stream)
        hit = [r for r in records if names(r, label)]
        found += bool(hit)
        root += any(r.root_cause for r in hit)
        where = f"{label.get('src_file') or ''}:{label.get('line_no') or ''}"
        print(f"| {log} | {label.get('error_type')} {where} | {'yes' if hit else 'NO'} | {'yes' if any(r.root_cause for r in hit) else 'NO'} |")
    print(f"found {found}/{len(cases)} ({100 * found / len(cases):.0f}%), root cause {root}/{len(cases)} ({100 * root / len(cases):.0f}%)")


if __name__ == "__main__":
    main()
