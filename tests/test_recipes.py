"""The scheduling recipes (scheduling/, .github/workflows/nightly.yml) are files their tools accept."""

import os
import shutil
import subprocess

import pytest
import yaml
from conftest import PROJECT

SCHEDULING = PROJECT / "scheduling"
WORKFLOW = PROJECT / ".github" / "workflows" / "nightly.yml"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed: run scripts/setup"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_systemd_accepts_the_service_and_timer(tmp_path):
    analyze = need("systemd-analyze")
    units = [SCHEDULING / "orchestrator-nightly.service", SCHEDULING / "orchestrator-nightly.timer"]
    result = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    service = (SCHEDULING / "orchestrator-nightly.service").read_text()
    assert "ExecStart=/usr/bin/env orchestrate nightly" in service
    assert "OnCalendar=" in (SCHEDULING / "orchestrator-nightly.timer").read_text()


def test_systemd_accepts_the_dask_scheduler_and_worker_units():
    analyze = need("systemd-analyze")
    units = [SCHEDULING / "orchestrator-dask-scheduler.service", SCHEDULING / "orchestrator-dask-worker.service"]
    result = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    scheduler, worker = (unit.read_text() for unit in units)
    assert "dask scheduler --protocol tls --host 10.0.0.1" in scheduler  # TLS, bound to a private address
    assert "dask worker tls://10.0.0.1:8786" in worker and "--nthreads 1" in worker and "ORCHESTRATOR_WORK=" in worker


def test_systemd_verify_would_notice_a_broken_unit(tmp_path):
    analyze = need("systemd-analyze")
    broken = tmp_path / "orchestrator-nightly.timer"
    broken.write_text("[Timer]\nOnCalendar=every full moon\n")
    assert subprocess.run([analyze, "verify", str(broken)], capture_output=True).returncode != 0


def test_cron_accepts_the_crontab_line():
    crontab = need("crontab")
    if subprocess.run(["id", "orchestrator"], capture_output=True).returncode != 0:
        pytest.fail("no user `orchestrator` to install the crontab for: run scripts/setup")
    try:
        installed = subprocess.run([crontab, "-u", "orchestrator", str(SCHEDULING / "crontab")], capture_output=True, text=True)
        assert installed.returncode == 0, installed.stderr
        listed = subprocess.run([crontab, "-u", "orchestrator", "-l"], capture_output=True, text=True).stdout
        assert "orchestrate nightly" in listed
    finally:
        subprocess.run([crontab, "-u", "orchestrator", "-r"], capture_output=True)


def test_the_workflow_is_a_scheduled_github_workflow_that_keeps_the_report():
    document = yaml.safe_load(WORKFLOW.read_text())
    triggers = document.get("on", document.get(True))  # YAML 1.1 reads the key `on` as true
    assert [entry["cron"] for entry in triggers["schedule"]] == ["0 2 * * *"]
    job = document["jobs"]["nightly"]
    assert job["runs-on"] and job["steps"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert any("orchestrate nightly" in run for run in runs)
    uploads = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == "results/nightly/" and uploads[0]["if"] == "always()"


def test_the_workflow_matches_githubs_schema():
    checker = need("check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
