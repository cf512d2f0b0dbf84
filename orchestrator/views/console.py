"""Rich terminal views: live progress, the summary table, the plan and stored results. Presentation only."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from rich.color import ColorSystem
from rich.console import Console
from rich.live import Live
from rich.style import Style
from rich.table import Table
from rich.text import Text

from ..inert import inert
from ..models import (
    Attempt,
    BuildResult,
    Cell,
    Check,
    Commit,
    Diagnostic,
    FirstBad,
    Nightly,
    Outcome,
    Report,
    ReuseAudit,
    RootCause,
    Row,
    Status,
    Unit,
    Verdict,
    VerdictKind,
)
from . import export

STATUS_STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.INFRA: "yellow", Status.MATRIX_ERROR: "magenta"}
STATE_STYLE = {"queued": "dim", "building": "cyan", "stored": "dim green", "reused": "dim green"}


def make_console(stderr: bool = False) -> Console:
    """A console that, off a terminal, is wide enough that tables are not folded into 80 columns."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160)
    return console


def status_text(status: Status) -> Text:
    return Text(status.upper(), style=STATUS_STYLE.get(status, ""))


def duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class LiveProgress:
    """One line per cell: state, elapsed time and the step tuxmake is on. Feed it with update()."""

    def __init__(self, console: Console, cells: list[Unit], title: str):
        self.console = console
        self.title = inert(title)  # it names the tree, whatever its path holds
        self.rows = {cell.id: _Progress() for cell in cells}
        self.live: Live | None = None

    def __enter__(self) -> LiveProgress:
        # Off a terminal (CI logs, pipes) a redrawn table is noise: print a line per finished cell instead.
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        else:
            self.console.print(self.title, highlight=False, markup=False)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None) -> None:
        if self.live:
            self.live.__exit__(kind, value, traceback)

    def update(self, cell_id: str, state: str, detail: str) -> None:
        row = self.rows[cell_id]
        now = time.monotonic()
        if state == "worker":  # a cluster's worker took the cell: it is building there
            state, row.worker, detail = "building", inert(detail), ""
            if not self.live:
                self.console.print(f"  {cell_id}: building on {row.worker}", highlight=False, markup=False)
        if state == "building" and row.started is None:
            row.started = now
        if state == "done" and row.ended is None:
            row.ended = now
        row.state, row.detail = state, inert(detail)  # a worker's address, a step of the log, an error's words
        if self.live:
            self.live.update(self._render())
        elif state == "done":
            where = f" on {row.worker}" if row.worker else ""
            self.console.print(f"  {cell_id}: {row.detail.upper()} in {duration(row.elapsed(now))}{where}", highlight=False, markup=False)
        elif state == "reused":  # detail: the commit that built the result
            self.console.print(f"  {cell_id}: {export.reused_text(row.detail)}", highlight=False, markup=False)

    def _render(self) -> Table:
        table = Table(title=Text(self.title), title_justify="left", expand=False)
        table.add_column("cell")
        table.add_column("state")
        table.add_column("elapsed", justify="right")
        table.add_column("step")
        now = time.monotonic()
        for cell_id, row in self.rows.items():
            if row.state == "done":
                state, detail = status_text(Status(row.detail)), ""
            elif row.state == "reused":
                state, detail = Text("reused", style=STATE_STYLE["reused"]), export.reused_text(row.detail)
            else:
                state, detail = Text(row.state, style=STATE_STYLE.get(row.state, "")), row.detail
                if row.worker and row.state == "building":
                    detail = f"on {row.worker}" + (f": {detail}" if detail else "")
            elapsed = duration(row.elapsed(now)) if row.started is not None else ""
            table.add_row(Text(cell_id), state, elapsed, Text(detail))
        return table


@dataclass
class _Progress:
    """One cell's line of live progress."""

    state: str = "stored"  # stored (nothing to build), reused, queued, building, done
    worker: str = ""  # the cluster worker building it
    detail: str = ""  # the step while building; the status when done; the commit reused from
    started: float | None = None
    ended: float | None = None

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or now) - self.started


