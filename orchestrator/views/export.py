"""The regression table as markdown, JSON or JUnit XML. Presentation only: no I/O, text out."""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Iterable, Iterator, Sequence
from importlib.resources import files
from xml.etree import ElementTree

from ..inert import inert_json, inert_text
from ..models import BranchRun, Cell, Commit, Diagnostic, FirstBad, Nightly, Report, ReuseAudit, RootCause, Row, Status, Unit, Verdict, VerdictKind
from .formats import ReportFile

SCHEMA_VERSION = "1.7"  # of the JSON outputs; orchestrator/schemas/output-1.json describes them
SCHEMA_FILE = "output-1.json"

SYMBOL = {
    VerdictKind.NEW_FAIL: "✗",
    VerdictKind.FIXED: "✓",
    VerdictKind.STILL_FAILING: "✗",
    VerdictKind.NEW_WARNINGS: "!",
    VerdictKind.WARNINGS_FIXED: "✓",
    VerdictKind.UNCHANGED: "✓",
    VerdictKind.INFRA: "?",
    VerdictKind.MATRIX_ERROR: "⚠",
}


REUSED_MARK = "↺"  # after the verdict's symbol: the result was reused, not built (no input of the cell changed)
REUSED_WHY = "no input of the cell changed since the commit that built it"  # the legend's and markdown's words
STATUS_MARK = {Status.FAIL: "✗", Status.INFRA: "?", Status.MATRIX_ERROR: "⚠"}  # else ✓: what a build did, unjudged
KIND_LABEL = {VerdictKind.UNCHANGED: "", VerdictKind.NO_BASELINE: "no baseline", VerdictKind.BASELINE_UNKNOWN: "baseline unknown"}


def symbol(verdict: Verdict) -> str:
    return _symbol(verdict.kind, verdict.status)


def _symbol(kind: VerdictKind, status: Status) -> str:
    if kind in (VerdictKind.NO_BASELINE, VerdictKind.BASELINE_UNKNOWN):
        return STATUS_MARK.get(status, "✓")
    return SYMBOL[kind]


def counts(verdict: Verdict) -> str:
    """`1e 2w`, with what changed: `+1e`, `-2w`. None for an infrastructure error: its log says nothing
    about the code."""
    return texts(*shape(verdict))[2]


def _counts(kind: VerdictKind, errors: int, warnings: int, new_errors: int, gone_errors: int, new_warnings: int, gone_warnings: int) -> str:
    if kind == VerdictKind.INFRA:
        return ""
    parts = []
    if new_errors or gone_errors:
        parts.append(_delta(new_errors, gone_errors, "e"))
    elif errors:
        parts.append(f"{errors}e")
    if new_warnings or gone_warnings:
        parts.append(_delta(new_warnings, gone_warnings, "w"))
    elif warnings:
        parts.append(f"{warnings}w")
    return " ".join(parts)


def _delta(new: int, gone: int, unit: str) -> str:
    return " ".join(p for p in (f"+{new}{unit}" if new else "", f"-{gone}{unit}" if gone else "") if p)


def cell_text(verdict: Verdict) -> str:
    """The cell of a table: `✗ NEW FAIL +1e`."""
    return texts(*shape(verdict))[0]


Shape = tuple[VerdictKind, Status, bool, int, int, int, int, int, int]


def shape(verdict: Verdict) -> Shape:
    """All a verdict's texts depend on: a few tens of shapes among the 30,000 verdicts of a big table."""
    return (verdict.kind, verdict.status, bool(verdict.reused_from), verdict.errors, verdict.warnings, len(verdict.new_errors),
            len(verdict.gone_errors), len(verdict.new_warnings), len(verdict.gone_warnings))  # fmt: skip


@functools.lru_cache(maxsize=4096)
def texts(kind: VerdictKind, status: Status, reused: bool, errors: int, warnings: int, *changes: int) -> tuple[str, str, str]:
    """(the full text, the compact text, the counts) of verdicts of one shape."""
    said = _counts(kind, errors, warnings, *changes)
    mark = _symbol(kind, status) + (REUSED_MARK if reused else "")
    full = " ".join(p for p in (mark, KIND_LABEL.get(kind, kind), said) if p)
    return full, " ".join(p for p in (mark + SHORT[kind], said) if p), said


