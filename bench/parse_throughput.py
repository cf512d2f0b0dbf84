#!/usr/bin/env python3
"""Log parsing throughput: orchestrator.logparse against tuxmake's own tuxmake.log.LogParser, on one
file of at least 100 MB made by concatenating the real corpus in tests/data/logs/ (each copy's paths
under its own root, as if from another build directory, so nothing is parsed from a cache of lines).

Usage: python3 bench/parse_throughput.py [--mb 100] [--repeat 3] [--timestamped]
With --timestamped every line carries a clock time (`08:01:54 `), as `ts` and LAVA write them; the
corpus's own timestamped logs are left out of both inputs, so the two are the same text but for that.
Each parser runs in a fresh process (one core); peak RSS is that process's, so memory growth with
the log size shows as a difference between --mb 100 and --mb 200.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT / "tests" / "data" / "logs"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
path, which = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if which == "orchestrator":
    from orchestrator import logparse
    with open(path, "rb") as log:
        found = len(logparse.parse(log))
else:
    from pathlib import Path
    from tuxmake.log import LogParser
    parser = LogParser()
    parser.parse(Path(path))
    found = parser.errors + parser.warnings
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "found": found, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_input(megabytes: int, directory: Path, timestamped: bool) -> Path:
    logs = [p.read_bytes() for p in sorted(CORPUS.glob("*.log")) if "-ts-" not in p.name]
    if not logs:
        sys.exit(f"no logs in {CORPUS}")
    path = directory / f"corpus-{megabytes}mb.log"
    size, copy = 0, 0
    with path.open("wb") as out:
        while size < megabytes * 1_000_000:
            for log in logs:
                # Another build directory per copy: the same text under other roots.
                chunk = log.replace(b"/root/.cache/orchestrator/", f"/var/cache/build{copy}/".encode())
                if timestamped:
                    clock = f"{copy // 3600 % 24:02d}:{copy // 60 % 60:02d}:{copy % 60:02d} ".encode()
                    chunk = b"".join(clock + line for line in chunk.splitlines(keepends=True))
                out.write(chunk)
                size += len(chunk)
            copy += 1
    return path


def run(path: Path, which: str) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), which, str(PROJECT)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timestamped", action="store_true", help="every line prefixed with a clock time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = make_input(args.mb, Path(directory), args.timestamped)
        megabytes = path.stat().st_size / 1_000_000
        best = {}
        for which in ("tuxmake", "orchestrator"):
            runs = [run(path, which) for _ in range(args.repeat)]
            best[which] = min(runs, key=lambda r: r["seconds"])
        for which, result in best.items():
            print(
                f"| {which} | {megabytes:.0f} MB | {result['seconds']:.2f} s | {megabytes / result['seconds']:.0f} MB/s |"
                f" {result['maxrss_kb'] / 1024:.0f} MiB peak RSS | {result['found']} found |"
            )
        ratio = best["orchestrator"]["seconds"] / best["tuxmake"]["seconds"]
        print(f"orchestrator/tuxmake time ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