def summary(console: Console, commit: Commit, results: list[BuildResult], built: list[str] | None = None) -> None:
    """A commit's results, one row each: a cell this run did not build says it was stored before, or
    reused (the earlier commit's build holds: no input of the cell changed)."""
    table = Table(title=Text(f"{commit.sha[:12]} {inert(commit.subject)}"), title_justify="left")
    table.add_column("cell", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("errors", justify="right")
    table.add_column("warnings", justify="right")
    known = {r.cell_id: len({d.fingerprint for d in r.diagnostics if d.known}) for r in results}
    if any(known.values()):  # findings the matrix accepts: counted here, never judged
        table.add_column("known", justify="right", style="dim")
    table.add_column("duration", justify="right")
    table.add_column("first error / reason", overflow="fold")
    for result in results:
        cell = result.cell_id if built is None or result.cell_id in built else f"{result.cell_id} (stored)"
        if result.reused:
            cell = f"{result.cell_id} {export.REUSED_MARK} {export.reused_text(result.reused_from)}"
        table.add_row(
            Text(inert(cell)),
            status_text(result.status),
            str(result.errors),
            str(result.warnings),
            *([str(known[result.cell_id])] if any(known.values()) else []),
            duration(result.duration),
            Text(inert(result.reason)),  # words from a log: never markup
        )
    console.print(table)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no results")


def plan(console: Console, cells: list[Unit], source: str) -> None:
    """One line per cell (a table would squeeze the fragment paths into nothing at 80 columns):
    `id  kconfig + configs/fragments -> targets  [make variables]  (runtime)`; then one per check."""
    builds = [c for c in cells if isinstance(c, Cell)]
    checks = [c for c in cells if isinstance(c, Check)]
    counted = f"{len(builds)} cells" + (f" and {len(checks)} checks" if checks else "")
    console.print(f"{counted}, tree {inert(source)}", highlight=False, markup=False)
    width = max(len(cell.id) for cell in cells)
    for cell in builds:
        built = " + ".join([cell.kconfig] + [f"configs/{f.path}" for f in cell.fragments])
        targets = " ".join(cell.targets + cell.make_targets)
        variables = " ".join(f"{k}={v}" for k, v in cell.make_variables)
        line = Text(f"{cell.id:<{width}}  ", style="bold")
        line.append(f"{built} -> {targets}")
        if variables:
            line.append(f"  {variables}", style="cyan")
        line.append(f"  ({cell.runtime})", style="dim")
        console.print(line, highlight=False)
    for check in checks:
        line = Text(f"{check.id:<{width}}  ", style="bold")
        scope = ", ".join(check.headers) if check.headers else "every installed uapi header"
        line.append(f"{check.kind}: struct layouts of {check.wide} against {check.narrow}, {scope}")
        line.append("  (host)", style="dim")
        console.print(line, highlight=False)


def show(
    console: Console,
    commit: Commit,
    results: list[BuildResult],
    root: Path,
    attempts: dict[str, list[Attempt]] | None = None,
    warnings_shown: int = 10,
) -> None:
    """A commit's stored results: the summary, then per cell how it ran, where its artifacts are, the
    attempts that did not become its result (infrastructure errors), and its diagnostics."""
    summary(console, commit, results)
    for result in results:
        console.print()
        _how_it_ran(console, result, root, (attempts or {}).get(result.cell_id, []))
        errors = [d for d in result.diagnostics if d.severity == "error" and not d.known]
        warnings = [d for d in result.diagnostics if d.severity == "warning" and not d.known]
        for diagnostic in errors + warnings[:warnings_shown]:
            diagnostic_lines(console, diagnostic)
        if len(warnings) > warnings_shown:
            console.print(f"  ... and {len(warnings) - warnings_shown} more warnings", style="dim")
        known = sum(d.known for d in result.diagnostics)
        if known:
            console.print(f"  and {known} known finding{'s' if known != 1 else ''} (listed in the matrix's accepted file; in build.log)", style="dim")
        notes = sum(d.severity == "note" for d in result.diagnostics)
        if notes:
            console.print(f"  and {notes} note{'s' if notes != 1 else ''} (differences that need no action; in build.log)", style="dim")


def _how_it_ran(console: Console, result: BuildResult, root: Path, attempts: list[Attempt]) -> None:
    """A result's runtime, compiler and targets, where it came from, its artifacts and failed attempts."""
    line = Text(inert(result.cell_id), style="bold")
    line.append(
        inert(
            f" {result.status.upper()}: {result.runtime} runtime"
            f"{f' (image {result.image})' if result.image else ''}, "
            f"{result.compiler or 'compiler unknown'}; "
            f"targets {', '.join(f'{t} {s}' for t, s in result.targets.items()) or 'none'}"
        )
    )
    console.print(line, highlight=False)
    if result.reused:
        console.print(f"  {export.reused_text(result.reused_from)}: the log and diagnostics of that build", highlight=False, markup=False)
    if result.artifacts_dir:
        path = root / result.artifacts_dir
        pruned = "" if path.is_dir() else " (pruned by the nightly's retention; the diagnostics below are stored)"
        console.print(f"  artifacts: {inert(str(path))}{pruned}", highlight=False, markup=False)
    else:
        console.print("  artifacts: none kept", highlight=False)
    for attempt in attempts:
        if attempt.outcome != Outcome.STORED:
            console.print(
                f"  attempt {attempt.finished}: {attempt.status.upper()} ({inert(attempt.reason)}); {attempt.outcome}",
                style="yellow",
                highlight=False,
                markup=False,
            )


def diagnostic_lines(console: Console, diagnostic: Diagnostic) -> None:
    console.file.write("\n".join(diagnostic_painted(Painter(console), diagnostic)) + "\n")


NOTES_SHOWN = 5  # a record's notes printed under it; ld.lld's >>> lines can run to hundreds


def diagnostic_painted(paint: Painter, diagnostic: Diagnostic) -> list[str]:
    """`file:line:col: severity: message [-Wopt] (xN)`, then where it was included from, the first
    excerpt line and its notes (what the compiler said to explain it)."""
    option = paint(f" [{inert(diagnostic.option)}]", "dim") if diagnostic.option else ""
    count = paint(f" (x{diagnostic.count})", "dim") if diagnostic.count > 1 else ""
    root = paint(" (root cause)", "bold") if diagnostic.root_cause else ""
    severity = paint(f"{diagnostic.said}:", "bold red" if diagnostic.severity == "error" else "yellow")
    lines = [f"  {paint(inert(diagnostic.location) + ':', 'bold')} {severity} {inert(diagnostic.message)}{option}{count}{root}"]
    if diagnostic.include_chain:
        lines.append(paint("    included from " + inert(", ".join(diagnostic.include_chain)), "dim"))
    if diagnostic.excerpt:
        lines.append(paint("    " + inert(diagnostic.excerpt[0].strip()), "dim"))
    lines += [paint(f"    note: {inert(note)}", "dim") for note in diagnostic.notes[:NOTES_SHOWN]]
    if len(diagnostic.notes) > NOTES_SHOWN:
        lines.append(paint(f"    ... and {len(diagnostic.notes) - NOTES_SHOWN} more notes", "dim"))
    return lines


VERDICT_STYLE = {
    VerdictKind.NEW_FAIL: "bold white on red",
    VerdictKind.FIXED: "bold black on green",
    VerdictKind.STILL_FAILING: "red",
    VerdictKind.NEW_WARNINGS: "bold yellow",
    VerdictKind.WARNINGS_FIXED: "bold green",
    VerdictKind.UNCHANGED: "green",
    VerdictKind.INFRA: "yellow",
    VerdictKind.MATRIX_ERROR: "magenta",
    VerdictKind.NO_BASELINE: "dim",
    VerdictKind.BASELINE_UNKNOWN: "yellow",
}


def verdict_text(verdict: Verdict) -> Text:
    return Text(export.cell_text(verdict), style=VERDICT_STYLE[verdict.kind])


class Painter:
    """Styles text the way the console would print it, with ANSI codes only when it has colours.

    The regression table can be 1,000 commits x 30 cells: rich's Text and Table spend tens of
    microseconds on every styled piece, so that view is painted here and written in one go."""

    SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT, "truecolor": ColorSystem.TRUECOLOR}

    def __init__(self, console: Console):
        self.system = self.SYSTEMS.get(console.color_system or "")
        self.styles: dict[str, Style] = {}

    def __call__(self, text: str, style: str = "") -> str:
        if not style or self.system is None or not text:
            return text
        parsed = self.styles.get(style)
        if parsed is None:
            parsed = self.styles[style] = Style.parse(style)
        return parsed.render(text, color_system=self.system)


