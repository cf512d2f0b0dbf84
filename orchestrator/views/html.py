"""The regression table as one self-contained HTML page: no script, no network, nothing but this file
and the artifacts it links to by relative paths. Presentation only: a report in, text out.

Everything that comes from a commit or a log (subjects, authors, messages, source lines, cell ids) goes
through `_text` or `_attr`; the page's own markup is the only markup in it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from ..inert import inert
from ..models import BranchRun, BuildResult, Diagnostic, Nightly, Report, RootCause, Row, Status, Verdict, VerdictKind
from . import export
from .formats import ReportFile

# Verdict → its class in the stylesheet; the color only repeats what the mark and the words say.
KIND_CLASS = {
    VerdictKind.NEW_FAIL: "new-fail",
    VerdictKind.FIXED: "fixed",
    VerdictKind.STILL_FAILING: "failing",
    VerdictKind.NEW_WARNINGS: "new-warnings",
    VerdictKind.WARNINGS_FIXED: "fixed",
    VerdictKind.UNCHANGED: "ok",
    VerdictKind.INFRA: "infra",
    VerdictKind.MATRIX_ERROR: "matrix",
    VerdictKind.NO_BASELINE: "ok",
    VerdictKind.BASELINE_UNKNOWN: "ok",
}
STATUS_CLASS = {Status.PASS: "ok", Status.FAIL: "failing", Status.INFRA: "infra", Status.MATRIX_ERROR: "matrix"}
UNFOLDED = 50  # up to this many regressions are shown whole; beyond, each shows its headline and opens when clicked
LISTED = 200  # new warnings that are no regression, and fixes: the newest this many are listed (the grid shows all)

STYLE = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--ok:#e6f4ea;--fixed:#b7e4c7;--new-fail:#d1242f;
--failing:#ffd7d5;--warn:#f9c74f;--infra:#e0d4f5;--matrix:#fff3b0;font-family:system-ui,sans-serif;color:var(--fg);background:var(--bg)}
body{margin:0 auto;padding:1rem;max-width:100rem;line-height:1.4}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}main>section>h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
.cause h3,.cause h4,section>h3,section>h4{font-size:1rem;margin:0}
p.meta,.legend{color:var(--muted);font-size:.9rem}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.85rem}
pre{background:#f6f8fa;border:1px solid var(--line);padding:.5rem;overflow-x:auto;white-space:pre}
.scroll{overflow:auto;max-height:80vh;border:1px solid var(--line)}
table.grid{border-collapse:collapse;font-size:.85rem}
.grid th,.grid td{border:1px solid var(--line);padding:0;white-space:nowrap}
.grid thead th{position:sticky;top:0;background:#f6f8fa;padding:.2rem .4rem;z-index:2;font-weight:600}
.grid tbody th{position:sticky;left:0;background:var(--bg);padding:.1rem .4rem;text-align:left;font-weight:400;z-index:1}
.grid td.subject{padding:.1rem .4rem;max-width:22rem;overflow:hidden;text-overflow:ellipsis}
.grid td a{display:block;padding:.1rem .4rem;color:inherit;text-decoration:none;position:relative}
.grid td a:hover::after,.grid td a:focus::after{content:attr(aria-label);position:absolute;left:0;top:100%;z-index:3;
background:var(--fg);color:var(--bg);padding:.2rem .4rem;border-radius:3px;white-space:nowrap}
.grid td a:focus{outline:2px solid #0969da}
.ok{background:var(--ok)}.fixed{background:var(--fixed)}.new-fail{background:var(--new-fail);color:#fff;font-weight:700}
.failing{background:var(--failing)}.new-warnings{background:var(--warn);font-weight:700}.infra{background:var(--infra)}
.matrix{background:var(--matrix)}tr.reference th,tr.reference td{border-bottom:3px double var(--muted)}
section.cause{border:1px solid var(--line);border-left:6px solid var(--new-fail);margin:.6rem 0;padding:.4rem .6rem}
section.cause.warns{border-left-color:var(--warn)}.cause a{color:inherit}.cause:target{outline:3px solid #0969da}
.cause.folded>.body{display:none}.cause.folded:target>.body{display:block}
table.branches{border-collapse:collapse}.branches th,.branches td{text-align:left;padding:.2rem .6rem;border-bottom:1px solid var(--line)}
ul.links{padding-left:1.2rem}ul.plain{list-style:none;padding-left:0}
svg.history{display:block;width:100%;height:2.2rem}
table.history{border-collapse:collapse;width:100%}.history td,.history th{padding:.2rem .4rem;border-bottom:1px solid var(--line)}
.history th{text-align:left;font-weight:400}.history tbody th{white-space:nowrap}
.history td.figures{white-space:nowrap;color:var(--muted);font-size:.85rem}
rect.ok{fill:#2da44e}rect.failing{fill:#d1242f}rect.infra{fill:#8250df}rect.matrix{fill:#bf8700}polyline{fill:none;stroke:#0969da;stroke-width:1.5;vector-effect:non-scaling-stroke}
@media (max-width:40rem){body{padding:.5rem}.grid td.subject{max-width:9rem}.history td.figures,.history th:last-child{display:none}
.history tbody th{white-space:normal;overflow-wrap:anywhere;width:35%}}
"""


