"""Verdicts: did this commit break a cell, fix it, or add warnings, against its baseline? Pure.

A baseline is an earlier result of the same cell *definition* on the commit's first-parent line; which
one is the caller's business (it needs git and the store). New and gone problems are decided by
diagnostic fingerprint, so a warning that only moved is neither new nor fixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeGuard

from .models import FAIL, INFRA, MATRIX_ERROR, PASS, BuildResult, Diagnostic

NEW_FAIL = "NEW FAIL"
FIXED = "FIXED"
STILL_FAILING = "STILL FAILING"
NEW_WARNINGS = "NEW WARNINGS"
WARNINGS_FIXED = "WARNINGS FIXED"
UNCHANGED = "PASS"
INFRA_ERROR = "INFRA"
MATRIX = "MATRIX ERROR"
NO_BASELINE = "NO BASELINE"
BASELINE_UNKNOWN = "BASELINE UNKNOWN"  # the history is cut off (a shallow clone) before any baseline
KINDS = (NEW_FAIL, FIXED, STILL_FAILING, NEW_WARNINGS, WARNINGS_FIXED, UNCHANGED, INFRA_ERROR, MATRIX, NO_BASELINE, BASELINE_UNKNOWN)


@dataclass
class Verdict:
    cell_id: str
    sha: str
    kind: str  # one of KINDS
    status: str  # the build's own status (pass, fail, infra, matrix-error)
    base_sha: str | None = None
    errors: int = 0  # distinct error diagnostics now
    warnings: int = 0
    new_errors: list[Diagnostic] = field(default_factory=list)
    gone_errors: list[Diagnostic] = field(default_factory=list)
    new_warnings: list[Diagnostic] = field(default_factory=list)
    gone_warnings: list[Diagnostic] = field(default_factory=list)
    reason: str = ""  # the build's one-line reason (first error, infra cause)

    def is_regression(self, fail_on_warnings: bool = False) -> bool:
        """A new failure or new errors; with fail_on_warnings, new warnings too. Never an infra error.
        A failure with no baseline counts: nothing shows it was failing before. A failure whose baseline
        lies beyond a cut-off history does not: it may have failed before, nobody can tell."""
        if self.kind in (NEW_FAIL,) or (self.kind == STILL_FAILING and self.new_errors):
            return True
        if self.kind == NO_BASELINE and self.status == FAIL:
            return True
        return fail_on_warnings and bool(self.new_warnings)

    @property
    def is_fix(self) -> bool:
        return self.kind in (FIXED, WARNINGS_FIXED) or (self.kind == STILL_FAILING and bool(self.gone_errors))


def _by_fingerprint(diagnostics: Iterable[Diagnostic], severity: str) -> dict[str, Diagnostic]:
    found: dict[str, Diagnostic] = {}
    for diagnostic in diagnostics:
        if diagnostic.severity == severity:
            found.setdefault(diagnostic.fingerprint, diagnostic)
    return found


def _new(now: dict[str, Diagnostic], before: dict[str, Diagnostic]) -> list[Diagnostic]:
    return [d for fingerprint, d in now.items() if fingerprint not in before]


def compare(current: BuildResult, baseline: BuildResult | None, history_cut: bool = False) -> Verdict:
    """The verdict for one cell of one commit against its baseline (None: there is none, or with
    `history_cut`, the history that could hold one is not there)."""
    errors = _by_fingerprint(current.diagnostics, "error")
    warnings = _by_fingerprint(current.diagnostics, "warning")
    verdict = Verdict(
        cell_id=current.cell_id,
        sha=current.sha,
        kind=UNCHANGED,
        status=current.status,
        base_sha=baseline.sha if baseline else None,
        errors=len(errors),
        warnings=len(warnings),
        reason=current.reason,
    )
    if current.status == INFRA:
        verdict.kind = INFRA_ERROR
        return verdict
    if current.status == MATRIX_ERROR:
        verdict.kind = MATRIX
        return verdict
    if baseline is None:
        verdict.kind = BASELINE_UNKNOWN if history_cut else NO_BASELINE
        return verdict
    if current.diagnostics or baseline.diagnostics:  # most cells of a long history have neither
        before_errors = _by_fingerprint(baseline.diagnostics, "error")
        before_warnings = _by_fingerprint(baseline.diagnostics, "warning")
        verdict.new_errors = _new(errors, before_errors)
        verdict.gone_errors = _new(before_errors, errors)
        verdict.new_warnings = _new(warnings, before_warnings)
        verdict.gone_warnings = _new(before_warnings, warnings)
    failed, failed_before = current.status == FAIL, baseline.status == FAIL
    if failed and not failed_before:
        verdict.kind = NEW_FAIL
    elif failed_before and not failed:
        verdict.kind = FIXED
    elif failed:
        verdict.kind = STILL_FAILING
    elif verdict.new_warnings:
        verdict.kind = NEW_WARNINGS
    elif verdict.gone_warnings:
        verdict.kind = WARNINGS_FIXED
    return verdict


def usable_baseline(result: BuildResult | None) -> TypeGuard[BuildResult]:
    """Only finished builds are baselines: an infra or matrix error says nothing about the code."""
    return result is not None and result.status in (PASS, FAIL)


@dataclass
class Row:
    """One commit of the table: its verdict per cell id (cells without a result are missing)."""

    sha: str
    subject: str
    verdicts: dict[str, Verdict]


def table(
    commits: list[tuple[str, str]],
    results: dict[tuple[str, str], BuildResult],
    cells: list[str],
    earlier: dict[tuple[str, str], BuildResult] | None = None,
    cut: frozenset[tuple[str, str]] = frozenset(),
) -> list[Row]:
    """Verdicts for commits (sha, subject), oldest first along the first-parent line.

    results: (sha, cell) → result for the commits of the table. earlier: (cell, definition) → the
    baseline found before the table's first commit, if any; cut: (cell, definition) whose search for
    one ran into a shallow clone's cut-off. Each cell's baseline moves down the table: the nearest
    earlier row with a usable result of the same definition.
    """
    latest: dict[tuple[str, str], BuildResult] = dict(earlier or {})
    rows = []
    for sha, subject in commits:
        row = Row(sha=sha, subject=subject, verdicts={})
        for cell in cells:
            current = results.get((sha, cell))
            if current is None:
                continue
            key = (cell, current.definition)
            row.verdicts[cell] = compare(current, latest.get(key), key in cut)
            if usable_baseline(current):
                latest[key] = current
        rows.append(row)
    return rows