def report(
    console: Console,
    rep: Report,
    fail_on_warnings: bool = False,
    title: str = "regressions by commit (oldest first)",
    reference: str | None = None,
) -> None:
    """The commits x cells table, then each root cause of its regressions (its cells, new diagnostics,
    how to reproduce it), and the fixes. Columns carry the cell ids and verdict words when they fit the
    console, else numbers (named in a legend) and compact symbols. The `reference` commit's row only
    shows how its builds went: it is what the others are judged by, with no regressions of its own."""
    paint = Painter(console)
    lines = [paint(title, "bold")] if title else []
    lines += _table_lines(paint, rep, _layout(rep, reference, console.width), reference)
    lines += details_lines(paint, [cause for cause in rep.causes if cause.sha != reference], rep.rerun)
    for row, verdict in export.warnings_not_regressions(rep, fail_on_warnings):
        where = inert(f" in {verdict.cell_id} at {row.sha[:12]} {row.subject}")
        lines += ["", paint("new warnings", "bold yellow") + where + paint("  (a regression with --fail-on warnings)", "dim")]
        for diagnostic in verdict.new_warnings:
            lines += diagnostic_painted(paint, diagnostic)
    fixed = export.fixes(rep, reference)
    lines += [""] + [headline(paint, row, verdict) for row, verdict in fixed] if fixed else []
    console.file.write("\n".join(lines) + "\n")
    console.file.flush()