SHORT = {
    VerdictKind.NEW_FAIL: "new",
    VerdictKind.FIXED: "fix",
    VerdictKind.STILL_FAILING: "",
    VerdictKind.NEW_WARNINGS: "",
    VerdictKind.WARNINGS_FIXED: "",
    VerdictKind.UNCHANGED: "",
    VerdictKind.INFRA: "",
    VerdictKind.MATRIX_ERROR: "",
    VerdictKind.NO_BASELINE: "°",
    VerdictKind.BASELINE_UNKNOWN: "°?",
}
LEGEND_ITEMS = (
    "✓ builds", "✗ fails", "! new warnings", "? infrastructure error", "⚠ matrix error", "° no baseline",
    "°? baseline unknown (shallow clone)", "Ne, Nw: errors, warnings, the same as the baseline's", "+/-Ne, +/-Nw: errors, warnings new/gone",
    f"{REUSED_MARK} reused: {REUSED_WHY}",
)  # fmt: skip
LEGEND = "  ".join(LEGEND_ITEMS)


def fixes(report: Report, reference: str | None = None) -> list[tuple[Row, Verdict]]:
    """(row, verdict) for every fix of the table, in table order: rows, then columns."""
    return [(row, v) for row in report.rows if row.sha != reference for c in report.cells if (v := row.verdicts.get(c)) and v.is_fix]


def warnings_not_regressions(report: Report, fail_on_warnings: bool = False) -> list[tuple[Row, Verdict]]:
    """(row, verdict) whose new warnings are listed although they are no regression (without --fail-on warnings)."""
    return [
        (row, v) for row in report.rows for c in report.cells
        if (v := row.verdicts.get(c)) and v.new_warnings and not v.is_regression(fail_on_warnings)
    ]  # fmt: skip


def compact_text(verdict: Verdict) -> str:
    """The cell of a wide table: `✗new +1e`, `✓fix -1e`, `! +2w`."""
    return texts(*shape(verdict))[1]


def reproduce(sha: str, cell: str, rerun: Sequence[str] = ()) -> str:
    """The command that builds this cell of this commit again; `rerun` holds the options (absolute
    paths) that make it find the same tree, matrix and results from any directory."""
    return f"orchestrate --commit {shlex.quote(sha[:12])} --cells {shlex.quote(cell)} --rebuild{_quoted(tuple(rerun))}"


@functools.lru_cache(maxsize=64)
def _quoted(options: tuple[str, ...]) -> str:
    """` --tree /src/linux ...`, quoted for a shell: the same for every command of a report."""
    return "".join(" " + shlex.quote(option) for option in options)


def regressions(report: Report, fail_on_warnings: bool = False) -> Iterator[tuple[Row, Verdict]]:
    """(row, verdict) for every regression of the table, in table order."""
    for row in report.rows:
        for cell in report.cells:
            verdict = row.verdicts.get(cell)
            if verdict is not None and verdict.is_regression(fail_on_warnings):
                yield row, verdict


def causes_count(causes: list[RootCause]) -> str:
    """`2 regressions (3 cells)`: root causes, with the cells they broke."""
    cells = sum(len(cause.cells) for cause in causes)
    return f"{len(causes)} regression{'s' if len(causes) != 1 else ''} ({cells} cell{'s' if cells != 1 else ''})"


def diagnostic_line(diagnostic: Diagnostic) -> str:
    return diagnostic.headline + (" (root cause)" if diagnostic.root_cause else "")


# --- markdown ---------------------------------------------------------------------------------


