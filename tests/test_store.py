"""The results store: schema, one transaction per build, what counts as missing, prefix lookup."""

import json
import sqlite3
from pathlib import Path

import pytest

from orchestrator.errors import StoreError
from orchestrator.models import BuildResult, Cell, Commit, Diagnostic, FirstBad, Outcome, Status
from orchestrator.store import MIGRATIONS, Store, recover

STORED, RETRIED, KEPT_FINISHED = Outcome.STORED, Outcome.RETRIED, Outcome.KEPT_FINISHED

SHA = "50a4808780bcdabf6a6276e60c949c870344efc7"


def cell(cell_id: str, kconfig: str = "defconfig") -> Cell:
    return Cell(id=cell_id, arch="riscv", toolchain="gcc", kconfig=kconfig, fragments=(), targets=("config",), make_targets=())


def result(c: Cell, status: str = Status.PASS, **extra) -> BuildResult:
    return BuildResult(cell_id=c.id, sha=SHA, status=status, definition=c.definition, **extra)


def test_store_round_trips_a_build(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "Linux 6.1", "2022-12-11T14:15:00+00:00"))
    riscv = cell("riscv-gcc-defconfig")
    built = result(riscv, Status.FAIL, reason="x.c:1:2: error: boom", targets={"config": "PASS"}, errors=1, compiler="gcc 12")
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
        fingerprint="9d1610a71ffa2ae2", root_cause=True,
    )
    warning = Diagnostic("warning", "arch/riscv/kvm/vcpu.c", 3, None, "unused", option="-Wunused-variable")
    store.add_build(result(c, Status.FAIL, diagnostics=[error, warning]))
    assert store.builds(SHA)[0].diagnostics == [error, warning]  # the root cause marked as such
    store.add_build(result(c, Status.PASS))
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
    store.add_build(result(broken_infra, Status.INFRA, reason="riscv64-linux-gnu-gcc not found"))
    store.add_build(result(changed))
    changed_now = cell("changed", kconfig="tinyconfig")  # same id, new definition
    fresh = cell("fresh")
    assert [c.id for c in store.missing(SHA, [done, broken_infra, changed_now, fresh])] == ["infra", "changed", "fresh"]