@dataclass
class _Layout:
    """How the table fits the console: each cell's text, the columns' header lines and widths, and the
    groups of columns shown one table after another when all of them do not fit side by side."""

    texts: dict[tuple[str, str], str]  # (sha, cell) → text
    headers: list[list[str]]  # per column: its id, wrapped onto as many lines as its width needs
    widths: list[int]
    subject_width: int
    groups: list[range]  # column indices shown together
    compact: bool
    width: int = 80  # the console's


MIN_SUBJECT = 16  # below this, a subject says nothing: show fewer columns at a time instead
# Where a cell id may wrap: after a dash, or before a fragment (x86_64-gcc-|defconfig|+kvm|+nocompat).
ID_PIECE = re.compile(r"[^-+]+-?|\+[^-+]+-?|-")


def _layout(rep: Report, reference: str | None, width: int) -> _Layout:
    """Cell ids and verdict words when they fit side by side; else compact texts under the ids wrapped
    at their dashes, the subject narrowed, and the columns in groups shown one after another: every id
    stays readable at any width."""
    full = _cell_texts(rep, export.cell_text)
    full.update({(row.sha, c): export.status_only(v) for row in rep.rows if row.sha == reference for c, v in row.verdicts.items()})
    names = list(map(inert, rep.cells))  # ids a store of an older version may hold, as shown
    widths = _widths(rep, full, [len(c) for c in names])
    subject_width = min(40, max([len("subject")] + [len(subject) for subject in map(inert, (row.subject for row in rep.rows))]))
    every_column = [range(len(rep.cells))]
    if 14 + subject_width + sum(w + 2 for w in widths) <= width:
        return _Layout(full, [[c] for c in names], widths, subject_width, every_column, compact=False, width=width)
    texts = _cell_texts(rep, export.compact_text)
    texts.update({key: text for key, text in full.items() if key[0] == reference})
    widths = _widths(rep, texts, [max(len(piece) for piece in ID_PIECE.findall(c)) for c in names])
    headers = [_wrapped(cell, w) for cell, w in zip(names, widths, strict=True)]
    room = width - 14 - sum(w + 2 for w in widths)
    if room >= MIN_SUBJECT:
        return _Layout(texts, headers, widths, min(subject_width, room), every_column, compact=True, width=width)
    subject_width = min(subject_width, MIN_SUBJECT)
    return _Layout(texts, headers, widths, subject_width, _groups(widths, width - 14 - subject_width), compact=True, width=width)


def _cell_texts(rep: Report, text: Callable[[Verdict], str]) -> dict[tuple[str, str], str]:
    """(sha, cell) → `text` of its verdict."""
    return {(row.sha, cell): text(verdict) for row in rep.rows for cell, verdict in row.verdicts.items()}


