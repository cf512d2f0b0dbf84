#!/usr/bin/env python3
"""Start-up: what a script that calls `orchestrate` pays per call, against another checkout of it.

Usage: python3 bench/startup.py BEFORE_CHECKOUT [RUNS]

Runs each command RUNS times (default 15) from this checkout (A) and from BEFORE_CHECKOUT (B) in turn,
A B A B ..., each a whole new interpreter (`python3 -m orchestrator ...`, the checkout as its working
directory, so that its own package is the one imported), timed from start to exit; prints the median
wall time of each and the median of the pairwise ratios A/B. `show` reads a store made by importing
tests/data/builds/tuxmake-artifacts for the demo tree's HEAD.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
LOG = HERE / "tests" / "data" / "logs" / "x86_64-gcc-selftests-m32-system-header.log"  # 91 KB


def timed(checkout: Path, args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=checkout, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    before, runs = Path(sys.argv[1]).resolve(), int(sys.argv[2]) if len(sys.argv) > 2 else 15
    with tempfile.TemporaryDirectory() as results:
        tree = HERE / "build" / "linux"
        sha = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        artifacts = HERE / "tests" / "data" / "builds" / "tuxmake-artifacts"
        subprocess.run([sys.executable, "-m", "orchestrator", "import", str(artifacts), "--commit", sha, "--cell", "riscv-gcc-defconfig+kvm",
                        "--results", results, "--tree", str(tree)], cwd=HERE, check=True, capture_output=True)  # fmt: skip
        commands = {"--version": ["--version"], "--help": ["--help"], "parse (91 KB log)": ["parse", str(LOG)],
                    "show (one stored commit)": ["show", sha, "--results", results]}  # fmt: skip
        print("| command | this checkout (A) | before (B) | A/B |\n|---|---|---|---|")
        for name, args in commands.items():
            timed(HERE, args), timed(before, args)  # warm-up: the page cache, the .pyc files
            pairs = [(timed(HERE, args), timed(before, args)) for _ in range(runs)]
            a, b = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
            print(f"| `orchestrate {name}` | {a:.3f} s | {b:.3f} s | {statistics.median(x / y for x, y in pairs):.2f} |")


if __name__ == "__main__":
    main()