@dataclass(frozen=True)
class Links:
    """Where a report's links lead: `artifacts` is the results directory as a relative URL from the
    page ("../../" for a nightly's page under results/nightly/<date>/), ending in "/" or empty."""

    artifacts: str = ""

    def artifact(self, result: BuildResult | None, name: str) -> str | None:
        if result is None or not result.artifacts_dir:
            return None
        return self.artifacts + quote(f"{result.artifacts_dir}/{name}")


def _text(value: object) -> str:
    return escape(inert(str(value)), quote=False)


def _attr(value: object) -> str:
    return escape(inert(str(value)), quote=True)


def page(report: Report, title: str, links: Links, generated: str, fail_on_warnings: bool = False) -> str:
    """`orchestrate report --format html`: the grid, the regressions, the fixes, each cell's history."""
    shown = f"{len(report.rows)} commit{'s' if len(report.rows) != 1 else ''} × {len(report.cells)} cells"
    body = [f"<h1>{_text(title)}</h1>", f'<p class="meta">{_text(shown)}; written {_text(generated)}</p>']
    body += _report_sections(report, links, "", fail_on_warnings)
    return _document(title, body)


def page_file(file: ReportFile) -> str:
    """The page of `orchestrate report --format html`, its title saying what regressed."""
    title = f"{file.title}: " + (export.causes_count(file.report.causes) if file.report.causes else "no regressions")
    return page(file.report, title, Links(file.results_url), file.generated, file.fail_on_warnings)


def nightly_page(nightly: Nightly, links: Links) -> str:
    """The nightly's report.html: a section per tree and branch, each with its grid and regressions."""
    title = export.nightly_subject(nightly)
    body = [
        f"<h1>{_text(title)}</h1>",
        f'<p class="meta">Nightly build of {_text(nightly.date)} (UTC), {_text(nightly.started)} to {_text(nightly.finished)}; '
        f"matrix {_text(nightly.matrix)}, {len(nightly.cells)} cells.</p>",
        '<table class="branches"><thead><tr><th scope=col>tree</th><th scope=col>branch</th><th scope=col>what happened</th>'
        "<th scope=col>tip</th><th scope=col>regressions</th></tr></thead><tbody>",
    ]
    for number, branch in enumerate(nightly.branches):
        tip = f"<code>{_text(branch.tip[:12])}</code>" if branch.tip else ""
        count = export.causes_count(branch.causes) if branch.causes else ""
        body.append(
            f'<tr><td>{_text(branch.tree)}</td><td><a href="#b{number}">{_text(branch.branch)}</a></td>'
            f"<td>{_text(branch.detail)}</td><td>{tip}</td><td>{_text(count)}</td></tr>"
        )
    body.append("</tbody></table>")
    for number, branch in enumerate(nightly.branches):
        body.append(f'<section id="b{number}" aria-labelledby="b{number}h"><h2 id="b{number}h">{_text(branch.tree)}:{_text(branch.branch)}</h2>')
        body.append(f'<p class="meta">{_text(branch.state)}: {_text(branch.detail)}</p>')
        if branch.rows or branch.reference:
            sections = _report_sections(_branch_report(nightly, branch), links, f"b{number}-", nightly.fail_on_warnings, branch.reference)
            body += _one_level_down(sections)
        body.append("</section>")
    return _document(title, body)


