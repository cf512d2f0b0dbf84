#!/usr/bin/env python3
"""How long `orchestrate report` takes over 1,000 commits x 30 cells, on a synthetic store, and how
long its HTML page takes to write and for headless Chromium to draw.

A git repository of 1,000 first-parent commits (made with git fast-import) and a results store with a
result for every commit and cell, carrying diagnostics parsed from the real corpus (tests/data/logs/),
with failures and warnings coming and going so the table has every kind of verdict.

Usage: python3 bench/report_speed.py [--commits 1000] [--cells 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from rich.console import Console  # noqa: E402

from orchestrator import logparse, pipeline  # noqa: E402
from orchestrator.cli.common import collector_paused  # noqa: E402
from orchestrator.models import BuildResult, Commit, Status  # noqa: E402
from orchestrator.store import Store  # noqa: E402
from orchestrator.views import console, export, html  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def make_repo(path: Path, commits: int) -> list[str]:
    subprocess.run(["git", "init", "--quiet", str(path)], check=True)
    stream = io.StringIO()
    for number in range(commits):
        message = f"commit {number}"
        stream.write(f"commit refs/heads/main\nmark :{number + 1}\n")
        stream.write(f"committer t <t@t> {1_600_000_000 + number} +0000\ndata {len(message)}\n{message}\n")
        if number:
            stream.write(f"from :{number}\n")
        stream.write("\n")
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=stream.getvalue(), text=True, check=True)
    log = subprocess.run(["git", "-C", str(path), "rev-list", "--reverse", "main"], capture_output=True, text=True)
    return log.stdout.split()


def fill_store(store: Store, shas: list[str], cells: int) -> None:
    corpus = {}
    for log in sorted((PROJECT / "tests" / "data" / "logs").glob("*.log")):
        with open(log, "rb") as handle:
            corpus[log.stem] = logparse.parse(handle)
    errors = [d for found in corpus.values() for d in found if d.severity == "error"]
    warnings = [d for found in corpus.values() for d in found if d.severity == "warning"]
    chance = random.Random(1)
    for number, sha in enumerate(shas):
        store.add_commit(Commit(sha, f"commit {number}", "2026-01-01T00:00:00+00:00"))
        for cell in range(cells):
            failing = chance.random() < 0.05
            found = [chance.choice(errors)] if failing else []
            found += chance.sample(warnings, chance.randint(0, 2))
            store.add_build(
                BuildResult(
                    cell_id=f"cell-{cell:02d}", sha=sha, status=Status.FAIL if failing else Status.PASS, definition="d",
                    diagnostics=found, reason="x" if failing else "", duration=chance.uniform(8, 60), artifacts_dir=f"{sha}/cell-{cell:02d}",
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--cells", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        shas = make_repo(root / "repo", args.commits)
        store = Store(root / "results")
        started = time.perf_counter()
        fill_store(store, shas, args.cells)
        print(f"filled the store in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        spec = f"{shas[0]}..{shas[-1]}"
        for _ in range(args.repeat):
            with collector_paused():  # as `orchestrate report` runs them
                started = time.perf_counter()
                report = pipeline.report(store, root / "repo", spec)
                built = time.perf_counter()
                console.report(Console(file=io.StringIO(), width=400), report)
                rendered = time.perf_counter()
                export.markdown(report)
                export.as_json(report)
                export.junit(report)
                exported = time.perf_counter()
                html.page(report, "bench", html.Links(""), "now")
                paged = time.perf_counter()
            whole = _timed_command(spec, root, "--format", "table")
            page = root / "report.html"
            written = _timed_command(spec, root, "--format", "html", "-o", str(page))
            print(
                f"| {args.commits} x {args.cells} | table {built - started:.2f} s | rich render {rendered - built:.2f} s |"
                f" markdown+json+junit {exported - rendered:.2f} s | html {paged - exported:.2f} s |"
                f" `orchestrate report` end to end {whole:.2f} s | `report --format html -o` end to end {written:.2f} s |"
                f" page {page.stat().st_size / 2**20:.1f} MiB | Chromium draws it in {_drawn(page):.2f} s |",
                flush=True,
            )


def _timed_command(spec: str, root: Path, *extra: str) -> float:
    started = time.perf_counter()
    command = subprocess.run(
        [sys.executable, "-m", "orchestrator", "report", spec, "--tree", str(root / "repo"),
         "--results", str(root / "results"), "--matrix", str(PROJECT / "matrix.yaml"), *extra],
        capture_output=True, cwd=PROJECT, env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert command.returncode == 0, command.stderr
    return time.perf_counter() - started


def _drawn(page: Path) -> float:
    """From asking headless Chromium (already running) for the page to its first frame drawn after the
    load event: parsing, style, layout and paint of the whole page, without the browser's start-up."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        started = time.perf_counter()
        tab.goto(page.as_uri(), wait_until="load")
        tab.evaluate("() => new Promise(drawn => requestAnimationFrame(() => requestAnimationFrame(drawn)))")
        took = time.perf_counter() - started
        browser.close()
    return took


if __name__ == "__main__":
    main()
