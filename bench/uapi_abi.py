"""The uapi-abi check's cost, as `orchestrate` runs it: each ABI pair in a worker process, two at once.

    python3 bench/uapi_abi.py --cache /tmp/uapi-cache --fresh all             # cold: headers_install, compile, DWARF
    python3 bench/uapi_abi.py --cache /tmp/uapi-cache --fresh layouts --headers linux/kvm.h
    python3 bench/uapi_abi.py --cache /tmp/uapi-cache --fresh none            # a commit with no uapi change

`--fresh` empties part of the cache first: `all` (nothing installed yet), `layouts` (headers installed,
nothing compiled: a commit that changed a uapi header, after its install), `none` (a commit that touched
no uapi file). Prints each pair's counts and the wall time; time the whole process from outside too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.checks import uapi_abi  # noqa: E402
from orchestrator.models import Check  # noqa: E402

PAIRS = ("x86_64-i386", "x86_64-x32", "arm64-arm", "riscv64-riscv32")


def one_pair(tree: Path, cache: Path, pair: str, headers: tuple[str, ...]) -> str:
    wide, narrow = pair.split("-", 1)
    started = time.monotonic()
    found, _, _ = uapi_abi.judge(Check(f"uapi-abi-{pair}", "uapi-abi", wide, narrow, headers), tree, cache, jobs=2)
    counts = {s: sum(d.severity == s for d in found) for s in ("error", "warning", "note")}
    return f"{pair}: {counts['error']} errors, {counts['warning']} warnings, {counts['note']} notes in {time.monotonic() - started:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=Path("build/linux"))
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--fresh", choices=("all", "layouts", "none"), default="none")
    parser.add_argument("--headers", nargs="*", default=[])
    parser.add_argument("--pairs", nargs="*", default=list(PAIRS))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.fresh == "all":
        shutil.rmtree(args.cache, ignore_errors=True)
    elif args.fresh == "layouts":
        for part in ("layouts", "findings"):
            shutil.rmtree(args.cache / part, ignore_errors=True)
    started = time.monotonic()
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = [pool.submit(one_pair, args.tree.absolute(), args.cache, pair, tuple(args.headers)) for pair in args.pairs]
        for job in jobs:
            print(job.result())
    print(f"wall {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
