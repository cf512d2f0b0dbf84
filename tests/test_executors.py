"""Executors: the local one splits the cores between concurrent cells, and keeps the protocol."""

from orchestrator.executors import Executor, local


def test_the_local_executor_keeps_the_protocol():
    executor: Executor = local.LocalExecutor(workers=1)  # checked by mypy; here, that it stands
    with executor:
        assert list(executor.submit([])) == []


def test_schedule_splits_cores_between_cells():
    assert local.schedule(cells=9, cores=2) == local.Schedule(workers=2, jobs=2)
    assert local.schedule(cells=1, cores=2) == local.Schedule(workers=1, jobs=2)
    assert local.schedule(cells=9, cores=2, jobs=1) == local.Schedule(workers=2, jobs=1)
    assert local.schedule(cells=9, cores=8, workers=3) == local.Schedule(workers=3, jobs=8)