def markdown_table(rows: list[Row], cells: list[str], fail_on_warnings: bool = False, reference: Row | None = None) -> list[str]:
    """Commits x cells, regressions in bold; a `reference` row first, showing only how it built."""
    lines = ["| commit | subject | " + " | ".join(cells) + " |", "|---|---|" + "---|" * len(cells)]
    if reference is not None:
        texts = [status_only(reference.verdicts[c]) if c in reference.verdicts else "" for c in cells]
        lines.append(f"| `{reference.sha[:12]}` | (previous nightly) {_cell(reference.subject)} | " + " | ".join(texts) + " |")
    for row in rows:
        texts = []
        for cell in cells:
            verdict = row.verdicts.get(cell)
            text = cell_text(verdict) if verdict else ""
            texts.append(f"**{text}**" if verdict and verdict.is_regression(fail_on_warnings) else text)
        lines.append(f"| `{row.sha[:12]}` | {_cell(row.subject)} | " + " | ".join(texts) + " |")
    return lines


def reused_text(sha: str) -> str:
    return f"reused from {sha[:12]} (no input changed)"


def reused_note(rows: Iterable[Row]) -> list[str]:
    """The line under a table with reused results: what the mark means, and how many there are."""
    count = sum(bool(v.reused_from) for row in rows for v in row.verdicts.values())
    if not count:
        return []
    results = f"{count} result{'s' if count != 1 else ''}"
    return ["", f"{REUSED_MARK} {results} reused, not built: {REUSED_WHY}."]


def markdown(report: Report, fail_on_warnings: bool = False) -> str:
    lines = markdown_table(report.rows, report.cells, fail_on_warnings)
    lines += reused_note(report.rows)
    lines.append("")
    lines.append(causes_count(report.causes) + "." if report.causes else "No regressions.")
    for cause in report.causes:
        lines += ["", f"### {cause.kind}: {', '.join(cause.cells)} at `{cause.sha[:12]}` {cause.subject}", ""]
        lines += [f"by {cause.author}", ""] if cause.author else []
        lines += [line for said in first_bad_lines(cause.first_bad) for line in (said, "")]
        for diagnostic in cause.diagnostics:
            lines.append(f"- `{diagnostic_line(diagnostic)}`")
        if not cause.diagnostics and cause.reason:
            lines.append(f"- `{cause.reason}`")
        lines += ["", "Reproduce:", "", f"    {reproduce(cause.reproduce_at, cause.cells[0], report.rerun)}"]
    for row, verdict in warnings_not_regressions(report, fail_on_warnings):
        lines += ["", f"### new warnings: {verdict.cell_id} at `{row.sha[:12]}` {row.subject}", ""]
        lines += [f"- `{diagnostic_line(d)}`" + (f" — `{d.excerpt[0].strip()}`" if d.excerpt else "") for d in verdict.new_warnings]
    fixed = fixes(report)
    if fixed:
        lines += ["", "### Fixed", ""]
        lines += [f"- {verdict.kind}: {verdict.cell_id} at `{row.sha[:12]}` {row.subject} ({counts(verdict)})" for row, verdict in fixed]
    return inert_text("\n".join(lines) + "\n")


# --- json -------------------------------------------------------------------------------------


def _verdict_dict(verdict: Verdict, fail_on_warnings: bool, rerun: Sequence[str]) -> dict:
    return {
        "cell": verdict.cell_id,
        "reused_from": verdict.reused_from or None,
        "verdict": verdict.kind,
        "status": verdict.status,
        "baseline": verdict.base_sha,
        "errors": verdict.errors,
        "warnings": verdict.warnings,
        "known": verdict.known,
        "new_errors": [d.to_dict() for d in verdict.new_errors],
        "gone_errors": [d.to_dict() for d in verdict.gone_errors],
        "new_warnings": [d.to_dict() for d in verdict.new_warnings],
        "gone_warnings": [d.to_dict() for d in verdict.gone_warnings],
        "reason": verdict.reason,
        "regression": verdict.is_regression(fail_on_warnings),
        "reproduce": reproduce(verdict.sha, verdict.cell_id, rerun),
    }


def _row_dict(row: Row, fail_on_warnings: bool, rerun: Sequence[str]) -> dict:
    return {"sha": row.sha, "subject": row.subject, "verdicts": [_verdict_dict(v, fail_on_warnings, rerun) for v in row.verdicts.values()]}


