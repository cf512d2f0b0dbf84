"""What reusing results where no input changed saves: builds run and avoided, wall time with and without.

    python3 bench/reuse_series.py [--cells GLOB ...] [--repeat 5]

On a clone of the demo tree, two series after the demo commit (the reference, built first):
  issue:  the 7 commits of issue 15, exactly as tests/test_reuse.py makes them;
  mixed:  20 commits modelled on a KVM tree's history: x86 7, arm64 4, riscv 2, Documentation 3,
          selftests under tools/ 2, virt/kvm/kvm_main.c 1, include/uapi/linux/kvm.h 1.
Every edit keeps the file's line count (a comment's words change), so after the reference commit every
compile is a ccache hit on both sides: the same ccache state, and the figures measure what reuse saves,
not compile time. Each series is built with `orchestrate --commit REF..TIP --no-reuse`, then with reuse
(the default), each in a results store of its own, then audited with `--verify-reuse`. Finally, a
documentation-only commit over the whole selection is judged `--repeat` times, each on a fresh copy of
a store where its parent is built (so every cell is reused, none found stored).
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
from conftest import commit_changes  # type: ignore[import-not-found]  # noqa: E402  (git plumbing: no checkout)
from test_reuse import SERIES  # type: ignore[import-not-found]  # noqa: E402

MIXED = [
    "arch/x86/kvm/vmx/vmx.c", "Documentation/virt/kvm/api.rst", "arch/arm64/kvm/arm.c", "arch/x86/kvm/mmu/mmu.c",
    "tools/testing/selftests/kvm/x86_64/cpuid_test.c", "arch/x86/kvm/svm/svm.c", "arch/riscv/kvm/vcpu.c",
    "arch/arm64/kvm/vgic/vgic.c", "virt/kvm/kvm_main.c", "arch/x86/kvm/lapic.c", "Documentation/virt/kvm/x86/mmu.rst",
    "arch/x86/kvm/cpuid.c", "include/uapi/linux/kvm.h", "arch/arm64/kvm/mmu.c", "tools/testing/selftests/kvm/lib/kvm_util.c",
    "arch/x86/kvm/emulate.c", "arch/riscv/kvm/vcpu_sbi.c", "arch/x86/kvm/hyperv.c", "arch/arm64/kvm/sys_regs.c",
    "Documentation/virt/kvm/locking.rst",
]  # fmt: skip
GCC_UNITS = ["*-gcc-*", "uapi-abi-*"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def first_line_edit(repo: Path, path: str, n: int) -> tuple[str, str, str]:
    """A comment appended to the file's first line (an SPDX line, or a #define): no line moves."""
    first = git(repo, "show", f"HEAD:{path}").split("\n", 1)[0]
    return (path, first + "\n", f"{first} /* edit {n} */\n")


def orchestrate(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=PROJECT, capture_output=True, text=True, check=False)
    return time.monotonic() - started, run.stdout


def counts(results: Path, shas: list[str]) -> tuple[int, int]:
    """(results built, results reused) among the commits `shas`."""
    db = sqlite3.connect(results / "results.db")
    try:
        marks = ",".join("?" * len(shas))
        rows = db.execute(f"SELECT reused_from != '' FROM builds WHERE sha IN ({marks})", shas).fetchall()
    finally:
        db.close()
    reused = sum(row[0] for row in rows)
    return len(rows) - reused, reused


def series(clone: Path, base: str, name: str, make: list) -> list[str]:
    git(clone, "update-ref", "HEAD", base)
    shas = [commit_changes(clone, edits, subject) for subject, edits in make]
    git(clone, "update-ref", f"refs/heads/{name}", shas[-1])
    return shas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", action="append", default=None, help=f"unit globs (default: {' '.join(GCC_UNITS)})")
    parser.add_argument("--repeat", type=int, default=5, help="times the documentation-only commit is judged")
    args = parser.parse_args()
    globs = [option for glob in (args.cells or GCC_UNITS) for option in ("--cells", glob)]
    with tempfile.TemporaryDirectory(prefix="reuse-series-") as scratch:
        root = Path(scratch)
        clone = root / "linux"
        subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(PROJECT / "build" / "linux"), str(clone)], check=True)
        base = git(clone, "rev-parse", "HEAD")
        made = {
            "issue": series(clone, base, "issue", [(subject, edits) for subject, edits, _ in SERIES]),
            "mixed": series(clone, base, "mixed", [(f"edit {n}: {path}", [first_line_edit(clone, path, n)]) for n, path in enumerate(MIXED, 1)]),
        }
        warm, _ = orchestrate("--commit", base, "--tree", str(clone), "--results", str(root / "warm"), *globs)
        print(f"reference commit built (ccache filled): {warm:.1f} s", flush=True)
        for name, shas in made.items():
            spec = f"{base}..{shas[-1]}"
            figures = {}
            for side, extra in (("without reuse", ["--no-reuse"]), ("with reuse", [])):
                results = root / f"{name}-{side.replace(' ', '-')}"
                shutil.copytree(root / "warm", results)  # the reference commit's results, built once
                wall, _ = orchestrate("--commit", spec, "--tree", str(clone), "--results", str(results), *globs, *extra)
                figures[side] = (*counts(results, shas), wall)
                print(f"{name} {side}: {figures[side][0]} built, {figures[side][1]} reused, {wall:.1f} s", flush=True)
            audit, out = orchestrate("--commit", spec, "--tree", str(clone), "--results", str(root / f"{name}-with-reuse"), *globs, "--verify-reuse")
            lines = [line for line in out.splitlines() if line.startswith("reuse audit:")]
            compared = sum(int(line.split()[2]) for line in lines)
            mismatches = sum(int(line.split(", ")[-1].split()[0]) for line in lines)
            (built, _, without), (_, reused, wall) = figures["without reuse"], figures["with reuse"]
            print(f"{name}: avoided {reused}/{built} ({reused / built:.0%}); wall {wall:.1f} s / {without:.1f} s = {wall / without:.2f}")
            print(f"{name} audit (--verify-reuse): {compared} reused results built and compared, {mismatches} mismatches, {audit:.1f} s", flush=True)
        doc_only = made["issue"][0]
        times = []
        for _ in range(args.repeat):
            results = root / "doc-only"
            shutil.rmtree(results, ignore_errors=True)
            shutil.copytree(root / "warm", results)
            wall, _ = orchestrate("--commit", doc_only, "--tree", str(clone), "--results", str(results), *globs)
            assert counts(results, [doc_only])[0] == 0, "the documentation-only commit built a cell"
            times.append(wall)
        print(f"documentation-only commit, every unit reused: median {statistics.median(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
