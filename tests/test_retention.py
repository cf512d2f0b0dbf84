"""retention: artifacts go by age, then oldest first down to the disk budget; database rows stay."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator import retention
from orchestrator.models import BuildResult, Commit, Status
from orchestrator.store import Store

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def artifacts(name: str, days_old: float, size: int) -> retention.Artifacts:
    return retention.Artifacts(Path(name), NOW - timedelta(days=days_old), size)


def test_older_than_keep_days_goes():
    found = [artifacts("old", 40, 1), artifacts("new", 1, 1)]
    assert [a.path.name for a in retention.choose(found, 30, None, NOW)] == ["old"]


def test_the_oldest_go_until_the_rest_fits_the_budget():
    found = [artifacts("a", 5, 100), artifacts("b", 4, 100), artifacts("c", 3, 100), artifacts("d", 1, 100)]
    assert [a.path.name for a in retention.choose(found, 30, 250, NOW)] == ["a", "b"]
    assert retention.choose(found, 30, None, NOW) == []


def test_prune_removes_directories_never_rows(tmp_path):
    store = Store(tmp_path / "results")
    for index, sha in enumerate(["a" * 40, "b" * 40]):
        store.add_commit(Commit(sha=sha, subject=f"commit {index}", author_date="2026-11-01T00:00:00+00:00"))
        directory = store.artifacts_dir(sha, "riscv-gcc-defconfig+kvm")
        directory.mkdir(parents=True)
        (directory / "build.log").write_text("x" * 1000)
        store.add_build(
            BuildResult(cell_id="riscv-gcc-defconfig+kvm", sha=sha, status=Status.PASS, definition="d", artifacts_dir=str(directory))
        )
    store.db.execute("UPDATE builds SET finished = '2026-09-01T00:00:00+00:00' WHERE sha = ?", ("a" * 40,))
    rows_before = store.db.execute("SELECT COUNT(*) FROM builds").fetchone()[0]

    pruned = retention.prune(store, keep_days=30, budget=None, now=NOW)

    assert pruned.paths == [store.artifacts_dir("a" * 40, "riscv-gcc-defconfig+kvm")]
    assert pruned.freed == 1000 and pruned.kept == 1000
    assert not (store.root / ("a" * 40)).exists()  # the commit's directory went with its last cell
    assert store.artifacts_dir("b" * 40, "riscv-gcc-defconfig+kvm").is_dir()
    assert store.db.execute("SELECT COUNT(*) FROM builds").fetchone()[0] == rows_before
    assert store.result("a" * 40, "riscv-gcc-defconfig+kvm", "d").status == Status.PASS


def test_prune_with_a_budget_of_nothing_empties_the_artifacts(tmp_path):
    store = Store(tmp_path / "results")
    sha = "c" * 40
    store.add_commit(Commit(sha=sha, subject="c", author_date="2026-11-01T00:00:00+00:00"))
    directory = store.artifacts_dir(sha, "x")
    directory.mkdir(parents=True)
    (directory / "build.log").write_text("log")
    store.add_build(BuildResult(cell_id="x", sha=sha, status=Status.PASS, definition="d", artifacts_dir=str(directory)))
    assert retention.prune(store, keep_days=30, budget=0).paths == [directory]
    assert store.builds(sha)[0].status == Status.PASS