def cause_dict(cause: RootCause, rerun: Sequence[str]) -> dict:
    return {
        "sha": cause.sha,
        "subject": cause.subject,
        "verdict": cause.kind,
        "cells": cause.cells,
        "diagnostics": [d.to_dict() for d in cause.diagnostics],
        "reason": cause.reason,
        "author": cause.author,
        "reproduce": reproduce(cause.reproduce_at, cause.cells[0], rerun),
        "first_bad": [first_bad_dict(answer) for answer in cause.first_bad],
    }


def _regression_dicts(found: Iterable[tuple[Row, Verdict]]) -> list[dict]:
    return [{"sha": row.sha, "cell": verdict.cell_id, "verdict": verdict.kind} for row, verdict in found]


def as_json(report: Report, fail_on_warnings: bool = False) -> str:
    """The report as JSON, schema output-1.json#/$defs/report."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "cells": report.cells,
        "commits": [_row_dict(row, fail_on_warnings, report.rerun) for row in report.rows],
        "regressions": _regression_dicts(regressions(report, fail_on_warnings)),
        "root_causes": [cause_dict(cause, report.rerun) for cause in report.causes],
    }
    return json.dumps(document) + "\n"  # no indent: json's fast C encoder only runs without it


def parsed_json(log: str, diagnostics: list[Diagnostic]) -> str:
    """`orchestrate parse --format json`: a log's records, schema output-1.json#/$defs/parsed_log."""
    root = next((d for d in diagnostics if d.root_cause), None)
    document = {
        "schema_version": SCHEMA_VERSION,
        "log": log,
        "errors": sum(d.severity == "error" for d in diagnostics),
        "warnings": sum(d.severity == "warning" for d in diagnostics),
        "root_cause": root.to_dict() if root else None,
        "diagnostics": [d.to_dict() for d in diagnostics],
    }
    return inert_json(json.dumps(document, indent=1, ensure_ascii=False)) + "\n"


def schema(document: str) -> dict:
    """The JSON Schema of an output ("report", "nightly" or "parsed_log"), as shipped in orchestrator/schemas/."""
    shipped = json.loads(files("orchestrator").joinpath("schemas", SCHEMA_FILE).read_text())
    return {**shipped, "$ref": f"#/$defs/{document}"}


# --- junit ------------------------------------------------------------------------------------


def junit(report: Report, fail_on_warnings: bool = False) -> str:
    """One testcase per cell per commit; a failed build is a failure carrying its errors, an
    infrastructure or matrix error is an error."""
    suites = ElementTree.Element("testsuites", name="orchestrator")
    for row in report.rows:
        suite = ElementTree.SubElement(suites, "testsuite", name=f"{row.sha[:12]} {row.subject}")
        failures = errors = 0
        for cell in report.cells:
            verdict = row.verdicts.get(cell)
            if verdict is None:
                continue
            case = ElementTree.SubElement(suite, "testcase", classname=row.sha, name=cell)
            if verdict.reused_from:
                output = ElementTree.SubElement(case, "system-out")
                output.text = reused_text(verdict.reused_from)
            if verdict.status == Status.FAIL:
                failures += 1
                failure = ElementTree.SubElement(case, "failure", message=f"{verdict.kind}: {verdict.reason}", type=verdict.kind)
                failure.text = "\n".join(diagnostic_line(d) for d in (verdict.new_errors or [])) or verdict.reason
            elif verdict.status in (Status.INFRA, Status.MATRIX_ERROR):
                errors += 1
                ElementTree.SubElement(case, "error", message=verdict.reason, type=verdict.kind)
            elif fail_on_warnings and verdict.new_warnings:
                failures += 1
                failure = ElementTree.SubElement(case, "failure", message=verdict.kind, type=verdict.kind)
                failure.text = "\n".join(diagnostic_line(d) for d in verdict.new_warnings)
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    return inert_text(ElementTree.tostring(suites, encoding="unicode", xml_declaration=True)) + "\n"  # XML allows no control characters