def _groups(widths: list[int], room: int) -> list[range]:
    """Consecutive columns, as many to a group as fit in `room` (at least one)."""
    groups, start, used = [], 0, 0
    for index, w in enumerate(widths):
        if index > start and used + w + 2 > room:
            groups.append(range(start, index))
            start, used = index, 0
        used += w + 2
    return [*groups, range(start, len(widths))]


def _wrapped(cell: str, width: int) -> list[str]:
    lines: list[str] = []
    for piece in ID_PIECE.findall(cell):
        if lines and len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        else:
            lines.append(piece)
    return lines


def _widths(rep: Report, texts: dict[tuple[str, str], str], least: list[int]) -> list[int]:
    return [max([low] + [len(texts.get((row.sha, cell), "")) for row in rep.rows]) for low, cell in zip(least, rep.cells, strict=True)]


def _table_lines(paint: Painter, rep: Report, layout: _Layout, reference: str | None) -> list[str]:
    lines: list[str] = []
    for group in layout.groups:
        lines += [""] if lines else []
        height = max(len(layout.headers[i]) for i in group)
        padded = {i: [""] * (height - len(layout.headers[i])) + layout.headers[i] for i in group}  # ids end on the last line
        for level in range(height):
            first = f"{'commit':<12}  {'subject':<{layout.subject_width}}" if level == height - 1 else " " * (14 + layout.subject_width)
            labels = "".join(f"  {padded[i][level]:<{layout.widths[i]}}" for i in group)
            lines.append(paint((first + labels).rstrip(), "bold"))
        for row in rep.rows:
            subject = inert(row.subject)
            subject = subject if len(subject) <= layout.subject_width else subject[: layout.subject_width - 1] + "…"
            parts = [f"{row.sha[:12]}  {subject:<{layout.subject_width}}"]
            for i in group:
                cell, width = rep.cells[i], layout.widths[i]
                verdict = row.verdicts.get(cell)
                style = "dim" if row.sha == reference else VERDICT_STYLE[verdict.kind] if verdict else ""
                parts.append("  " + paint(f"{layout.texts.get((row.sha, cell), ''):<{width}}", style))
            lines.append("".join(parts))
    lines += [paint(line, "dim") for line in _legend(layout.width)]
    return lines


def _legend(width: int) -> list[str]:
    """The legend's items, as many to a line as fit."""
    lines: list[str] = []
    for item in export.LEGEND_ITEMS:
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += "  " + item
        else:
            lines.append(item)
    return lines


def headline(paint: Painter, row: Row, verdict: Verdict) -> str:
    return paint(f" {verdict.kind} ", VERDICT_STYLE[verdict.kind]) + inert(f" {verdict.cell_id} at {row.sha[:12]} {row.subject}")


def details_lines(paint: Painter, causes: list[RootCause], rerun: Sequence[str] = ()) -> list[str]:
    """Each root cause: its verdict and cells, the new diagnostics (or the reason), how to reproduce it."""
    if not causes:
        return [paint("no regressions", "green")]
    lines = ["", paint(export.causes_count(causes), "bold red")]
    for cause in causes:
        author = f" ({cause.author})" if cause.author else ""
        where = inert(f" {', '.join(cause.cells)} at {cause.sha[:12]} {cause.subject}{author}")
        lines += ["", paint(f" {cause.kind} ", VERDICT_STYLE[cause.kind]) + where]
        lines += [paint(f"  {inert(said)}", "bold") for said in export.first_bad_lines(cause.first_bad)]
        for diagnostic in cause.diagnostics:
            lines += diagnostic_painted(paint, diagnostic)
        if not cause.diagnostics and cause.reason:
            lines.append(f"  {inert(cause.reason)}")
        lines.append(paint(f"  reproduce: {inert(export.reproduce(cause.reproduce_at, cause.cells[0], rerun))}", "dim"))
    return lines


