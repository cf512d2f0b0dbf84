#!/usr/bin/env python3
"""Orchestrator overhead: the three gcc KVM cells through `orchestrate` against the same three cells as
bare `tuxmake` commands run one after another, with the same warm ccache and stable build directories.

Usage: python3 bench/overhead.py [--tree build/linux] [--repeat 2] [--splits] [--cold]
--cold empties ccache before every measured run (both sides), instead of warming it once.
Prints a markdown table row per measurement; bench/README.md keeps the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from orchestrator import matrix, pipeline, tree  # noqa: E402
from orchestrator.models import Cell  # noqa: E402
from orchestrator.store import Store  # noqa: E402

CELLS = ["x86_64-gcc-defconfig+kvm", "arm64-gcc-defconfig+kvm", "riscv-gcc-defconfig+kvm"]


def cache_state(ccache: str, cold: bool) -> None:
    if cold:
        shutil.rmtree(ccache, ignore_errors=True)


def bare_tuxmake(cells: list[Cell], source: Path, work: Path, ccache: str) -> float:
    """What a user would type: one tuxmake command per cell, one after another."""
    started = time.monotonic()
    for cell in cells:
        out, build = work / "bare" / cell.id, work / "bare-build" / cell.id
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(build, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        fragments = []
        for index, fragment in enumerate(cell.fragments):
            path = work / "fragments" / f"{cell.id}-{index}.config"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(fragment.text)
            fragments += ["--kconfig-add", str(path)]
        command = [
            "tuxmake", "--runtime", "null", "--target-arch", cell.arch, "--toolchain", cell.toolchain,
            "--wrapper", "ccache", "--kconfig", cell.kconfig, *fragments, "--jobs", str(os.cpu_count()),
            "--output-dir", str(out), "--build-dir", str(build), "--quiet",
            *sum((["--make-target", t] for t in cell.make_targets), []), *cell.targets,
        ]
        subprocess.run(command, cwd=source, check=True, env={**os.environ, "CCACHE_DIR": ccache},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def orchestrated(
    loaded: matrix.Matrix, cells: list[Cell], source: Path, work: Path, workers: int | None = None, jobs: int | None = None
) -> tuple[float, list]:
    results = work / "results"
    shutil.rmtree(results, ignore_errors=True)
    started = time.monotonic()
    run = pipeline.build_commit(loaded, cells, source, "HEAD", Store(results), workers=workers, jobs=jobs,
                                work_root=work / "orch")
    elapsed = time.monotonic() - started
    assert all(r.status == "pass" for r in run.results), run.results
    return elapsed, run.results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=PROJECT / "build" / "linux")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--splits", action="store_true", help="also compare workers x make -j splits")
    parser.add_argument("--cold", action="store_true", help="empty ccache before every measured run")
    args = parser.parse_args()
    loaded = matrix.load(PROJECT / "matrix.yaml")
    cells = matrix.select(loaded.cells, CELLS)
    work = Path(tempfile.mkdtemp(prefix="orch-bench-"))
    ccache = str(work / "ccache")
    os.environ["CCACHE_DIR"] = ccache
    # The orchestrator builds a worktree; give tuxmake the same checkout so both read the same files.
    source = tree.checkout(args.tree.resolve(), tree.resolve(args.tree, "HEAD"), work / "orch")
    state = "cold" if args.cold else "warm"
    print("warming ccache and the page cache ...", file=sys.stderr)
    orchestrated(loaded, cells, args.tree, work)
    bare_tuxmake(cells, source, work, ccache)
    for _ in range(args.repeat):
        cache_state(ccache, args.cold)
        bare = bare_tuxmake(cells, source, work, ccache)
        cache_state(ccache, args.cold)
        orch, _ = orchestrated(loaded, cells, args.tree, work)
        print(f"| {state} | bare tuxmake x3, sequential | {bare:.1f} s | orchestrate (default split) | {orch:.1f} s |"
              f" {orch / bare:.2f} |", flush=True)
        # One cell at a time: what the orchestrator adds around tuxmake, per cell.
        cache_state(ccache, args.cold)
        serial, results = orchestrated(loaded, cells, args.tree, work, workers=1)
        inside = sum(r.duration for r in results)
        print(f"| {state} | orchestrate, 1 cell at a time | {serial:.1f} s | time inside tuxmake | {inside:.1f} s |"
              f" overhead {(serial - inside) / len(cells):.2f} s/cell |", flush=True)
    if args.splits:
        for workers, jobs in ((1, 2), (2, 1), (2, 2), (3, 1)):
            cache_state(ccache, args.cold)
            elapsed, _ = orchestrated(loaded, cells, args.tree, work, workers=workers, jobs=jobs)
            print(f"| {state} | split: {workers} cells at once x make -j{jobs} | {elapsed:.1f} s |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