def markdown_file(file: ReportFile) -> str:
    return markdown(file.report, file.fail_on_warnings)


def json_file(file: ReportFile) -> str:
    return as_json(file.report, file.fail_on_warnings)


def junit_file(file: ReportFile) -> str:
    return junit(file.report, file.fail_on_warnings)


# --- bisection ---------------------------------------------------------------------------------------


def first_bad_line(answer: FirstBad, *others: FirstBad) -> str:
    """`first bad commit: 0125b1458cbf KVM: x86: ... (Author <mail>), found in 3 builds`, or with
    commits that could not be judged next to it, `first bad commit is one of: ...`. With `others`
    (bisections of the same cause with the same answer), their builds too: `found in 3 + 2 builds`."""
    counts = [a.builds for a in (answer, *others)]
    total = " + ".join(map(str, counts))
    builds = f"found in {total} build{'s' if total != '1' else ''}"
    named = [_commit_words(sha, answer.commits.get(sha)) for sha in answer.candidates]
    if answer.found:
        return f"first bad commit: {named[0]}, {builds}"
    return f"first bad commit is one of: {'; '.join(named)} (the commits before the last could not be judged), {builds}"


def first_bad_lines(answers: list[FirstBad]) -> list[str]:
    """One line per answer of a cause, answers naming the same commits said once."""
    alike: dict[tuple[str, ...], list[FirstBad]] = {}
    for answer in answers:
        alike.setdefault(tuple(answer.candidates), []).append(answer)
    return [first_bad_line(*group) for group in alike.values()]


def _commit_words(sha: str, commit: Commit | None) -> str:
    if commit is None:
        return sha[:12]
    return f"{sha[:12]} {commit.subject}" + (f" ({commit.author})" if commit.author else "")


def first_bad_dict(answer: FirstBad) -> dict:
    return {
        "cells": answer.cells,
        "fingerprints": answer.fingerprints,
        "good": answer.good,
        "first_bad": answer.candidates[0] if answer.found else None,
        "candidates": [
            {"sha": sha, "subject": c.subject if c else "", "author": c.author if c else ""}
            for sha, c in ((sha, answer.commits.get(sha)) for sha in answer.candidates)
        ],
        "builds": answer.builds,
        "tip": answer.tip,
    }


# --- the nightly report -----------------------------------------------------------------------


def tuxmake_command(cell: Cell) -> str:
    """The same build with plain tuxmake, run in a kernel tree (fragments from this repository's configs/)."""
    words = ["tuxmake", "--runtime", cell.runtime, "--target-arch", cell.arch, "--toolchain", cell.toolchain]
    words += ["--kconfig", cell.kconfig]
    for fragment in cell.fragments:
        words += ["--kconfig-add", f"configs/{fragment.path}"]
    words += [*cell.targets, *cell.make_targets]
    words += [f"{name}={value}" for name, value in cell.make_variables]
    return " ".join(shlex.quote(w) for w in words)


def status_only(verdict: Verdict) -> str:
    """A reference row's cell: what the build did, judged against nothing."""
    mark = STATUS_MARK.get(verdict.status, "✓")
    return " ".join(p for p in (mark, f"{verdict.errors}e" if verdict.errors else "", f"{verdict.warnings}w" if verdict.warnings else "") if p)


def nightly_subject(nightly: Nightly) -> str:
    regressed = [b for b in nightly.branches if b.causes]
    failed = [b for b in nightly.branches if b.infra]
    if regressed:
        what = causes_count([c for b in regressed for c in b.causes]) + " in " + ", ".join(f"{b.tree}/{b.branch}" for b in regressed)
    else:
        what = "no regressions"
    if failed:
        what += "; infrastructure errors in " + ", ".join(f"{b.tree}/{b.branch}" for b in failed)
    return f"[orchestrator nightly {nightly.date}] {what}"