def _one_level_down(lines: list[str]) -> list[str]:
    """A report's headings (h2, h3) under a branch's h2: h3, h4. Only the page's own markup can match:
    text from commits and logs is escaped before it gets here."""
    return [re.sub(r"<(/?)h([23])\b", lambda found: f"<{found[1]}h{int(found[2]) + 1}", line) for line in lines]


def _branch_report(nightly: Nightly, branch: BranchRun) -> Report:
    rows = ([branch.reference] if branch.reference else []) + branch.rows
    present = {cell for row in rows for cell in row.verdicts}
    return Report(
        rows=branch.rows,
        cells=[c for c in nightly.cells if c in present],
        rerun=export.rerun_options(nightly, branch),
        causes=branch.causes,
        results={(r.sha, r.cell_id): r for r in branch.results},
    )


def _document(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_text(title)}</title><style>{STYLE}</style></head>\n<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def _report_sections(report: Report, links: Links, prefix: str, fail_on_warnings: bool, reference: Row | None = None) -> list[str]:
    anchors = _anchors(report, prefix, fail_on_warnings)
    out = [f"<h2>Commits × cells</h2><p class=legend>{_text(' · '.join(export.LEGEND_ITEMS))}</p>"]
    out += _grid(report, links, anchors, reference)
    out.append("<h2>Regressions</h2>")
    out.append(f"<p>{_text(export.causes_count(report.causes))}.</p>" if report.causes else "<p>No regressions.</p>")
    folded = len(report.causes) > UNFOLDED
    if folded:
        out.append("<p class=meta>Each regression opens when its headline or its cell in the grid is clicked.</p>")
    for number, cause in enumerate(report.causes):
        out += _cause(cause, f"{prefix}r{number}", report, links, folded)
    out += _warnings_and_fixes(report, prefix, fail_on_warnings)
    out += _histories(report)
    return out


def _anchors(report: Report, prefix: str, fail_on_warnings: bool) -> dict[tuple[str, str], str]:
    """(sha, cell) → the id of the entry a click on that cell of the grid opens."""
    found = {}
    for number, cause in enumerate(report.causes):
        for cell in cause.cells:
            found[(cause.sha, cell)] = f"{prefix}r{number}"
    column = {cell: index for index, cell in enumerate(report.cells)}
    for row, verdict in export.warnings_not_regressions(report, fail_on_warnings)[-LISTED:]:
        found.setdefault((row.sha, verdict.cell_id), f"{prefix}w-{row.sha[:12]}-{column[verdict.cell_id]}")
    for row, verdict in export.fixes(report)[-LISTED:]:
        found.setdefault((row.sha, verdict.cell_id), f"{prefix}f-{row.sha[:12]}-{column[verdict.cell_id]}")
    return found


def _grid(report: Report, links: Links, anchors: dict[tuple[str, str], str], reference: Row | None) -> list[str]:
    head = "".join(f"<th scope=col>{_text(cell)}</th>" for cell in report.cells)
    out = [
        '<div class="scroll" tabindex="0" role="region" aria-label="commits by cells"><table class="grid">',
        f"<thead><tr><th scope=col>commit</th><th scope=col>subject</th>{head}</tr></thead><tbody>",
    ]
    if reference is not None:
        cells = "".join(_reference_cell(reference.verdicts.get(cell)) for cell in report.cells)
        out.append(f'<tr class="reference"><th scope=row><code>{_text(reference.sha[:12])}</code></th>'
                   f"<td class=subject>(previous nightly) {_text(reference.subject)}</td>{cells}</tr>")  # fmt: skip
    columns = [(cell, _attr(cell), quote(cell)) for cell in report.cells]  # escaped once, not once per row
    for row in report.rows:
        short = row.sha[:12]
        cells = "".join(_grid_cell(row, column, report.results.get((row.sha, column[0])), links, anchors) for column in columns)
        out.append(f'<tr><th scope=row><code>{short}</code></th><td class=subject title="{_attr(row.subject)}">{_text(row.subject)}</td>{cells}</tr>')
    out.append("</tbody></table></div>")
    return out


