"""Executors: the local one splits the cores between concurrent cells, and keeps the protocol."""

import io
import subprocess
import tarfile

import pytest

from orchestrator import executors
from orchestrator.executors import Executor, cluster, local, on_worker
from orchestrator.matrix import ExecutorSettings, executor_address


def test_the_local_executor_keeps_the_protocol():
    executor: Executor = local.LocalExecutor(workers=1)  # checked by mypy; here, that it stands
    with executor:
        assert list(executor.submit([])) == []


def test_schedule_splits_cores_between_cells():
    assert local.schedule(cells=9, cores=2) == local.Schedule(workers=2, jobs=2)
    assert local.schedule(cells=1, cores=2) == local.Schedule(workers=1, jobs=2)
    assert local.schedule(cells=9, cores=2, jobs=1) == local.Schedule(workers=2, jobs=1)
    assert local.schedule(cells=9, cores=8, workers=3) == local.Schedule(workers=3, jobs=8)


def test_the_dask_executor_keeps_the_protocol():
    dask = cluster.DaskExecutor(ExecutorSettings(address="tcp://127.0.0.1:1"), "git://127.0.0.1/linux.git")
    executor: Executor = dask  # checked by mypy
    assert executor is dask and dask.client is None  # connects only when entered


def test_artifacts_travel_as_one_archive_and_unpack_into_their_directory_only(tmp_path):
    built = tmp_path / "built"
    (built / "fragments").mkdir(parents=True)
    (built / "build.log").write_text("make --silent\n")
    (built / "fragments" / "0-kvm.config").write_text("CONFIG_KVM=y\n")
    arrived = tmp_path / "results" / "sha" / "cell.partial"
    on_worker.unpack(on_worker.pack(built), arrived)
    assert sorted(str(p.relative_to(arrived)) for p in arrived.rglob("*")) == ["build.log", "fragments", "fragments/0-kvm.config"]
    assert (arrived / "build.log").read_text() == "make --silent\n"


def test_an_archive_reaching_outside_its_directory_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo("../outside")
        member.size = 2
        archive.addfile(member, io.BytesIO(b"x\n"))
    with pytest.raises(tarfile.TarError):
        on_worker.unpack(buffer.getvalue(), tmp_path / "cell.partial")
    assert not (tmp_path / "outside").exists()


def test_a_worker_address_is_local_or_a_scheduler_and_dask_means_plain_tcp():
    assert executor_address("dask://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    with pytest.raises(ValueError, match="must be local, dask://HOST:PORT or tls://HOST:PORT"):
        executor_address("http://10.0.0.1:8786")


def test_the_address_scheme_chooses_the_executor_from_one_registry(tmp_path):
    """local: a pool here, building from a worktree of the commit; tcp:// and tls://: a cluster's workers,
    which check the commit out themselves. Nothing connects before the run enters the executor."""
    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    subprocess.run([*git, "commit", "--quiet", "--allow-empty", "-m", "a"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()

    def where(address: str) -> executors.Where:
        settings = ExecutorSettings(address=address)
        return executors.Where(settings, "git://127.0.0.1/linux.git", repo, sha, tmp_path / "work", 9, None, None, executors.quiet, print)

    here = executors.start(where("local"))
    assert isinstance(here.executor, local.LocalExecutor) and here.executor.workers == local.schedule(9, local.cores()).workers
    checked_out = subprocess.run(["git", "-C", here.source, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert here.source != str(repo) and checked_out == sha
    for address in ("tcp://127.0.0.1:1", "tls://127.0.0.1:1"):
        there = executors.start(where(address))
        assert isinstance(there.executor, cluster.DaskExecutor) and there.executor.client is None
        assert there.source == str(repo) and there.jobs is None
    assert set(executors.OPENERS) == {"local", "tcp", "tls"}  # what executor_address lets through
