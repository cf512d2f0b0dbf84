"""Verdicts: did this commit break a cell, fix it, or add warnings, against its baseline? Pure.

A baseline is an earlier result of the same cell *definition* on the commit's first-parent line; which
one is the caller's business (it needs git and the store). New and gone problems are decided by
diagnostic fingerprint, so a warning that only moved is neither new nor fixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TypeGuard

from .models import BuildResult, Diagnostic, FirstBad, RootCause, Row, Status, Verdict, VerdictKind


def _by_fingerprint(diagnostics: Iterable[Diagnostic], severity: str) -> dict[str, Diagnostic]:
    """The diagnostics of a severity, known ones aside: a finding the matrix accepts is never judged."""
    found: dict[str, Diagnostic] = {}
    for diagnostic in diagnostics:
        if diagnostic.severity == severity and not diagnostic.known:
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
        kind=VerdictKind.UNCHANGED,
        status=current.status,
        base_sha=baseline.sha if baseline else None,
        reused_from=current.reused_from,
        errors=len(errors),
        warnings=len(warnings),
        known=len({d.fingerprint for d in current.diagnostics if d.known}),
        reason=current.reason,
    )
    if current.status == Status.INFRA:
        verdict.kind = VerdictKind.INFRA
        return verdict
    if current.status == Status.MATRIX_ERROR:
        verdict.kind = VerdictKind.MATRIX_ERROR
        return verdict
    if baseline is None:
        verdict.kind = VerdictKind.BASELINE_UNKNOWN if history_cut else VerdictKind.NO_BASELINE
        return verdict
    if current.diagnostics or baseline.diagnostics:  # most cells of a long history have neither
        before_errors = _by_fingerprint(baseline.diagnostics, "error")
        before_warnings = _by_fingerprint(baseline.diagnostics, "warning")
        verdict.new_errors = _new(errors, before_errors)
        verdict.gone_errors = _new(before_errors, errors)
        verdict.new_warnings = _new(warnings, before_warnings)
        verdict.gone_warnings = _new(before_warnings, warnings)
    failed, failed_before = current.status == Status.FAIL, baseline.status == Status.FAIL
    if failed and not failed_before:
        verdict.kind = VerdictKind.NEW_FAIL
    elif failed_before and not failed:
        verdict.kind = VerdictKind.FIXED
    elif failed:
        verdict.kind = VerdictKind.STILL_FAILING
    elif verdict.new_warnings:
        verdict.kind = VerdictKind.NEW_WARNINGS
    elif verdict.gone_warnings:
        verdict.kind = VerdictKind.WARNINGS_FIXED
    return verdict


def usable_baseline(result: BuildResult | None) -> TypeGuard[BuildResult]:
    """Only finished builds are baselines: an infra or matrix error says nothing about the code."""
    return result is not None and result.status in (Status.PASS, Status.FAIL)


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


# Identifiers quoted in a compiler's message: gcc's `has no member named 'flags'` and clang's `no member
# named 'flags' in ...` share 'flags'.
QUOTED_NAME = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)'")


def root_causes(found: Iterable[tuple[Row, Verdict]], fail_on_warnings: bool = False) -> list[RootCause]:
    """One entry per root cause of each commit's regressions, in the order found. Two regressions of a
    commit are one cause when they share a new diagnostic's fingerprint, or have an error at the same
    file and line naming the same identifier (gcc and clang word one error differently); a failure with
    no diagnostic is its own cause unless another has its very reason."""
    causes: list[RootCause] = []
    for sha, group in _by_commit(found):
        for indices in _joined([_cause_keys(verdict, fail_on_warnings) for _, verdict in group]):
            causes.append(_cause(sha, [group[i] for i in indices], fail_on_warnings))
    return causes


def _joined(keys: list[list[object]]) -> list[list[int]]:
    """The items (by index) joined into groups wherever two share a key, in the order of their first."""
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    owner: dict[object, int] = {}
    for i, item_keys in enumerate(keys):
        for key in item_keys:
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(keys)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


def _by_commit(found: Iterable[tuple[Row, Verdict]]) -> list[tuple[str, list[tuple[Row, Verdict]]]]:
    commits: dict[str, list[tuple[Row, Verdict]]] = {}
    for row, verdict in found:
        commits.setdefault(row.sha, []).append((row, verdict))
    return list(commits.items())


def _regressing(verdict: Verdict, fail_on_warnings: bool) -> list[Diagnostic]:
    """The new diagnostics that make a verdict a regression (new warnings too when they are all it has)."""
    if verdict.kind == VerdictKind.NO_BASELINE:
        return []
    return verdict.new_errors + (verdict.new_warnings if fail_on_warnings or not verdict.new_errors else [])


def _cause_keys(verdict: Verdict, fail_on_warnings: bool) -> list[object]:
    diagnostics = _regressing(verdict, fail_on_warnings)
    if not diagnostics:
        return [("reason", verdict.reason)]
    keys: list[object] = []
    for diagnostic in diagnostics:
        keys.append(diagnostic.fingerprint)
        if diagnostic.severity == "error" and diagnostic.file and diagnostic.line is not None:
            keys += [(diagnostic.file, diagnostic.line, name) for name in QUOTED_NAME.findall(diagnostic.message)]
    return keys


def _cause(sha: str, members: list[tuple[Row, Verdict]], fail_on_warnings: bool) -> RootCause:
    row, first = members[0]
    diagnostics: dict[str, Diagnostic] = {}
    for _, verdict in members:
        for diagnostic in _regressing(verdict, fail_on_warnings):
            diagnostics.setdefault(diagnostic.fingerprint, diagnostic)
    kinds = [verdict.kind for _, verdict in members]
    return RootCause(
        sha=sha,
        subject=row.subject,
        kind=VerdictKind.NEW_FAIL if VerdictKind.NEW_FAIL in kinds else first.kind,
        cells=[verdict.cell_id for _, verdict in members],
        diagnostics=list(diagnostics.values()),
        reason=first.reason,
        author=row.author,
    )


def with_first_bad(causes: list[RootCause], answers: list[FirstBad]) -> list[RootCause]:
    """Causes with where bisection found they began (`explains`). Causes traced to the same first bad
    commit are one cause: that commit is the root (the seed's B breaks arm64 and riscv with errors in
    different files). Ranges stay apart."""
    merged: list[RootCause] = []
    by_commit: dict[tuple[str, str], RootCause] = {}
    for given in causes:
        cause = replace(given, cells=list(given.cells), diagnostics=list(given.diagnostics), first_bad=[a for a in answers if explains(a, given)])
        began = cause.began_at
        key = (cause.sha, began) if began else None
        if key is not None and key in by_commit:
            into = by_commit[key]
            into.cells += cause.cells
            into.diagnostics += [d for d in cause.diagnostics if d not in into.diagnostics]
            into.kind = VerdictKind.NEW_FAIL if VerdictKind.NEW_FAIL in (into.kind, cause.kind) else into.kind
            into.first_bad += [a for a in cause.first_bad if a not in into.first_bad]
            continue
        if key is not None:
            by_commit[key] = cause
        merged.append(cause)
    return merged


def explains(answer: FirstBad, cause: RootCause) -> bool:
    """Whether a bisection's answer is about this cause: one of its cells, one of its new diagnostics,
    and its commit is where the regression was seen (the nightly's tip) or the first commit known bad
    (where a table of the range shows it)."""
    fingerprints = {d.fingerprint for d in cause.diagnostics}
    return (
        cause.sha in (answer.tip, answer.candidates[-1])
        and bool(set(answer.cells) & set(cause.cells))
        and (not answer.fingerprints or bool(fingerprints & set(answer.fingerprints)))
    )