def nightly_markdown(nightly: Nightly, cells_by_id: dict[str, Unit]) -> str:
    """The nightly as a mail to a kernel list: a subject, one line per branch, then each branch's
    table and, per regression, the tree, branch, commit, cell, errors and how to reproduce it."""
    lines = [f"Subject: {nightly_subject(nightly)}", ""]
    lines.append(
        f"Nightly build of {nightly.date} (UTC), {nightly.started} to {nightly.finished}; "
        f"matrix {nightly.matrix}, {len(nightly.cells)} cell{'s' if len(nightly.cells) != 1 else ''}."
    )
    lines += ["", "| tree | branch | what happened | tip | regressions |", "|---|---|---|---|---|"]
    for branch in nightly.branches:
        tip = f"`{branch.tip[:12]}`" if branch.tip else ""
        count = causes_count(branch.causes) if branch.causes else ""
        lines.append(f"| {branch.tree} | {branch.branch} | {_cell(branch.detail)} | {tip} | {count} |")
    for branch in nightly.branches:
        lines += _branch_markdown(nightly, branch, cells_by_id)
    if nightly.pruned.paths:
        pruned = nightly.pruned
        lines += ["", f"Retention: pruned {len(pruned.paths)} artifact directories ({_mib(pruned.freed)}); {_mib(pruned.kept)} kept."]
    if nightly.mail_failed:
        lines += ["", f"Mail: NOT SENT: {nightly.mail}"]
    return inert_text("\n".join(lines) + "\n")


def _branch_markdown(nightly: Nightly, branch: BranchRun, cells_by_id: dict[str, Unit]) -> list[str]:
    """A branch's section: its table, each regression, then new warnings that are not regressions."""
    lines = ["", f"## {branch.tree} {branch.branch}: {branch.state}", "", f"{branch.source} — {branch.detail}"]
    if not branch.rows:
        return lines
    shown = [c for c in nightly.cells if any(c in row.verdicts for row in branch.rows)]
    lines += [""] + markdown_table(branch.rows, shown, nightly.fail_on_warnings, branch.reference)
    lines += reused_note(branch.rows)
    if branch.audits:
        mismatches = any(audit.mismatch for audit in branch.audits)
        lines += ["", f"Reuse audit: {audit_summary(branch.audits)}.", ""]
        lines += [f"    {audit_line(audit)}" for audit in branch.audits if audit.mismatch or not mismatches][:20]
    for cause in branch.causes:
        lines += _regression_markdown(nightly, branch, cause, cells_by_id.get(cause.cells[0]))
    for row in branch.rows:  # new warnings that are not regressions (unless --fail-on warnings)
        for verdict in row.verdicts.values():
            if verdict.new_warnings and not verdict.is_regression(nightly.fail_on_warnings):
                lines += ["", f"### new warnings: {verdict.cell_id} at `{row.sha[:12]}` {row.subject}", ""]
                lines += [f"    {diagnostic_line(d)}" for d in verdict.new_warnings]
    return lines


def _regression_markdown(nightly: Nightly, branch: BranchRun, cause: RootCause, cell: Unit | None) -> list[str]:
    """One root cause: where, what (errors with source lines), where it began, two ways to reproduce it."""
    row = next(r for r in branch.rows if r.sha == cause.sha)
    base = row.verdicts[cause.cells[0]].base_sha
    was = base[:12] if base else "no earlier result"
    lines = ["", f"### {cause.kind}: {', '.join(cause.cells)}", ""]
    lines.append(f"- tree: {branch.tree} ({branch.source}), branch {branch.branch}")
    lines.append(f"- commit: {cause.sha} (\"{cause.subject}\")" + (f" by {cause.author}" if cause.author else ""))
    lines += [f"- {said}" for said in first_bad_lines(cause.first_bad)]
    lines += [f"- cell{'s' if len(cause.cells) > 1 else ''}: {', '.join(cause.cells)}, judged against {was}", ""]
    for diagnostic in cause.diagnostics:
        lines.append(f"    {diagnostic_line(diagnostic)}")
        lines += [f"        {line}" for line in diagnostic.excerpt[:3]]
    if not cause.diagnostics and cause.reason:
        lines.append(f"    {cause.reason}")
    lines += ["", f"Reproduce, in a kernel tree at {cause.reproduce_at[:12]}:", ""]
    if isinstance(cell, Cell):
        lines.append(f"    {tuxmake_command(cell)}")
    lines.append(f"    {reproduce(cause.reproduce_at, cause.cells[0], rerun_options(nightly, branch))}")
    return lines


