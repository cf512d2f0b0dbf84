"""Rich terminal views: live progress, the summary table, the plan and stored results. Presentation only."""

from __future__ import annotations

import os
import time
from typing import Optional

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from . import export, regress
from .models import FAIL, INFRA, MATRIX_ERROR, PASS, BuildResult, Cell, Commit, Diagnostic

STATUS_STYLE = {PASS: "green", FAIL: "bold red", INFRA: "yellow", MATRIX_ERROR: "magenta"}
STATE_STYLE = {"queued": "dim", "building": "cyan", "stored": "dim green"}


def make_console(stderr: bool = False) -> Console:
    """A console that, off a terminal, is wide enough that tables are not folded into 80 columns."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160)
    return console


def status_text(status: str) -> Text:
    return Text(status.upper(), style=STATUS_STYLE.get(status, ""))


def duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class LiveProgress:
    """One line per cell: state, elapsed time and the step tuxmake is on. Feed it with update()."""

    def __init__(self, console: Console, cells: list[Cell], title: str):
        self.console = console
        self.title = title
        self.rows = {cell.id: {"state": "stored", "detail": "", "started": None, "ended": None} for cell in cells}
        self.live: Optional[Live] = None

    def __enter__(self):
        # Off a terminal (CI logs, pipes) a redrawn table is noise: print a line per finished cell instead.
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        else:
            self.console.print(self.title, highlight=False)
        return self

    def __exit__(self, *exc):
        if self.live:
            return self.live.__exit__(*exc)
        return False

    def update(self, cell_id: str, state: str, detail: str) -> None:
        row = self.rows[cell_id]
        if state == "building" and row["started"] is None:
            row["started"] = time.monotonic()
        if state == "done" and row["ended"] is None:
            row["ended"] = time.monotonic()
        row["state"], row["detail"] = state, detail
        if self.live:
            self.live.update(self._render())
        elif state == "done":
            self.console.print(f"  {cell_id}: {detail.upper()} in {duration(row['ended'] - (row['started'] or row['ended']))}", highlight=False)

    def _render(self) -> Table:
        table = Table(title=self.title, title_justify="left", expand=False)
        table.add_column("cell")
        table.add_column("state")
        table.add_column("elapsed", justify="right")
        table.add_column("step")
        now = time.monotonic()
        for cell_id, row in self.rows.items():
            if row["state"] == "done":
                state = status_text(row["detail"])
                detail = ""
            else:
                state = Text(row["state"], style=STATE_STYLE.get(row["state"], ""))
                detail = row["detail"]
            elapsed = ""
            if row["started"] is not None:
                elapsed = duration((row["ended"] or now) - row["started"])
            table.add_row(cell_id, state, elapsed, detail)
        return table


def summary(console: Console, commit: Commit, results: list[BuildResult], built: Optional[list[str]] = None) -> None:
    table = Table(title=f"{commit.sha[:12]} {commit.subject}", title_justify="left")
    table.add_column("cell", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("errors", justify="right")
    table.add_column("warnings", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("first error / reason", overflow="fold")
    for result in results:
        cell = result.cell_id if built is None or result.cell_id in built else f"{result.cell_id} (stored)"
        table.add_row(
            cell,
            status_text(result.status),
            str(result.errors),
            str(result.warnings),
            duration(result.duration),
            result.reason,
        )
    console.print(table)
    counts = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no results")


def plan(console: Console, cells: list[Cell], source: str) -> None:
    table = Table(title=f"{len(cells)} cells, tree {source}", title_justify="left")
    table.add_column("cell", no_wrap=True)
    table.add_column("fragments (configs/)")
    table.add_column("targets")
    table.add_column("make vars")
    table.add_column("runtime")
    for cell in cells:
        table.add_row(
            cell.id,
            " ".join(f.path for f in cell.fragments),
            " ".join(cell.targets + cell.make_targets),
            " ".join(f"{k}={v}" for k, v in cell.make_variables),
            cell.runtime,
        )
    console.print(table)


def show(console: Console, commit: Commit, results: list[BuildResult], warnings_shown: int = 10) -> None:
    summary(console, commit, results)
    for result in results:
        console.print()
        console.print(
            f"[bold]{result.cell_id}[/] {result.status.upper()}: {result.runtime} runtime, "
            f"{result.compiler or 'compiler unknown'}; "
            f"targets {', '.join(f'{t} {s}' for t, s in result.targets.items()) or 'none'}",
            highlight=False,
        )
        console.print(f"  artifacts: {result.artifacts_dir}", highlight=False)
        errors = [d for d in result.diagnostics if d.severity == "error"]
        warnings = [d for d in result.diagnostics if d.severity == "warning"]
        for diagnostic in errors + warnings[:warnings_shown]:
            diagnostic_lines(console, diagnostic)
        if len(warnings) > warnings_shown:
            console.print(f"  ... and {len(warnings) - warnings_shown} more warnings", style="dim")


def diagnostic_lines(console: Console, diagnostic: Diagnostic) -> None:
    """`file:line:col: severity: message [-Wopt] (xN)`, then the first excerpt line."""
    style = "bold red" if diagnostic.severity == "error" else "yellow"
    line = Text("  ")
    line.append(f"{diagnostic.location}: ", style="bold")
    line.append(f"{diagnostic.severity}: ", style=style)
    line.append(diagnostic.message)
    if diagnostic.option:
        line.append(f" [{diagnostic.option}]", style="dim")
    if diagnostic.count > 1:
        line.append(f" (x{diagnostic.count})", style="dim")
    console.print(line)
    if diagnostic.excerpt:
        console.print(Text("    " + diagnostic.excerpt[0].strip(), style="dim"))


VERDICT_STYLE = {
    regress.NEW_FAIL: "bold white on red",
    regress.FIXED: "bold black on green",
    regress.STILL_FAILING: "red",
    regress.NEW_WARNINGS: "bold yellow",
    regress.WARNINGS_FIXED: "bold green",
    regress.UNCHANGED: "green",
    regress.INFRA_ERROR: "yellow",
    regress.MATRIX: "magenta",
    regress.NO_BASELINE: "dim",
}


def verdict_text(verdict: regress.Verdict) -> Text:
    return Text(export.cell_text(verdict), style=VERDICT_STYLE[verdict.kind])


def report(console: Console, rep, fail_on_warnings: bool = False) -> None:
    """The commits x cells table, then the new diagnostics of each regression and how to reproduce it."""
    table = Table(title="regressions by commit (oldest first)", title_justify="left")
    table.add_column("commit", no_wrap=True)
    table.add_column("subject", max_width=40, overflow="ellipsis", no_wrap=True)
    for cell in rep.cells:
        table.add_column(cell, overflow="fold")
    for row in rep.rows:
        cells = [verdict_text(row.verdicts[c]) if c in row.verdicts else Text("") for c in rep.cells]
        table.add_row(row.sha[:12], row.subject, *cells)
    console.print(table)
    regression_details(console, list(export.regressions(rep, fail_on_warnings)))


def regression_details(console: Console, found) -> None:
    if not found:
        console.print("no regressions", style="green")
    for row, verdict in found:
        console.print()
        console.print(
            Text.assemble(
                (f" {verdict.kind} ", VERDICT_STYLE[verdict.kind]),
                f" {verdict.cell_id} at {row.sha[:12]} {row.subject}",
            )
        )
        shown = export.new_diagnostics(verdict)
        for diagnostic in shown:
            diagnostic_lines(console, diagnostic)
        if not shown and verdict.reason:
            console.print(f"  {verdict.reason}", highlight=False)
        console.print(f"  reproduce: {export.reproduce(row.sha, verdict.cell_id)}", style="dim", highlight=False)


def verdicts(console: Console, commit: Commit, found: list[regress.Verdict], fail_on_warnings: bool = False) -> None:
    """What `orchestrate --commit` ends with: each cell against its baseline."""
    table = Table(title=f"verdicts for {commit.sha[:12]} against each cell's baseline", title_justify="left")
    table.add_column("cell", no_wrap=True)
    table.add_column("verdict")
    table.add_column("baseline", no_wrap=True)
    for verdict in found:
        table.add_row(verdict.cell_id, verdict_text(verdict), verdict.base_sha[:12] if verdict.base_sha else "")
    console.print(table)
    row = regress.Row(sha=commit.sha, subject=commit.subject, verdicts={})
    regression_details(console, [(row, v) for v in found if v.is_regression(fail_on_warnings)])