def test_builds_shows_the_latest_result_of_each_cell(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    old, new, other = cell("a"), cell("a", kconfig="tinyconfig"), cell("b")
    store.add_build(result(old, Status.FAIL))
    store.add_build(result(other))
    store.add_build(result(new, Status.PASS))
    assert [(r.cell_id, r.definition, r.status) for r in store.builds(SHA)] == [
        ("b", other.definition, Status.PASS),
        ("a", new.definition, Status.PASS),
    ]
    assert store.result(SHA, "a", old.definition).status == Status.FAIL  # still there


def test_rebuilding_replaces_the_result(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    c = cell("a")
    store.add_build(result(c, Status.INFRA))
    store.add_build(result(c, Status.PASS))
    assert [r.status for r in store.builds(SHA)] == [Status.PASS]


def test_find_sha_by_unique_prefix(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    assert store.find_sha("50a48087") == SHA
    assert store.find_sha("HEAD") is None
    assert store.find_sha("50a") is None  # too short to trust


def test_a_file_that_is_not_a_database_is_a_store_error_saying_how_to_recover(tmp_path):
    (tmp_path / "results.db").write_text("not a database")
    with pytest.raises(StoreError) as caught:
        Store(tmp_path)
    assert str(caught.value).endswith(
        "results.db: is damaged (file is not a database); recover what can still be read, or move it aside to start a new store"
    )
    assert caught.value.topic == "damaged"  # the command line names `orchestrate recover`


def test_newer_schema_is_refused_and_left_alone(tmp_path):
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "results.db")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        Store(tmp_path)


def test_a_branchs_last_nightly_tip_is_the_latest_recorded(tmp_path):
    store = Store(tmp_path)
    assert store.last_nightly_tip("kvm", "next") is None
    store.record_nightly("kvm", "next", "https://example.invalid/kvm.git", None, "a" * 40, "first nightly")
    store.record_nightly("kvm", "next", "https://example.invalid/kvm.git", "a" * 40, "b" * 40, "new commits")
    store.record_nightly("kvm", "queue", "https://example.invalid/kvm.git", None, "c" * 40, "first nightly")
    assert store.last_nightly_tip("kvm", "next") == "b" * 40
    assert store.last_nightly_tip("kvm", "queue") == "c" * 40


# --- attempts, artifacts and the store's own faults -------------------------------------------------


def partial(store: Store, c: Cell, log: str) -> Path:
    """An artifacts directory as a build leaves it: <cell>.partial, with a reproducer naming it."""
    path = store.artifacts_dir(SHA, c.id).with_name(c.id + ".partial")
    (path / "fragments").mkdir(parents=True)
    (path / "build.log").write_text(log)
    (path / "reproducer.sh").write_text(f"#!/bin/sh\nexec tuxmake --kconfig-add={path}/fragments/0-kvm.config\n")
    (path / "metadata.json").write_text(json.dumps({"build": {"reproducer_cmdline": [f"--kconfig-add={path}/fragments/0-kvm.config"]}}))
    return path


def test_a_finished_result_moves_its_artifacts_into_place_and_names_them_there(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    c = cell("a")
    built = store.publish(result(c, Status.PASS), partial(store, c, "passed\n"))
    final = tmp_path / SHA / "a"
    assert built.artifacts_dir == f"{SHA}/a" and (final / "build.log").read_text() == "passed\n"
    assert not final.with_name("a.partial").exists()
    assert str(final / "fragments" / "0-kvm.config") in (final / "reproducer.sh").read_text()
    assert ".partial" not in (final / "reproducer.sh").read_text() + (final / "metadata.json").read_text()
    assert store.attempts(SHA, "a")[0].outcome == STORED


def test_an_infrastructure_error_never_replaces_a_finished_result_or_its_artifacts(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    c = cell("a")
    store.publish(result(c, Status.FAIL, reason="x.c:1: error: boom"), partial(store, c, "the commit's error\n"))
    kept = store.publish(result(c, Status.INFRA, reason="no space left on device"), partial(store, c, "disk full\n"))
    assert (kept.status, kept.reason) == (Status.FAIL, "x.c:1: error: boom")
    assert (tmp_path / SHA / "a" / "build.log").read_text() == "the commit's error\n"
    assert (tmp_path / SHA / "a.infra" / "build.log").read_text() == "disk full\n"
    assert [(a.status, a.outcome) for a in store.attempts(SHA, "a")] == [(Status.FAIL, STORED), (Status.INFRA, KEPT_FINISHED)]
    assert [r.status for r in store.builds(SHA)] == [Status.FAIL]


def test_a_retried_infrastructure_error_is_recorded_and_the_next_attempt_is_the_result(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    c = cell("a")
    store.publish(result(c, Status.INFRA, reason="make was killed"), partial(store, c, "killed\n"), retrying=True)
    assert store.builds(SHA) == []
    store.publish(result(c, Status.PASS), partial(store, c, "passed\n"))
    assert [(a.status, a.outcome) for a in store.attempts(SHA, "a")] == [(Status.INFRA, RETRIED), (Status.PASS, STORED)]
    assert [r.status for r in store.builds(SHA)] == [Status.PASS]


def test_absolute_artifact_paths_of_an_older_store_become_relative(tmp_path):
    old = sqlite3.connect(tmp_path / "results.db")
    for script in MIGRATIONS[:4]:
        old.executescript(script)
    old.execute("INSERT INTO commits VALUES (?, 's', 'd')", (SHA,))
    old.execute(
        "INSERT INTO builds (sha, cell, definition, status, reason, targets, duration, runtime, compiler, errors, "
        "warnings, artifacts_dir, finished) VALUES (?, 'a', 'd', 'pass', '', '{}', 1, 'null', '', 0, 0, ?, 'now')",
        (SHA, f"/somewhere/else/results/{SHA}/a"),
    )
    old.execute("PRAGMA user_version = 4")
    old.commit()
    old.close()
    assert Store(tmp_path).builds(SHA)[0].artifacts_dir == f"{SHA}/a"


def test_recover_copies_what_can_be_read_and_keeps_the_damaged_file(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "Linux 6.1", "d"))
    store.add_build(result(cell("a"), Status.PASS))
    store.close()
    with open(tmp_path / "results.db", "r+b") as db:
        db.seek(8192)  # the commits table's index: the rows themselves are intact
        db.write(b"\xde\xad\xbe\xef" * 256)
    with pytest.raises(StoreError, match="is damaged"):
        Store(tmp_path).commit(SHA)
    recovered = recover(tmp_path)
    assert recovered.lost == () and recovered.damaged.name.startswith("results.db.damaged-")
    assert [r.cell_id for r in Store(tmp_path).builds(SHA)] == ["a"]


STORES = Path(__file__).resolve().parent / "data" / "stores"


@pytest.mark.parametrize("version", [1, 2, 3, 4, 6, 7])
def test_a_store_of_every_earlier_schema_migrates_and_reads_back(tmp_path, version):
    db = sqlite3.connect(tmp_path / "results.db")
    db.executescript((STORES / f"schema-{version}.sql").read_text())
    db.close()
    store = Store(tmp_path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    (result,) = store.builds(SHA)
    assert (result.cell_id, result.status, result.targets["make:arch/riscv/kvm/"]) == ("riscv-gcc-defconfig+kvm", Status.FAIL, "FAIL")
    assert result.artifacts_dir == f"{SHA}/riscv-gcc-defconfig+kvm"  # absolute before: relative now
    assert store.commit(SHA).subject == "Linux from linux-source-6.1.tar.xz"
    if version >= 2:
        assert [d.message for d in result.diagnostics] == ["'struct <anonymous>' has no member named 'flags'"]
    if version >= 3:
        assert store.last_nightly_tip("demo", "master") == SHA
    before = [STORED] if version >= 6 else []  # no attempts were recorded before version 6
    assert [a.outcome for a in store.attempts(SHA, "riscv-gcc-defconfig+kvm")] == before
    store.publish(result, None)  # and it takes new ones
    assert [a.outcome for a in store.attempts(SHA, "riscv-gcc-defconfig+kvm")] == [*before, STORED]
    if version < 7:
        assert store.commit(SHA).author == ""  # not kept before version 7: empty, and filled when built again
    else:
        assert store.commit(SHA).author == "Linus Torvalds <torvalds@linux-foundation.org>"
    assert store.first_bad([SHA]) == []  # no bisection was kept before version 8


def test_a_commits_attribution_is_kept(tmp_path):
    commit = Commit(SHA, "KVM: x86: a fix", "2022-04-21T00:50:12+00:00", "Peter G <peter@g.invalid>", "2022-05-03T10:00:00+00:00",
                    (("Reported-by", "Some One <some@one.invalid>"), ("Link", "https://lore.kernel.org/r/x")))  # fmt: skip
    Store(tmp_path).add_commit(commit)
    assert Store(tmp_path).commit(SHA) == commit and Store(tmp_path).commits([SHA]) == {SHA: commit}


def test_what_a_bisection_found_is_kept_by_the_commit_where_the_regression_was_seen(tmp_path):
    good, bad, tip = "a" * 40, "b" * 40, "c" * 40
    store = Store(tmp_path)
    store.add_commit(Commit(bad, "KVM: x86: the change", "2022-04-21T00:50:12+00:00", "Peter G <peter@g.invalid>"))
    answer = FirstBad(["arm64-gcc", "arm64-clang"], ["f1"], good, [bad], 3, tip=tip)
    store.add_first_bad(answer)
    store.add_first_bad(FirstBad(["riscv-gcc"], ["f2"], good, [good, bad], 2, tip=tip))
    [arm64, riscv] = Store(tmp_path).first_bad([tip, "d" * 40])
    assert (arm64.cells, arm64.fingerprints, arm64.good, arm64.candidates, arm64.builds, arm64.tip) == (answer.cells, ["f1"], good, [bad], 3, tip)
    assert arm64.commits[bad].author == "Peter G <peter@g.invalid>" and good not in riscv.commits  # known commits only
    store.add_first_bad(FirstBad(["arm64-gcc", "arm64-clang"], ["f1"], good, [bad], 0, tip=tip))  # bisected again
    assert [a.builds for a in store.first_bad([tip])] == [2, 0]  # the latest answer replaced the earlier
    assert store.first_bad(["d" * 40]) == []


def test_artifacts_that_cannot_be_moved_in_leave_the_old_ones_in_place(tmp_path):
    store = Store(tmp_path)
    store.add_commit(Commit(SHA, "s", "d"))
    c = cell("a")
    store.publish(result(c, Status.PASS), partial(store, c, "old\n"))
    gone = tmp_path / "never-built"  # a partial directory that is not there: the move in fails
    with pytest.raises(StoreError, match="cannot move artifacts into"):
        store.publish(result(c, Status.FAIL), gone)
    assert (tmp_path / SHA / "a" / "build.log").read_text() == "old\n"
    assert [r.status for r in store.builds(SHA)] == [Status.PASS]  # and the row was rolled back with it


def test_a_reused_result_keeps_the_commit_that_built_it_and_its_input_set(tmp_path):
    store = Store(tmp_path)
    built, reused, failed = "a" * 40, "b" * 40, "c" * 40
    for sha in (built, reused, failed):
        store.add_commit(Commit(sha, "s", "2022-12-11T14:15:00+00:00"))
    read = frozenset({"arch/riscv/kvm/vcpu.c", "include/uapi/"})
    store.add_build(BuildResult("riscv", built, Status.PASS, definition="d", inputs=read))
    store.add_build(BuildResult("riscv", reused, Status.PASS, definition="d", inputs=read, reused_from=built))
    store.add_build(BuildResult("riscv", failed, Status.FAIL, definition="d"))  # a failure records none
    assert store.result(reused, "riscv", "d").reused_from == built and not store.result(built, "riscv", "d").reused
    assert store.inputs_of(reused, "riscv", "d") == read and store.inputs_of(failed, "riscv", "d") is None
    assert store.with_inputs("riscv", "d") == {built, reused} and store.with_inputs("riscv", "other") == set()


def _structure(db: sqlite3.Connection) -> dict:
    """Each table's columns (name, type, not null, default, primary key), foreign keys, and indexes
    (unique or not, their columns; the ones SQLite makes for UNIQUE too)."""

    def indexes(table: str) -> list:
        listed = db.execute(f"PRAGMA index_list({table})").fetchall()
        return sorted((bool(unique), [row[2] for row in db.execute(f"PRAGMA index_info('{name}')")]) for _, name, unique, *_ in listed)

    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {
        table: {
            "columns": [tuple(row[1:]) for row in db.execute(f"PRAGMA table_info({table})")],
            "foreign keys": [tuple(row[2:5]) for row in db.execute(f"PRAGMA foreign_key_list({table})")],
            "indexes": indexes(table),
        }
        for table in tables
    }


def test_replaying_the_migrations_gives_exactly_the_schema_file(tmp_path):
    """orchestrator/schema.sql is the schema to read; the migrations are what makes and upgrades stores."""
    Store(tmp_path / "migrated")
    migrated = sqlite3.connect(tmp_path / "migrated" / "results.db")
    written = sqlite3.connect(":memory:")
    written.executescript((Path(__file__).resolve().parent.parent / "orchestrator" / "schema.sql").read_text())
    assert _structure(written) == _structure(migrated)
