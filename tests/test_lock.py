"""lock: one holder at a time across real processes; a lock whose holder is gone is taken over."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import command_env

from orchestrator.lock import Busy, Lock

HOLD = """
import sys, time
from orchestrator.lock import Lock
with Lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock until told to let go (a line on its stdin)."""
    path = tmp_path / "lock"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=command_env()
    )
    assert process.stdout.readline() == "held\n"
    yield path, process
    process.kill()
    process.wait()


def test_a_second_process_is_refused_with_the_holders_pid(holder):
    path, process = holder
    with pytest.raises(Busy) as refused, Lock(path, wait=False):
        pass
    assert f"pid {process.pid}" in refused.value.holder


def test_the_lock_file_names_its_holder(holder):
    path, process = holder
    process.stdin.write("done\n")
    process.stdin.flush()
    with Lock(path, wait=True):
        assert Path(path).read_text().split()[0] == str(os.getpid())


def test_a_killed_holders_lock_is_taken_over_and_said(holder):
    path, process = holder
    process.kill()
    process.wait()
    said = []
    with Lock(path, wait=False, say=said.append):
        pass
    assert said == [f"taking over {path}: its holder (pid {process.pid}) is no longer running"]


def test_a_released_lock_leaves_nothing_stale(tmp_path):
    said = []
    for _ in range(2):
        with Lock(tmp_path / "lock", wait=False, say=said.append):
            pass
    assert said == [] and (tmp_path / "lock").read_text() == ""


def test_waiting_says_who_it_waits_for(holder):
    path, process = holder
    said = []

    def release_soon(message):
        said.append(message)
        process.stdin.write("done\n")
        process.stdin.flush()

    with Lock(path, wait=True, say=release_soon):
        pass
    assert said and said[0].startswith(f"{path} is held by pid {process.pid}") and said[0].endswith("waiting for it")
