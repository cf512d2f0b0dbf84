"""What the Dask executor costs against the local pool, on this one machine.

    python3 bench/executors.py [--repeat 3] [--warm 3]

The six shipped KVM cells of x86_64, arm64 and riscv (gcc and clang), at the demo commit, rebuilt
(`--rebuild`) with the local executor (2 cells at once, make -j2) and with Dask: a scheduler and 2
workers x 1 thread on 127.0.0.1, each with its own work root and ccache, fetching from git daemon
(as tests/test_executors_cluster.py starts them). Both sides are warmed first (`--warm` runs each: a
worker's ccache is its own, so a cell must have been built on each worker once to hit there), then
run in turn, local and Dask, `--repeat` times; wall time of the whole `orchestrate` process.
Prints the medians, the ratio, the engine's overhead per cell, and each cell's median build time
(from the store) for the projections in bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))
from conftest import DEMO_TREE  # type: ignore[import-not-found]  # noqa: E402
from test_executors_cluster import serve, start_cluster, stop  # type: ignore[import-not-found]  # noqa: E402

CELLS = ["x86_64-gcc-defconfig+kvm", "x86_64-clang-defconfig+kvm", "arm64-gcc-defconfig+kvm", "arm64-clang-defconfig+kvm",
         "riscv-gcc-defconfig+kvm", "riscv-clang-defconfig+kvm"]  # fmt: skip


def orchestrate(*args: str) -> float:
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=PROJECT, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"orchestrate {' '.join(args)} exited {run.returncode}:\n{run.stdout[-2000:]}{run.stderr}")
    return time.monotonic() - started


def cell_durations(results: Path) -> dict[str, float]:
    """cell → the median duration of its stored attempts."""
    with sqlite3.connect(results / "results.db") as db:
        rows = db.execute("SELECT cell, duration FROM attempts WHERE status = 'pass'").fetchall()
    by_cell: dict[str, list[float]] = {}
    for cell, duration in rows:
        by_cell.setdefault(cell, []).append(duration)
    return {cell: statistics.median(durations) for cell, durations in sorted(by_cell.items())}


def makespan(durations: list[float], workers: int, overhead: float) -> float:
    """Wall time of `durations` on `workers` one-build-at-a-time workers, longest first to the least
    loaded (what a scheduler handing out queued tasks does), each with the engine's `overhead`."""
    loads = [0.0] * workers
    for duration in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += duration + overhead
    return max(loads)


def projections(cell_seconds: list[float], kernel_seconds: float, overhead: float) -> None:
    """The shipped matrix (the measured per-cell times, the 3 cells not benched at the median) and a
    100-cell whole-kernel matrix, on 1, 4 and 16 workers like one of these (2 cores each)."""
    shipped = cell_seconds + [statistics.median(cell_seconds)] * (9 - len(cell_seconds))
    for name, durations in (("shipped 9-cell KVM matrix", shipped), ("100 whole-kernel cells", [kernel_seconds] * 100)):
        figures = ", ".join(f"{n} worker{'s' if n > 1 else ''}: {makespan(durations, n, overhead):.0f} s" for n in (1, 4, 16))
        print(f"projected, {name}: {figures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--kernel-seconds", type=float, help="a measured whole-kernel cell's build time, for the projection")
    parser.add_argument("--project-only", nargs="*", type=float, metavar="SECONDS", help="only project, from these per-cell times")
    parser.add_argument("--overhead", type=float, default=0.0, help="with --project-only: the engine's overhead per cell")
    args = parser.parse_args()
    if args.project_only is not None:
        projections(args.project_only, args.kernel_seconds or 0.0, args.overhead)
        return
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    served, daemon, url = serve(DEMO_TREE, root)
    clone = root / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(served), str(clone)], check=True)
    processes = [daemon]
    try:
        address, _, started = start_cluster(root)
        processes += started
        shutil.copytree(PROJECT / "configs", root / "configs")
        matrix = (PROJECT / "matrix.yaml").read_text().replace("  path: build/linux", f"  path: {clone}")
        (root / "matrix.yaml").write_text(matrix + f"\nexecutor: {{address: '{address}', source_url: '{url}'}}\n")
        cells = [option for cell in CELLS for option in ("--cells", cell)]
        sides = {
            "local": ["--commit", "HEAD", "--rebuild", "--matrix", str(root / "matrix.yaml"), "--results", str(root / "local"), *cells,
                      "--executor", "local"],
            "dask": ["--commit", "HEAD", "--rebuild", "--matrix", str(root / "matrix.yaml"), "--results", str(root / "dask"), *cells],
        }  # fmt: skip
        for _ in range(args.warm):
            for side in sides.values():
                orchestrate(*side)
        times: dict[str, list[float]] = {"local": [], "dask": []}
        for _ in range(args.repeat):
            for name, side in sides.items():
                times[name].append(orchestrate(*side))
        local, dask = statistics.median(times["local"]), statistics.median(times["dask"])
        print(f"local: median {local:.1f} s {sorted(round(t, 1) for t in times['local'])}")
        print(f"dask:  median {dask:.1f} s {sorted(round(t, 1) for t in times['dask'])}")
        print(f"ratio dask/local {dask / local:.2f}; overhead per cell {(dask - local) / len(CELLS):+.2f} s")
        for name in sides:
            print(f"{name} per-cell build time (median of every stored pass):")
            for cell, duration in cell_durations(root / name).items():
                print(f"  {cell}: {duration:.1f} s")
        if args.kernel_seconds:
            projections(list(cell_durations(root / "dask").values()), args.kernel_seconds, max(0.0, (dask - local) / len(CELLS)))
    finally:
        stop(processes)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
