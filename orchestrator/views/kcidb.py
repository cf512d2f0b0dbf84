"""A report as a KCIDB I/O document (schema v5), the common format KernelCI's database takes from CI
systems: a checkout per commit, a build per cell, a test per check. Presentation only.

How our statuses map (README: KCIDB): PASS → PASS, FAIL → FAIL, INFRA → ERROR (the build did not
finish; the code's status is unknown), MATRIX-ERROR → MISS (the harness could not run the cell as
declared). A check (uapi-abi) is a build that installed and compiled the headers (PASS, or ERROR/MISS as
above) with one test under it: FAIL when the layouts differ, PASS when they agree.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from ..inert import inert_json
from ..models import BuildResult, Cell, Check, Diagnostic, Report, Status, Unit
from .formats import ReportFile
from .formats import Source as Source  # what a KCIDB document says about where it comes from

MAJOR, MINOR = 5, 3  # the schema version the documents claim: kcidb_io.schema.LATEST when written
EXCERPT_LIMIT = 16384  # characters: the schema's maxLength of log_excerpt
BUILD_STATUS = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.INFRA: "ERROR", Status.MATRIX_ERROR: "MISS"}


def document(report: Report, units: dict[str, Unit], source: Source) -> dict:
    """The KCIDB document of every result behind the report's verdicts."""
    checkouts, builds, tests = [], [], []
    for row in report.rows:
        checkout_id = f"{source.origin}:{row.sha}"
        checkouts.append(_checkout(checkout_id, row.sha, row.subject, report, source))
        for cell in report.cells:
            result = report.results.get((row.sha, cell))
            if result is None:
                continue
            unit = units.get(cell)
            build = _build(checkout_id, result, unit, source)
            builds.append(build)
            if isinstance(unit, Check):
                tests.append(_test(build["id"], result, unit, source))
    made: dict = {"version": {"major": MAJOR, "minor": MINOR}, "checkouts": checkouts, "builds": builds}
    if tests:
        made["tests"] = tests
    return made


def document_file(file: ReportFile) -> str:
    return text(file.report, dict(file.units), file.source)


def text(report: Report, units: dict[str, Unit], source: Source) -> str:
    return inert_json(json.dumps(document(report, units, source), indent=1, ensure_ascii=False)) + "\n"


def _checkout(checkout_id: str, sha: str, subject: str, report: Report, source: Source) -> dict:
    checkout = {"id": checkout_id, "origin": source.origin, "git_commit_hash": sha, "comment": subject, "valid": True}
    if source.tree_name:
        checkout["tree_name"] = source.tree_name
    if source.repository_url.startswith("https://"):
        checkout["git_repository_url"] = source.repository_url
    commit = report.commits.get(sha)
    if commit is not None:
        checkout["misc"] = {"subject": commit.subject, "author": commit.author, "author_date": commit.author_date}
    return checkout


def _build(checkout_id: str, result: BuildResult, unit: Unit | None, source: Source) -> dict:
    status = result.status
    if isinstance(unit, Check) and status == Status.FAIL:  # the layouts differ: its test says so; the headers built
        status = Status.PASS
    build: dict = {
        "id": f"{checkout_id}:{result.cell_id}",
        "checkout_id": checkout_id,
        "origin": source.origin,
        "status": BUILD_STATUS[status],
        "duration": round(result.duration, 3),
    }
    if isinstance(unit, Cell):
        build["architecture"] = unit.arch
        build["config_name"] = "+".join([unit.kconfig, *(f.path.rsplit("/", 1)[-1].removesuffix(".config") for f in unit.fragments)])
        build["compiler"] = result.compiler or unit.toolchain
    elif isinstance(unit, Check):
        build["architecture"] = unit.wide
        build["config_name"] = f"uapi headers {unit.wide}/{unit.narrow}"
        if result.compiler:
            build["compiler"] = result.compiler
    elif result.compiler:
        build["compiler"] = result.compiler
    if result.artifacts_dir:
        build["log_url"] = source.logs + quote(f"{result.artifacts_dir}/build.log")
        if isinstance(unit, Cell):
            build["config_url"] = source.logs + quote(f"{result.artifacts_dir}/config")
    excerpt = log_excerpt(result)
    if excerpt:
        build["log_excerpt"] = excerpt
    build["misc"] = _misc(result)
    return build


def _test(build_id: str, result: BuildResult, check: Check, source: Source) -> dict:
    status = {Status.PASS: "PASS", Status.FAIL: "FAIL"}.get(result.status, "MISS")  # the build above says why it did not run
    path = f"uapi_abi.{check.wide}_{check.narrow}"
    test = {"id": f"{build_id}:layouts", "build_id": build_id, "origin": source.origin, "path": path, "status": status}
    excerpt = log_excerpt(result)
    if excerpt:
        test["log_excerpt"] = excerpt
    return test


def _misc(result: BuildResult) -> dict:
    misc: dict = {"cell": result.cell_id, "orchestrator_status": str(result.status), "runtime": result.runtime}
    for key in ("reason", "image", "reused_from"):
        if getattr(result, key):
            misc[key] = getattr(result, key)
    misc["diagnostics"] = [
        {"severity": d.severity, "file": d.file, "line": d.line, "message": d.message, "option": d.option, "fingerprint": d.fingerprint}
        for d in result.diagnostics
    ]
    return misc


def log_excerpt(result: BuildResult) -> str:
    """The first errors (then warnings) as the compiler printed them, at most EXCERPT_LIMIT characters;
    the reason alone when the log named none."""
    lines: list[str] = []
    for diagnostic in sorted(result.diagnostics, key=lambda d: (d.severity != "error", not d.root_cause)):
        lines += _printed(diagnostic)
    if not lines and result.status != Status.PASS and result.reason:
        lines.append(result.reason)
    excerpt = "\n".join(lines)
    if len(excerpt) > EXCERPT_LIMIT:  # whole lines only
        cut = excerpt.rfind("\n", 0, EXCERPT_LIMIT + 1)
        excerpt = excerpt[: cut if cut > 0 else EXCERPT_LIMIT]
    return excerpt.replace("\0", "")


def _printed(diagnostic: Diagnostic) -> list[str]:
    head = [f"In file included from {step}" for step in diagnostic.include_chain]
    return [*head, diagnostic.headline, *diagnostic.excerpt]