def verdicts(console: Console, commit: Commit, found: list[Verdict], causes: list[RootCause], rerun: Sequence[str] = ()) -> None:
    """What `orchestrate --commit` ends with: each cell against its baseline."""
    table = Table(title=f"verdicts for {commit.sha[:12]} against each cell's baseline", title_justify="left")
    table.add_column("cell", no_wrap=True)
    table.add_column("verdict")
    table.add_column("baseline", no_wrap=True)
    for verdict in found:
        table.add_row(Text(inert(verdict.cell_id)), verdict_text(verdict), verdict.base_sha[:12] if verdict.base_sha else "")
    console.print(table)
    console.file.write("\n".join(details_lines(Painter(console), causes, rerun)) + "\n")


def audits(console: Console, found: list[ReuseAudit]) -> None:
    """What building reusable cells anyway showed: each mismatch in red (a bug in the reuse rule)."""
    if not found:
        return
    style = "bold red" if any(audit.mismatch for audit in found) else "green"
    console.print(f"reuse audit: {export.audit_summary(found)}", style=style, highlight=False, markup=False)
    for audit in found:
        console.print(f"  {export.audit_line(audit)}", style="red" if audit.mismatch else "dim", highlight=False, markup=False)


def first_bad(console: Console, answers: list[FirstBad]) -> None:
    """What a bisection found: per regression, its first bad commit, the cells and the last good one."""
    for answer in answers:
        console.print(inert(export.first_bad_line(answer)), style="bold", highlight=False, markup=False, soft_wrap=True)
        cells = ", ".join(answer.cells)
        console.print(f"  cells: {cells}; last good: {answer.good[:12]}", style="dim", highlight=False, markup=False, soft_wrap=True)


BRANCH_STYLE = {"first nightly": "cyan", "new commits": "", "force-pushed": "yellow", "nothing new": "dim", "fetch failed": "magenta"}


def nightly(console: Console, run: Nightly) -> None:
    """What a nightly ends with: a line per branch, then each branch's table and regressions."""
    table = Table(title=f"nightly {run.date} (UTC)", title_justify="left")
    for column in ("tree", "branch", "what happened", "tip", "builds", "regressions"):
        table.add_column(column, no_wrap=column in ("tree", "branch", "tip"))
    for branch in run.branches:
        count = len(branch.causes)
        table.add_row(
            Text(inert(branch.tree)),
            Text(inert(branch.branch)),
            Text(inert(branch.detail), style=BRANCH_STYLE.get(branch.state, "")),
            branch.tip[:12] if branch.tip else "",
            f"{branch.built} (+{branch.reused} reused)" if branch.reused else str(branch.built),
            Text(str(count), style="bold red") if count else "",
        )
    console.print(table)
    for branch in run.branches:
        if not branch.rows:
            continue
        console.print()
        console.print(Text(inert(f"{branch.tree} {branch.branch}"), style="bold"))
        shown = replace(branch.reference, subject=f"(previous nightly) {branch.reference.subject}") if branch.reference else None
        rows = ([shown] if shown else []) + branch.rows
        cells = [c for c in run.cells if any(c in row.verdicts for row in rows)]
        # the reference row is shown, never judged
        shown_table = Report(rows=rows, cells=cells, rerun=export.rerun_options(run, branch))
        reference = branch.reference.sha if branch.reference else None
        shown_table.causes = branch.causes
        report(console, shown_table, run.fail_on_warnings, title="", reference=reference)  # first bad commits under their causes
    audits(console, [audit for branch in run.branches for audit in branch.audits])
    if run.pruned.paths:
        console.print(f"retention: pruned {len(run.pruned.paths)} artifact directories", style="dim")
    if run.report_dir:
        console.print(f"report: {inert(str(run.report_dir))}/report.md, report.json and report.html", highlight=False, markup=False)
    if run.mail:
        console.print(f"mail: {inert(run.mail)}", style="bold red" if run.mail_failed else "", highlight=False, markup=False)


def parsed(console: Console, log: str, diagnostics: list[Diagnostic]) -> None:
    """`orchestrate parse`: a count, the root cause, then every record with its first excerpt line."""
    paint = Painter(console)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    root = next((d for d in diagnostics if d.root_cause), None)
    lines = [paint(f"{inert(log)}: {errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}", "bold")]
    if root is not None:
        lines.append(f"root cause: {inert(export.diagnostic_line(root).removesuffix(' (root cause)'))}")
    for diagnostic in diagnostics:
        lines += diagnostic_painted(paint, diagnostic)
    console.file.write("\n".join(lines) + "\n")
