#!/usr/bin/env python3
"""Container overhead per cell: the riscv and arm64 gcc KVM cells built by `orchestrate` in podman
(local images from `orchestrate images build`) against the same cells with the `null` runtime (the
host's toolchains), one cell at a time, each runtime's ccache warmed by a first run.

Usage: python3 bench/container_overhead.py [--tree build/linux] [--repeat 3]
Prints a markdown table row per cell; bench/README.md keeps the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from orchestrator import matrix, pipeline  # noqa: E402
from orchestrator.models import Cell  # noqa: E402
from orchestrator.store import Store  # noqa: E402

CELLS = ["riscv-gcc-defconfig+kvm", "arm64-gcc-defconfig+kvm"]


def one_build(loaded: matrix.Matrix, cell: Cell, source: Path, runtime: str, results: Path) -> float:
    started = time.monotonic()
    run = pipeline.build_commit(loaded, [cell], source, "HEAD", Store(results), runtime=runtime, rebuild=True, workers=1)
    elapsed = time.monotonic() - started
    status = run.results[0].status
    if status != "pass":
        raise SystemExit(f"{cell.id} with {runtime}: {status}, not pass: {run.results[0].reason}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=PROJECT / "build" / "linux")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    loaded = matrix.load(PROJECT / "matrix.yaml")
    cells = [c for c in loaded.cells if c.id in CELLS]
    print("| cell | null (host toolchains) | podman | ratio |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for cell in cells:
            times = {}
            for runtime in ("null", "podman"):
                results = Path(scratch) / runtime
                one_build(loaded, cell, args.tree, runtime, results)  # warm this runtime's ccache entries
                times[runtime] = [one_build(loaded, cell, args.tree, runtime, results) for _ in range(args.repeat)]
            host, container = statistics.median(times["null"]), statistics.median(times["podman"])
            print(f"| {cell.id} | {host:.1f} s | {container:.1f} s | {container / host:.2f} |", flush=True)


if __name__ == "__main__":
    main()