def _reference_cell(verdict: Verdict | None) -> str:
    if verdict is None:
        return "<td></td>"
    return f'<td class="{STATUS_CLASS.get(verdict.status, "ok")}"><a>{_text(export.status_only(verdict))}</a></td>'


def _grid_cell(row: Row, column: tuple[str, str, str], result: BuildResult | None, links: Links, anchors: dict[tuple[str, str], str]) -> str:
    """`<td class="new-fail"><a href="#r0" aria-label="riscv… at 0125b1458cbf: ✗ NEW FAIL +1e">✗new +1e</a></td>`: 30,000 of them
    in a big report, so what depends only on the verdict's shape is made once per shape."""
    cell, cell_label, cell_url = column
    verdict = row.verdicts.get(cell)
    if verdict is None:
        return "<td></td>"
    css, full, compact = _words(export.shape(verdict))
    anchor = anchors.get((row.sha, cell))
    if anchor:
        href = f' href="#{anchor}"'
    elif result is not None and result.artifacts_dir == f"{row.sha}/{cell}":  # the usual place: no quoting per cell
        href = f' href="{_attr(links.artifacts)}{row.sha}/{cell_url}/build.log"'
    else:
        target = links.artifact(result, "build.log")
        href = f' href="{_attr(target)}"' if target else ' tabindex="0"'
    return f'<td class="{css}"><a{href} aria-label="{cell_label} at {row.sha[:12]}: {full}">{compact}</a></td>'


@functools.lru_cache(maxsize=4096)
def _words(shape: export.Shape) -> tuple[str, str, str]:
    """(class, full text, compact text) of every verdict of one shape, escaped."""
    full, compact, _ = export.texts(*shape)
    return _class_of(shape[0], shape[1]), _attr(full), _text(compact)


@functools.cache
def _class_of(kind: VerdictKind, status: Status) -> str:
    if kind in (VerdictKind.NO_BASELINE, VerdictKind.BASELINE_UNKNOWN):
        return STATUS_CLASS.get(status, "ok")
    return KIND_CLASS[kind]


def _cause(cause: RootCause, anchor: str, report: Report, links: Links, folded: bool) -> list[str]:
    """One regression: the headline links to itself, so a folded one opens (CSS :target) when clicked."""
    warned = cause.kind == VerdictKind.NEW_WARNINGS
    css = " ".join(["cause", *(["warns"] if warned else []), *(["folded"] if folded else [])])
    cells = ", ".join(cause.cells)
    out = [
        f'<section class="{css}" id="{anchor}"><h3><a href="#{anchor}">{"!" if warned else "✗"} {_text(cause.kind)}: {_text(cells)} '
        f'at <code>{_text(cause.sha[:12])}</code> {_text(cause.subject)}</a></h3><div class="body">'
    ]
    if cause.author:
        out.append(f"<p>by {_text(cause.author)}</p>")
    out += [f"<p><strong>{_text(line)}</strong></p>" for line in export.first_bad_lines(cause.first_bad)]
    if cause.diagnostics:
        out.append(_diagnostics(cause.diagnostics))
    elif cause.reason:
        out.append(f"<pre>{_text(cause.reason)}</pre>")
    command = export.reproduce(cause.reproduce_at, cause.cells[0], report.rerun)
    out.append(f"<p>Reproduce:</p><pre><code>{_text(command)}</code></pre>")
    out.append(_artifact_links(cause.sha, cause.cells, report, links))
    out.append("</div></section>")
    return out


def _diagnostics(diagnostics: Iterable[Diagnostic]) -> str:
    lines = []
    for diagnostic in diagnostics:
        lines += [f"In file included from {step}" for step in diagnostic.include_chain]
        lines.append(export.diagnostic_line(diagnostic))
        lines += diagnostic.excerpt
        lines += diagnostic.notes
    return f"<pre>{_text(chr(10).join(lines))}</pre>"


def _artifact_links(sha: str, cells: Sequence[str], report: Report, links: Links) -> str:
    items = []
    for cell in cells:
        result = report.results.get((sha, cell))
        found = [(name, links.artifact(result, name)) for name in ("build.log", "config", "metadata.json")]
        anchors = " · ".join(f'<a href="{_attr(url)}">{name}</a>' for name, url in found if url)
        items.append(f"<li>{_text(cell)}: {anchors or 'no artifacts kept'}</li>")
    return f'<ul class="links">{"".join(items)}</ul>'


