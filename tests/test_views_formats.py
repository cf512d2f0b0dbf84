"""formats: one registry of report formats, read by the command line and its handler alike."""

import json

import jsonschema
from conftest import every_kind

from orchestrator.cli import arguments
from orchestrator.views import export, formats, kcidb

FILE = formats.ReportFile(
    report=every_kind(),
    fail_on_warnings=False,
    title="orchestrate report a..c",
    generated="2026-12-07 23:00 UTC",
    results_url="results/",
    units={},
    source=kcidb.Source(origin="orchestrator", logs="file:///srv/results/"),
)


def test_every_registered_format_writes_the_report():
    written = {name: formats.write(name, FILE) for name in formats.FORMATS}
    assert written["markdown"] == export.markdown(FILE.report)
    jsonschema.validate(json.loads(written["json"]), export.schema("report"))
    assert written["junit"].startswith("<?xml") and "<testsuites" in written["junit"]
    assert "<title>orchestrate report a..c: " in written["html"] and 'href="results/' in written["html"]
    assert json.loads(written["kcidb"])["version"] == {"major": kcidb.MAJOR, "minor": kcidb.MINOR}


def test_the_command_line_offers_the_table_and_exactly_the_registered_formats():
    report = arguments.parser()._subparsers._group_actions[0].choices["report"]  # type: ignore[union-attr]
    [choice] = [action for action in report._actions if action.dest == "format"]
    assert choice.choices == ("table", *formats.FORMATS)