def rerun_options(nightly: Nightly, branch: BranchRun) -> tuple[str, ...]:
    """What `orchestrate --commit` needs to rebuild a nightly's cell from anywhere: its tree, matrix, results."""
    return ("--tree", str(branch.repo), "--matrix", nightly.matrix, "--results", nightly.results)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def audit_dict(audit: ReuseAudit) -> dict:
    return {
        "cell": audit.cell_id,
        "sha": audit.sha,
        "reused_from": audit.reused_from,
        "reused": audit.reused,
        "built": audit.built,
        "mismatch": audit.mismatch,
        "missing": list(audit.missing),
        "extra": list(audit.extra),
    }


def audit_summary(audits: list[ReuseAudit]) -> str:
    """`17 reused results built and compared, 0 mismatches`: what an audit did, in the console and mail."""
    mismatches = sum(audit.mismatch for audit in audits)
    results = f"{len(audits)} reused result{'s' if len(audits) != 1 else ''}"
    return f"{results} built and compared, {mismatches} mismatch{'es' if mismatches != 1 else ''}"


def audit_line(audit: ReuseAudit) -> str:
    """`x86_64-gcc-defconfig+kvm at 1a2b3c4d5e6f: reused PASS from 0f9e8d7c6b5a, built FAIL (+1 fingerprint)`."""
    where = f"{audit.cell_id} at {audit.sha[:12]}: reused {audit.reused.upper()} from {audit.reused_from[:12]}"
    if audit.built is None:
        return f"{where}; the build did not finish (infrastructure error): not compared"
    if not audit.mismatch:
        return f"{where}; built the same"
    changes = [f"found {n} the reused result lacks: {', '.join(audit.missing)}" for n in [len(audit.missing)] if n]
    changes += [f"lacks {n} the reused result has: {', '.join(audit.extra)}" for n in [len(audit.extra)] if n]
    return f"{where}; MISMATCH: built {audit.built.upper()}" + (f"; {'; '.join(changes)}" if changes else "")


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def nightly_json(nightly: Nightly) -> str:
    """The nightly as JSON, schema output-1.json#/$defs/nightly."""
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "date": nightly.date,
            "started": nightly.started,
            "finished": nightly.finished,
            "matrix": nightly.matrix,
            "cells": nightly.cells,
            "subject": nightly_subject(nightly),
            "branches": [
                {
                    "tree": b.tree,
                    "branch": b.branch,
                    "source": b.source,
                    "state": b.state,
                    "detail": b.detail,
                    "previous_tip": b.previous_tip,
                    "tip": b.tip,
                    "builds": b.built,
                    "reused": b.reused,
                    "reuse_audits": [audit_dict(audit) for audit in b.audits],
                    "reference": _row_dict(b.reference, nightly.fail_on_warnings, rerun_options(nightly, b)) if b.reference else None,
                    "commits": [_row_dict(row, nightly.fail_on_warnings, rerun_options(nightly, b)) for row in b.rows],
                    "regressions": _regression_dicts(b.regressions(nightly.fail_on_warnings)),
                    "first_bad": [first_bad_dict(answer) for answer in b.first_bad],
                    "root_causes": [cause_dict(cause, rerun_options(nightly, b)) for cause in b.causes],
                }
                for b in nightly.branches
            ],
            "pruned": {"directories": len(nightly.pruned.paths), "freed_bytes": nightly.pruned.freed, "kept_bytes": nightly.pruned.kept},
            "mail": {"sent": not nightly.mail_failed, "detail": nightly.mail} if nightly.mail else None,
        },
        indent=1,
    ) + "\n"

