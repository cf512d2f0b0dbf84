"""The results store: schema, one transaction per build, what counts as missing, prefix lookup."""

import sqlite3

import pytest

from orchestrator.models import FAIL, INFRA, PASS, BuildResult, Cell, Commit, Diagnostic, InputError
from orchestrator.store import MIGRATIONS, Store

SHA = "50a4808780bcdabf6a6276e60c949c870344efc7"


def cell(cell_id: str, kconfig: str = "defconfig") -> Cell:
    return Cell(id=cell_id, arch="riscv", toolchain="gcc", kconfig=kconfig, fragments=(), targets=("config",), make_targets=())


def result(c: Cell, status: str = PASS, **extra) -> BuildResult:
    return BuildResult(cell_id=c.id, sha=SHA, status=status, definition=c.definition, **extra)


def test_store_round_trips_a_build(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "Linux 6.1", "2022-12-11T14:15:00+00:00"))
    riscv = cell("riscv-gcc-defconfig")
    built = result(riscv, FAIL, reason="x.c:1:2: error: boom", targets={"config": "PASS"}, errors=1, compiler="gcc 12")
    store.add_build(built, store.start_run("orchestrate --commit HEAD", "/tree"))
    assert store.builds(SHA) == [built]
    assert store.commit(SHA) == Commit(SHA, "Linux 6.1", "2022-12-11T14:15:00+00:00")


def test_diagnostics_are_stored_with_their_build_and_replaced_with_it(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    c = cell("riscv-gcc-defconfig+kvm")
    error = Diagnostic(
        "error", "arch/riscv/kvm/vcpu_sbi.c", 87, 26, "'struct <anonymous>' has no member named 'flags'",
        function="kvm_riscv_vcpu_sbi_system_reset", include_chain=["include/linux/kvm_host.h:45"],
        excerpt=["   87 |  run->system_event.flags = 1;", "      |                   ^"], notes=["n"], count=2,
        fingerprint="9d1610a71ffa2ae2",
    )
    warning = Diagnostic("warning", "arch/riscv/kvm/vcpu.c", 3, None, "unused", option="-Wunused-variable")
    store.add_build(result(c, FAIL, diagnostics=[error, warning]))
    assert store.builds(SHA)[0].diagnostics == [error, warning]
    store.add_build(result(c, PASS))
    assert store.builds(SHA)[0].diagnostics == []
    assert store.db.execute("SELECT COUNT(*) FROM diagnostics").fetchone()[0] == 0


def test_a_relative_results_directory_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store("results")
    assert store.artifacts_dir(SHA, "a") == tmp_path / "results" / SHA / "a"


def test_database_is_wal_and_versioned(tmp_path):
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "results.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_each_build_is_durable_before_the_run_ends(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    store.add_build(result(cell("a")))
    # A second connection (another process, or the next run after a kill) sees it at once.
    assert [r.cell_id for r in Store(tmp_path).builds(SHA)] == ["a"]


def test_missing_cells_are_those_without_a_result_of_their_definition(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    done, broken_infra, changed = cell("done"), cell("infra"), cell("changed")
    store.add_build(result(done))
    store.add_build(result(broken_infra, INFRA, reason="riscv64-linux-gnu-gcc not found"))
    store.add_build(result(changed))
    changed_now = cell("changed", kconfig="tinyconfig")  # same id, new definition
    fresh = cell("fresh")
    assert [c.id for c in store.missing(SHA, [done, broken_infra, changed_now, fresh])] == ["infra", "changed", "fresh"]


def test_builds_shows_the_latest_result_of_each_cell(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    old, new, other = cell("a"), cell("a", kconfig="tinyconfig"), cell("b")
    store.add_build(result(old, FAIL))
    store.add_build(result(other))
    store.add_build(result(new, PASS))
    assert [(r.cell_id, r.definition, r.status) for r in store.builds(SHA)] == [
        ("b", other.definition, PASS),
        ("a", new.definition, PASS),
    ]
    assert store.result(SHA, "a", old.definition).status == FAIL  # still there


def test_rebuilding_replaces_the_result(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    c = cell("a")
    store.add_build(result(c, INFRA))
    store.add_build(result(c, PASS))
    assert [r.status for r in store.builds(SHA)] == [PASS]


def test_find_sha_by_unique_prefix(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    assert store.find_sha("50a48087") == SHA
    assert store.find_sha("HEAD") is None
    assert store.find_sha("50a") is None  # too short to trust


def test_unusable_store_is_an_input_error(tmp_path):
    (tmp_path / "results.db").write_text("not a database")
    with pytest.raises(InputError, match="results.db: cannot open the results store"):
        Store(tmp_path)


def test_newer_schema_is_refused_and_left_alone(tmp_path):
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "results.db")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="schema version 99 is newer"):
        Store(tmp_path)


def test_a_branchs_last_nightly_tip_is_the_latest_recorded(tmp_path):
    store = Store(tmp_path)
    assert store.last_nightly_tip("kvm", "next") is None
    store.record_nightly("kvm", "next", "https://example.invalid/kvm.git", None, "a" * 40, "first nightly")
    store.record_nightly("kvm", "next", "https://example.invalid/kvm.git", "a" * 40, "b" * 40, "new commits")
    store.record_nightly("kvm", "queue", "https://example.invalid/kvm.git", None, "c" * 40, "first nightly")
    assert store.last_nightly_tip("kvm", "next") == "b" * 40
    assert store.last_nightly_tip("kvm", "queue") == "c" * 40
