"""What finding the first bad commit costs: the tip and a bisection, against building every commit.

    python3 bench/bisect_series.py [--commits 20] [--bad 13] [--cell riscv-gcc-defconfig+kvm]

A series of N commits on the demo tree (each a harmless README change, except the one at --bad, which
breaks the riscv KVM build as the seed scenario's B does), after a reference commit that is built
first, as a previous nightly's tip is. Then, each in a results store of its own (ccache shared, warm):
  tip + bisect: `orchestrate --commit TIP` then `orchestrate bisect REF..TIP` (what the nightly does);
  --each:       `orchestrate --commit REF..TIP` (every commit, what a user would otherwise run).
Prints the builds and the wall time of each (whole `orchestrate` processes, timed here).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
README_TOP = "Linux kernel\n============\n"
BREAK = ("arch/riscv/kvm/vcpu_sbi.c", "\trun->system_event.ndata = 1;\n", "\trun->system_event.flags = 1;\n")


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    return subprocess.run(["git", "-C", str(repo), *identity, *args], capture_output=True, text=True, check=True).stdout.strip()


def commit(repo: Path, edits: list[tuple[str, str, str]], subject: str) -> str:
    """Each edit replaces the first `old` in its file with `new`; then commit."""
    for path, old, new in edits:
        text = (repo / path).read_text()
        (repo / path).write_text(text.replace(old, new, 1))
    git(repo, "commit", "--quiet", "-am", subject)
    return git(repo, "rev-parse", "HEAD")


def orchestrate(*args: str, results: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "orchestrator", *args, "--results", str(results)], cwd=PROJECT, capture_output=True, check=False)
    return time.monotonic() - started


def builds(results: Path) -> int:
    db = sqlite3.connect(results / "results.db")
    try:
        return int(db.execute("SELECT count(*) FROM attempts").fetchone()[0])
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--bad", type=int, default=13, help="which of the new commits breaks the cell (1-based)")
    parser.add_argument("--cell", default="riscv-gcc-defconfig+kvm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bisect-series-") as scratch:
        root = Path(scratch)
        clone = root / "linux"
        subprocess.run(["git", "clone", "--quiet", "--shared", str(PROJECT / "build" / "linux"), str(clone)], check=True)
        reference = tip = git(clone, "rev-parse", "HEAD")
        for n in range(1, args.commits + 1):
            edits = [("README", README_TOP, f"{README_TOP}\nharmless {n}\n")] + ([BREAK] if n == args.bad else [])
            tip = commit(clone, edits, f"commit {n}")
        common = ["--tree", str(clone), "--cells", args.cell]
        figures = {}
        for name in ("tip + bisect", "--each"):
            results = root / name.replace(" ", "").replace("+", "-")
            orchestrate("--commit", reference, *common, results=results)  # the previous nightly's tip
            before = builds(results)
            if name == "--each":
                wall = orchestrate("--commit", f"{reference}..{tip}", *common, results=results)
            else:
                wall = orchestrate("--commit", tip, *common, results=results)
                wall += orchestrate("bisect", f"{reference}..{tip}", *common, results=results)
            figures[name] = (builds(results) - before, wall)
            shutil.rmtree(results)
    for name, (count, wall) in figures.items():
        print(f"{name}: {count} builds, {wall:.1f} s")
    each, found = figures["--each"], figures["tip + bisect"]
    print(f"ratio (tip + bisect / --each): builds {found[0] / each[0]:.2f}, wall {found[1] / each[1]:.2f}")


if __name__ == "__main__":
    main()
