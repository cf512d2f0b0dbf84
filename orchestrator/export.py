"""The regression table as markdown, JSON or JUnit XML. Presentation only: no I/O, text out."""

from __future__ import annotations

import json
import shlex
from xml.etree import ElementTree

from . import regress
from .models import FAIL, INFRA, MATRIX_ERROR, Diagnostic

SYMBOL = {
    regress.NEW_FAIL: "✗",
    regress.FIXED: "✓",
    regress.STILL_FAILING: "✗",
    regress.NEW_WARNINGS: "!",
    regress.WARNINGS_FIXED: "✓",
    regress.UNCHANGED: "✓",
    regress.INFRA_ERROR: "?",
    regress.MATRIX: "⚠",
}


def symbol(verdict: regress.Verdict) -> str:
    if verdict.kind == regress.NO_BASELINE:
        return {FAIL: "✗", INFRA: "?", MATRIX_ERROR: "⚠"}.get(verdict.status, "✓")
    return SYMBOL[verdict.kind]


def counts(verdict: regress.Verdict) -> str:
    """`1e 2w`, with what changed: `+1e`, `-2w`."""
    parts = []
    if verdict.new_errors or verdict.gone_errors:
        parts.append(_delta(len(verdict.new_errors), len(verdict.gone_errors), "e"))
    elif verdict.errors:
        parts.append(f"{verdict.errors}e")
    if verdict.new_warnings or verdict.gone_warnings:
        parts.append(_delta(len(verdict.new_warnings), len(verdict.gone_warnings), "w"))
    elif verdict.warnings:
        parts.append(f"{verdict.warnings}w")
    return " ".join(parts)


def _delta(new: int, gone: int, unit: str) -> str:
    return " ".join(p for p in (f"+{new}{unit}" if new else "", f"-{gone}{unit}" if gone else "") if p)


def cell_text(verdict: regress.Verdict) -> str:
    label = "" if verdict.kind in (regress.UNCHANGED, regress.NO_BASELINE) else verdict.kind
    if verdict.kind == regress.NO_BASELINE:
        label = "no baseline"
    return " ".join(p for p in (symbol(verdict), label, counts(verdict)) if p)


SHORT = {
    regress.NEW_FAIL: "new",
    regress.FIXED: "fix",
    regress.STILL_FAILING: "",
    regress.NEW_WARNINGS: "",
    regress.WARNINGS_FIXED: "",
    regress.UNCHANGED: "",
    regress.INFRA_ERROR: "",
    regress.MATRIX: "",
    regress.NO_BASELINE: "°",
}
LEGEND = "✓ builds  ✗ fails  ! new warnings  ? infrastructure error  ⚠ matrix error  ° no baseline  +/-Ne, +/-Nw: errors, warnings new/gone"


def compact_text(verdict: regress.Verdict) -> str:
    """The cell of a wide table: `✗new +1e`, `✓fix -1e`, `! +2w`."""
    return " ".join(p for p in (symbol(verdict) + SHORT[verdict.kind], counts(verdict)) if p)


def reproduce(sha: str, cell: str) -> str:
    return f"orchestrate --commit {sha[:12]} --cells {shlex.quote(cell)} --rebuild"


def regressions(report, fail_on_warnings: bool = False):
    """(row, verdict) for every regression of the table, in table order."""
    for row in report.rows:
        for cell in report.cells:
            verdict = row.verdicts.get(cell)
            if verdict is not None and verdict.is_regression(fail_on_warnings):
                yield row, verdict


def new_diagnostics(verdict: regress.Verdict) -> list[Diagnostic]:
    if verdict.kind == regress.NO_BASELINE:
        return []
    return verdict.new_errors + verdict.new_warnings


def diagnostic_line(diagnostic: Diagnostic) -> str:
    option = f" [{diagnostic.option}]" if diagnostic.option else ""
    return f"{diagnostic.location}: {diagnostic.severity}: {diagnostic.message}{option}"


# --- markdown ---------------------------------------------------------------------------------


def markdown(report, fail_on_warnings: bool = False) -> str:
    lines = ["| commit | subject | " + " | ".join(report.cells) + " |"]
    lines.append("|---|---|" + "---|" * len(report.cells))
    for row in report.rows:
        cells = []
        for cell in report.cells:
            verdict = row.verdicts.get(cell)
            text = cell_text(verdict) if verdict else ""
            if verdict and verdict.is_regression(fail_on_warnings):
                text = f"**{text}**"
            cells.append(text)
        subject = row.subject.replace("|", "\\|")
        lines.append(f"| `{row.sha[:12]}` | {subject} | " + " | ".join(cells) + " |")
    found = list(regressions(report, fail_on_warnings))
    lines.append("")
    if not found:
        lines.append("No regressions.")
    for row, verdict in found:
        lines += ["", f"### {verdict.kind}: {verdict.cell_id} at `{row.sha[:12]}` {row.subject}", ""]
        for diagnostic in new_diagnostics(verdict) or []:
            lines.append(f"- `{diagnostic_line(diagnostic)}`")
        if not new_diagnostics(verdict) and verdict.reason:
            lines.append(f"- `{verdict.reason}`")
        lines += ["", "Reproduce:", "", f"    {reproduce(row.sha, verdict.cell_id)}"]
    return "\n".join(lines) + "\n"


# --- json -------------------------------------------------------------------------------------


def _verdict_dict(verdict: regress.Verdict) -> dict:
    return {
        "cell": verdict.cell_id,
        "verdict": verdict.kind,
        "status": verdict.status,
        "baseline": verdict.base_sha,
        "errors": verdict.errors,
        "warnings": verdict.warnings,
        "new_errors": [d.to_dict() for d in verdict.new_errors],
        "gone_errors": [d.to_dict() for d in verdict.gone_errors],
        "new_warnings": [d.to_dict() for d in verdict.new_warnings],
        "gone_warnings": [d.to_dict() for d in verdict.gone_warnings],
        "reason": verdict.reason,
        "regression": verdict.is_regression(),
        "reproduce": reproduce(verdict.sha, verdict.cell_id),
    }


def as_json(report, fail_on_warnings: bool = False) -> str:
    document = {
        "cells": report.cells,
        "commits": [
            {"sha": row.sha, "subject": row.subject, "verdicts": [_verdict_dict(v) for v in row.verdicts.values()]}
            for row in report.rows
        ],
        "regressions": [
            {"sha": row.sha, "cell": verdict.cell_id, "verdict": verdict.kind} for row, verdict in regressions(report, fail_on_warnings)
        ],
    }
    return json.dumps(document) + "\n"  # no indent: json's fast C encoder only runs without it


# --- junit ------------------------------------------------------------------------------------


def junit(report, fail_on_warnings: bool = False) -> str:
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
            if verdict.status == FAIL:
                failures += 1
                failure = ElementTree.SubElement(case, "failure", message=f"{verdict.kind}: {verdict.reason}", type=verdict.kind)
                failure.text = "\n".join(diagnostic_line(d) for d in (verdict.new_errors or [])) or verdict.reason
            elif verdict.status in (INFRA, MATRIX_ERROR):
                errors += 1
                ElementTree.SubElement(case, "error", message=verdict.reason, type=verdict.kind)
            elif fail_on_warnings and verdict.new_warnings:
                failures += 1
                failure = ElementTree.SubElement(case, "failure", message=verdict.kind, type=verdict.kind)
                failure.text = "\n".join(diagnostic_line(d) for d in verdict.new_warnings)
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


FORMATS = {"markdown": markdown, "json": as_json, "junit": junit}