def _warnings_and_fixes(report: Report, prefix: str, fail_on_warnings: bool) -> list[str]:
    out = []
    column = {cell: index for index, cell in enumerate(report.cells)}
    warned = export.warnings_not_regressions(report, fail_on_warnings)
    if warned:
        out.append("<h2>New warnings (not counted as regressions)</h2>" + _older(len(warned)))
        for row, verdict in warned[-LISTED:]:
            anchor = f"{prefix}w-{row.sha[:12]}-{column[verdict.cell_id]}"
            out.append(f'<section id="{anchor}"><h3>! {_text(verdict.cell_id)} at <code>{_text(row.sha[:12])}</code> {_text(row.subject)}</h3>')
            out.append(_diagnostics(verdict.new_warnings) + "</section>")
    fixed = export.fixes(report)
    if fixed:
        out.append(f'<h2>Fixed</h2>{_older(len(fixed))}<ul class="plain">')
        for row, verdict in fixed[-LISTED:]:
            anchor = f"{prefix}f-{row.sha[:12]}-{column[verdict.cell_id]}"
            out.append(
                f'<li id="{anchor}">✓ {_text(verdict.kind)}: {_text(verdict.cell_id)} at <code>{_text(row.sha[:12])}</code> '
                f"{_text(row.subject)} ({_text(export.counts(verdict))})</li>"
            )
        out.append("</ul>")
    return out


def _older(count: int) -> str:
    if count <= LISTED:
        return ""
    return f"<p class=meta>The newest {LISTED} of {count}; the older ones are in the grid, each linking to its build.log.</p>"


def _histories(report: Report) -> list[str]:
    """Per cell, a strip of its statuses over the commits shown and a line of its build durations."""
    out = ['<h2>History per cell</h2><table class="history"><thead><tr><th scope=col>cell</th>'
           "<th scope=col>status (colors) and build duration (line), oldest first</th><th scope=col>figures</th></tr></thead><tbody>"]  # fmt: skip
    for cell in report.cells:
        results = [report.results.get((row.sha, cell)) for row in report.rows]
        figures = _text(_figures(results))
        out.append(f"<tr><th scope=row>{_text(cell)}</th><td>{_history_svg(cell, results)}</td><td class=figures>{figures}</td></tr>")
    out.append("</tbody></table>")
    return out


def _figures(results: list[BuildResult | None]) -> str:
    known = [r for r in results if r is not None]
    failed = sum(r.status == Status.FAIL for r in known)
    durations = [r.duration for r in known if r.status in (Status.PASS, Status.FAIL) and not r.reused_from]
    spread = f"; {min(durations):.0f}–{max(durations):.0f} s" if durations else ""
    return f"{len(known)} results, {failed} failed{spread}"


def _history_svg(cell: str, results: list[BuildResult | None]) -> str:
    """Runs of one status merged into one rectangle, durations as one polyline: a few hundred bytes
    for a cell of a thousand commits."""
    count = max(len(results), 1)
    statuses = [r.status if r is not None else None for r in results]
    rects = []
    start = 0
    for index in range(1, len(statuses) + 1):
        if index == len(statuses) or statuses[index] != statuses[start]:
            status = statuses[start]
            if status is not None:
                rects.append(f'<rect class="{STATUS_CLASS[status]}" x="{start}" y="0" width="{index - start}" height="4"/>')
            start = index
    longest = max((r.duration for r in results if r is not None), default=0.0) or 1.0
    points = " ".join(f"{i + 0.5:g},{20 - 14 * r.duration / longest:.1f}" for i, r in enumerate(results) if r is not None and not r.reused_from)
    line = f'<polyline points="{points}"/>' if points else ""
    label = _attr(f"{cell}: {_figures(results)}")
    return (
        f'<svg class="history" role="img" aria-label="{label}" viewBox="0 0 {count} 22" preserveAspectRatio="none">'
        f"<title>{label}</title>{''.join(rects)}{line}</svg>"
    )
