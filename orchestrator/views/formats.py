"""Report formats, in one registry: what `orchestrate report --format` offers besides its terminal table,
and the one function that writes each. A new format is a module with a `(ReportFile) -> str` writer and
a line in FORMATS; the command line's choices and its handler read this registry, nothing else.

Writers are named, not imported: the command line lists the formats without loading any view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Report, Unit

# name → "module:function" in this package
FORMATS = {
    "markdown": "export:markdown_file",
    "json": "export:json_file",
    "junit": "export:junit_file",
    "html": "html:page_file",
    "kcidb": "kcidb:document_file",
}


@dataclass(frozen=True)
class Source:
    """What a document says about where the commits and the logs are (KCIDB's ids and URLs)."""

    origin: str  # the CI system's name in every id: `kcidb: {origin: …}` in matrix.yaml
    logs: str  # the URL the results directory is published at ("file:///…/results/" or the matrix's log_url), ending in "/"
    tree_name: str = ""
    repository_url: str = ""  # only an https:// URL (the schema takes no other)


@dataclass(frozen=True)
class ReportFile:
    """What a format writes from: the judged report, and what a document says around it."""

    report: Report
    fail_on_warnings: bool
    title: str  # what it is a report of: "orchestrate report A..B"
    generated: str  # when, as a page shows it: "2026-12-07 23:00 UTC"
    results_url: str  # the results directory as the written file links to it ("" when beside it)
    units: Mapping[str, Unit]  # the matrix's cells and checks by id: KCIDB describes each build by its own
    source: Source  # for KCIDB: the CI's name, where the logs are published, the tree


def write(name: str, file: ReportFile) -> str:
    """The report in format `name` (a key of FORMATS)."""
    module, _, function = FORMATS[name].partition(":")
    return getattr(import_module(f"{__package__}.{module}"), function)(file)
