"""The results store: SQLite at <results>/results.db (WAL), artifacts on disk beside it.

Each finished build is committed in its own transaction, so an interrupted run keeps every build
that finished. A build is keyed by (commit, cell, cell definition): when a cell's definition changes
its old results stay, but no longer count as that cell's result.

Every attempt is recorded (`attempts`); an infrastructure error never replaces a finished (pass or
fail) result, and its artifacts never replace the finished result's. Artifact paths are stored
relative to the results directory, so a copied or moved store still finds them. A read-only store
(an archive, a read-only mount) can be shown and reported. Every SQLite failure becomes one
StoreError saying what to do: a damaged database, a full disk, a read-only one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import inputs, safefile
from .errors import StoreError
from .models import Attempt, BuildResult, Commit, Diagnostic, FirstBad, Outcome, Status

DB_NAME = "results.db"
STATUSES = {status.value: status for status in Status}  # a stored value → its Status (a dict beats Status(value) ×30,000)

# Each entry moves the schema from version N to N+1; never edit one that has shipped. What they add up
# to, to read: schema.sql beside this file (a new migration updates it; tests/test_store.py compares).
MIGRATIONS = [
    """
    CREATE TABLE commits (
        sha TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        author_date TEXT NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT,
        command TEXT NOT NULL,
        tree TEXT NOT NULL
    );
    CREATE TABLE builds (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        sha TEXT NOT NULL REFERENCES commits(sha),
        cell TEXT NOT NULL,
        definition TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        targets TEXT NOT NULL,
        duration REAL NOT NULL,
        runtime TEXT NOT NULL,
        compiler TEXT NOT NULL,
        errors INTEGER NOT NULL,
        warnings INTEGER NOT NULL,
        artifacts_dir TEXT NOT NULL,
        finished TEXT NOT NULL,
        UNIQUE (sha, cell, definition)
    );
    CREATE INDEX builds_by_cell ON builds (cell, sha);
    """,
    """
    CREATE TABLE diagnostics (
        id INTEGER PRIMARY KEY,
        build_id INTEGER NOT NULL REFERENCES builds(id),
        position INTEGER NOT NULL,
        severity TEXT NOT NULL,
        file TEXT NOT NULL,
        line INTEGER,
        col INTEGER,
        message TEXT NOT NULL,
        option TEXT NOT NULL,
        tool TEXT NOT NULL,
        function TEXT NOT NULL,
        include_chain TEXT NOT NULL,
        excerpt TEXT NOT NULL,
        notes TEXT NOT NULL,
        count INTEGER NOT NULL,
        fingerprint TEXT NOT NULL
    );
    CREATE INDEX diagnostics_by_build ON diagnostics (build_id, position);
    CREATE INDEX diagnostics_by_fingerprint ON diagnostics (fingerprint);
    """,
    """
    CREATE TABLE nightly_branches (
        id INTEGER PRIMARY KEY,
        tree TEXT NOT NULL,
        branch TEXT NOT NULL,
        source TEXT NOT NULL,
        previous_tip TEXT,
        tip TEXT NOT NULL,
        state TEXT NOT NULL,
        finished TEXT NOT NULL
    );
    CREATE INDEX nightly_by_branch ON nightly_branches (tree, branch, id);
    """,
    """
    ALTER TABLE builds ADD COLUMN image TEXT NOT NULL DEFAULT '';
    """,
    # Artifact paths relative to the results directory (they were absolute): results/<sha>/<cell>.
    """
    UPDATE builds SET artifacts_dir = sha || '/' || cell WHERE artifacts_dir != '';
    """,
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        sha TEXT NOT NULL,
        cell TEXT NOT NULL,
        definition TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        duration REAL NOT NULL,
        runtime TEXT NOT NULL,
        artifacts_dir TEXT NOT NULL,
        outcome TEXT NOT NULL,
        finished TEXT NOT NULL
    );
    CREATE INDEX attempts_by_cell ON attempts (sha, cell);
    """,
    # Who made a commit, when it was committed, and its Link:/Reported-by: trailers (JSON pairs).
    """
    ALTER TABLE commits ADD COLUMN author TEXT NOT NULL DEFAULT '';
    ALTER TABLE commits ADD COLUMN committer_date TEXT NOT NULL DEFAULT '';
    ALTER TABLE commits ADD COLUMN trailers TEXT NOT NULL DEFAULT '[]';
    """,
    # Where bisections found regressions began: the commit where one was seen (tip), the cells and new
    # fingerprints it had there, the last good commit, the candidates (the first bad commit, or a range
    # ending at the first commit known bad: `bad`); JSON lists.
    """
    CREATE TABLE first_bad (
        id INTEGER PRIMARY KEY,
        tip TEXT NOT NULL,
        bad TEXT NOT NULL,
        cells TEXT NOT NULL,
        fingerprints TEXT NOT NULL,
        good TEXT NOT NULL,
        candidates TEXT NOT NULL,
        builds INTEGER NOT NULL,
        finished TEXT NOT NULL
    );
    CREATE INDEX first_bad_by_tip ON first_bad (tip);
    CREATE INDEX first_bad_by_bad ON first_bad (bad);
    """,
    # The error that ended the build, among a failed build's diagnostics (1); 0 for every other one. And
    # which version of the log parser made a build's diagnostics: 1 for every one stored before.
    """
    ALTER TABLE diagnostics ADD COLUMN root_cause INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE builds ADD COLUMN parser INTEGER NOT NULL DEFAULT 1;
    """,
    # The files a passing build read (inputs.pack: gzip of sorted tree-relative paths); NULL: not recorded.
    """
    ALTER TABLE builds ADD COLUMN inputs BLOB;
    """,
    # The commit whose build a result is when it was reused (no input of the cell changed since); '': built.
    """
    ALTER TABLE builds ADD COLUMN reused_from TEXT NOT NULL DEFAULT '';
    """,
    # A finding the matrix's accepted file lists (1): counted and shown as known, never judged.
    """
    ALTER TABLE diagnostics ADD COLUMN known INTEGER NOT NULL DEFAULT 0;
    """,
    # The tool's own word for the severity ("fatal error"), and the program that said it when no file is named.
    """
    ALTER TABLE diagnostics ADD COLUMN label TEXT NOT NULL DEFAULT '';
    ALTER TABLE diagnostics ADD COLUMN program TEXT NOT NULL DEFAULT '';
    """,
]

READ_ONLY = "is read-only: show and report work, building needs a writable results directory"



def default_results_dir() -> Path:
    return Path(os.environ.get("ORCHESTRATOR_RESULTS", "results"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, results_dir: Path | str, create: bool = True):
        """The store in `results_dir`. With `create` off (commands that only read), a directory without
        one is an empty, read-only store held in memory: nothing is left where they looked."""
        # Absolute: tuxmake takes artifact paths relative to its output dir, so a relative one doubles.
        self.root = Path(results_dir).absolute()
        self.path = self.root / DB_NAME
        for path in (self.path, self.path.with_name(DB_NAME + "-wal"), self.path.with_name(DB_NAME + "-shm")):
            if path.is_symlink():  # SQLite would write through it
                raise StoreError(f"{path.name} is a symbolic link, not a database orchestrate made; remove it", path=self.path)
        absent = not create and not self.path.is_file()
        self.read_only = not absent and not _writable(self.root, self.path)
        self.db = _Database(self._connect(":memory:" if absent else self.path), self.path)
        self._migrate()
        self.read_only = self.read_only or absent

    def _connect(self, database: Path | str) -> sqlite3.Connection:
        try:
            if self.read_only:
                if not self.path.is_file():
                    raise StoreError("does not exist, and its directory is read-only", path=self.path)
                return _open_read_only(self.path)
            if database != ":memory:":
                self.root.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(database, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            return db
        except OSError as error:
            raise StoreError(f"cannot be opened ({error.strerror})", path=self.path) from None
        except sqlite3.Error as error:
            raise _store_error(error, self.path) from None

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").rows[0][0]
        if version > len(MIGRATIONS):
            raise StoreError(f"schema version {version} is newer than this orchestrator knows; upgrade it", path=self.path)
        if version < len(MIGRATIONS) and self.read_only:
            raise StoreError(
                f"was written by an older orchestrator (schema {version}) and is read-only, so it cannot be "
                "upgraded; copy the results directory somewhere writable",
                path=self.path,
            )
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in _statements(MIGRATIONS[number]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def require_writable(self) -> None:
        """Before building into the store: a read-only one is said to be so, once, up front."""
        if self.read_only:
            raise StoreError(READ_ONLY, path=self.path)

    # --- paths ---------------------------------------------------------------------------------

    def artifacts_dir(self, sha: str, cell_id: str) -> Path:
        return self.inside(self.root / sha / cell_id)

    def artifacts_path(self, relative: str) -> Path | None:
        """Where a stored artifacts directory is now (None when none was kept)."""
        return self.root / relative if relative else None

    def cell_lock(self, sha: str, cell_id: str) -> Path:
        """The lock of one cell of one commit: whoever holds it is building it into this store."""
        return self.inside(self.root / sha / f"{cell_id}.lock")

    def inside(self, path: Path) -> Path:
        """`path`, which must lie in the results directory once its links are resolved: a commit's
        directory that is a symlink (planted, or copied in with a store) must not take writes elsewhere."""
        if not safefile.is_inside(self.root, path):
            raise StoreError(f"{path} leads outside the results directory (a symbolic link?); remove it", path=self.path)
        return path

    # --- writes --------------------------------------------------------------------------------

    def add_commit(self, commit: Commit) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO commits (sha, subject, author_date, author, committer_date, trailers) VALUES (?, ?, ?, ?, ?, ?)",
                (commit.sha, commit.subject, commit.author_date, commit.author, commit.committer_date, json.dumps(commit.trailers)),
            )

    def add_first_bad(self, answer: FirstBad) -> None:
        """Store what a bisection found, replacing an earlier answer for the same regression."""
        key = (answer.tip, json.dumps(answer.cells), json.dumps(answer.fingerprints))
        with self.transaction():
            self.db.execute("DELETE FROM first_bad WHERE tip = ? AND cells = ? AND fingerprints = ?", key)
            self.db.execute(
                "INSERT INTO first_bad (tip, cells, fingerprints, bad, good, candidates, builds, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, answer.candidates[-1], answer.good, json.dumps(answer.candidates), answer.builds, _now()),
            )

    def start_run(self, command: str, tree: str) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (started, command, tree) VALUES (?, ?, ?)", (_now(), command, tree)
            )
        assert cursor.lastrowid is not None  # an INSERT names its row
        return cursor.lastrowid

    def finish_run(self, run_id: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET finished = ? WHERE id = ?", (_now(), run_id))

    def publish(
        self, result: BuildResult, partial: Path | None, run_id: int | None = None, retrying: bool = False
    ) -> BuildResult:
        """Store one attempt of a cell and move its artifacts (built in `partial`; None: nothing worth
        keeping) into place, in one transaction; returns the cell's result after it.

        A finished attempt (or an infrastructure error where nothing finished is stored) becomes the
        result, its artifacts replacing the old ones only as the transaction commits. An infrastructure
        error being retried, or arriving over a stored pass/fail, is only recorded; its artifacts go to
        `<cell>.infra/` for a look."""
        stored = self.result(result.sha, result.cell_id, result.definition)
        keeps_finished = result.status == Status.INFRA and stored is not None and stored.status in (Status.PASS, Status.FAIL)
        becomes_result = not retrying and not keeps_finished
        outcome = Outcome.STORED if becomes_result else Outcome.RETRIED if retrying else Outcome.KEPT_FINISHED
        final = self.artifacts_dir(result.sha, result.cell_id)
        target = final if becomes_result else final.with_name(final.name + ".infra")
        result.artifacts_dir = str(target.relative_to(self.root)) if partial is not None else ""
        swapped: _Swap | None = None
        try:
            with self.transaction():
                self.db.execute(
                    """INSERT INTO attempts (run_id, sha, cell, definition, status, reason, duration, runtime,
                           artifacts_dir, outcome, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (run_id, result.sha, result.cell_id, result.definition, result.status, result.reason,
                     result.duration, result.runtime, result.artifacts_dir, outcome, _now()),
                )
                if becomes_result:
                    self._write_build(result, run_id)
                if partial is not None:
                    swapped = _Swap(partial, target)  # last before COMMIT: undone if the commit fails
        except BaseException:
            if swapped is not None:
                swapped.undo()
            raise
        if swapped is not None:
            swapped.done()
        return result if becomes_result else stored or result

    def add_build(self, result: BuildResult, run_id: int | None = None) -> None:
        """Store one finished build and its diagnostics at once, replacing an earlier result of the same definition."""
        with self.transaction():
            self._write_build(result, run_id)

    def _write_build(self, result: BuildResult, run_id: int | None) -> None:
        key = (result.sha, result.cell_id, result.definition)
        self.db.execute(
            "DELETE FROM diagnostics WHERE build_id IN (SELECT id FROM builds WHERE sha = ? AND cell = ? AND definition = ?)",
            key,
        )
        self.db.execute("DELETE FROM builds WHERE sha = ? AND cell = ? AND definition = ?", key)
        cursor = self.db.execute(
            """INSERT INTO builds (run_id, sha, cell, definition, status, reason, targets,
                   duration, runtime, image, compiler, errors, warnings, artifacts_dir, finished, parser, inputs, reused_from)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                run_id,
                result.sha,
                result.cell_id,
                result.definition,
                result.status,
                result.reason,
                json.dumps(result.targets),
                result.duration,
                result.runtime,
                result.image,
                result.compiler,
                result.errors,
                result.warnings,
                result.artifacts_dir,
                _now(),
                result.parser,
                inputs.pack(result.inputs) if result.inputs else None,
                result.reused_from,
            ),
        )
        self._insert_diagnostics(cursor.lastrowid, result.diagnostics)

    def _insert_diagnostics(self, build_id: int | None, diagnostics: list[Diagnostic]) -> None:
        self.db.executemany(
            """INSERT INTO diagnostics (build_id, position, severity, file, line, col, message, option, tool,
                   function, include_chain, excerpt, notes, count, fingerprint, root_cause, known, label, program)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    build_id,
                    position,
                    d.severity,
                    d.file,
                    d.line,
                    d.column,
                    d.message,
                    d.option,
                    d.tool,
                    d.function,
                    json.dumps(d.include_chain),
                    json.dumps(d.excerpt),
                    json.dumps(d.notes),
                    d.count,
                    d.fingerprint,
                    int(d.root_cause),
                    int(d.known),
                    d.label,
                    d.program,
                )
                for position, d in enumerate(diagnostics)
            ],
        )

    def inputs_of(self, sha: str, cell_id: str, definition: str) -> frozenset[str] | None:
        """The files the stored result's build read; None when none were recorded (not a pass, or older)."""
        row = self.db.execute(
            "SELECT inputs FROM builds WHERE sha = ? AND cell = ? AND definition = ?", (sha, cell_id, definition)
        ).fetchone()
        return inputs.unpack(row["inputs"]) if row is not None and row["inputs"] is not None else None

    def stale_builds(self, version: int) -> list[tuple[int, str, str]]:
        """(id, cell, artifacts directory) of the results whose diagnostics an older parser made."""
        rows = self.db.execute("SELECT id, cell, artifacts_dir FROM builds WHERE parser > 0 AND parser < ?", (version,)).fetchall()
        return [(row["id"], row["cell"], row["artifacts_dir"]) for row in rows]

    def reparsed(self, build_id: int, version: int, diagnostics: list[Diagnostic] | None) -> None:
        """A stale result's diagnostics as `version` of the parser makes them (None: keep them, as
        when its log is gone, or version 0: it never came from a log)."""
        with self.transaction():
            if diagnostics is not None:
                self.db.execute("DELETE FROM diagnostics WHERE build_id = ?", (build_id,))
                self._insert_diagnostics(build_id, diagnostics)
            self.db.execute("UPDATE builds SET parser = ? WHERE id = ?", (version, build_id))

    def record_nightly(self, tree: str, branch: str, source: str, previous_tip: str | None, tip: str, state: str) -> None:
        """A branch's nightly is done: `tip` becomes the baseline of its next nightly."""
        with self.transaction():
            self.db.execute(
                """INSERT INTO nightly_branches (tree, branch, source, previous_tip, tip, state, finished)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (tree, branch, source, previous_tip, tip, state, _now()),
            )

    # --- reads ---------------------------------------------------------------------------------

    def last_nightly_tip(self, tree: str, branch: str) -> str | None:
        row = self.db.execute(
            "SELECT tip FROM nightly_branches WHERE tree = ? AND branch = ? ORDER BY id DESC LIMIT 1", (tree, branch)
        ).fetchone()
        return row["tip"] if row else None

    def artifact_dirs(self) -> list[tuple[Path, str]]:
        """(artifacts directory, when the last build or attempt into it finished), oldest first."""
        rows = self.db.execute(
            """SELECT artifacts_dir, MAX(finished) AS finished FROM
                   (SELECT artifacts_dir, finished FROM builds UNION ALL SELECT artifacts_dir, finished FROM attempts)
               WHERE artifacts_dir != '' GROUP BY artifacts_dir ORDER BY finished, artifacts_dir"""
        )
        return [(self.root / row["artifacts_dir"], row["finished"]) for row in rows]

    def attempts(self, sha: str, cell_id: str) -> list[Attempt]:
        """Every attempt at a cell of a commit, oldest first."""
        rows = self.db.execute(
            "SELECT status, reason, outcome, finished, artifacts_dir FROM attempts WHERE sha = ? AND cell = ? ORDER BY id",
            (sha, cell_id),
        )
        return [
            Attempt(STATUSES[row["status"]], row["reason"], Outcome(row["outcome"]), row["finished"], row["artifacts_dir"])
            for row in rows
        ]

    def commit(self, sha: str) -> Commit | None:
        row = self.db.execute("SELECT * FROM commits WHERE sha = ?", (sha,)).fetchone()
        return _commit(row) if row else None

    def commits(self, shas: list[str]) -> dict[str, Commit]:
        found = {}
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            rows = self.db.execute(f"SELECT * FROM commits WHERE sha IN ({','.join('?' * len(chunk))})", chunk)
            found.update({r["sha"]: _commit(r) for r in rows})
        return found

    def first_bad(self, shas: list[str]) -> list[FirstBad]:
        """What bisections found about regressions seen at `shas` or first known bad there, the
        candidates' commits filled in."""
        answers = []
        for start in range(0, len(shas), 400):
            chunk = shas[start : start + 400]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT * FROM first_bad WHERE tip IN ({marks}) OR bad IN ({marks}) ORDER BY id", chunk + chunk)
            answers += [
                FirstBad(json.loads(r["cells"]), json.loads(r["fingerprints"]), r["good"], json.loads(r["candidates"]), r["builds"], r["tip"])
                for r in rows
            ]
        named = self.commits(sorted({sha for answer in answers for sha in answer.candidates}))
        for answer in answers:
            answer.commits = {sha: named[sha] for sha in answer.candidates if sha in named}
        return answers

    def find_shas(self, rev: str) -> list[str]:
        """The stored commits a hex prefix (4 to 40 digits) names (at most 10)."""
        if not (4 <= len(rev) <= 40) or any(c not in "0123456789abcdef" for c in rev.lower()):
            return []
        rows = self.db.execute(
            "SELECT sha FROM commits WHERE sha >= ? AND sha < ? LIMIT 10", (rev.lower(), rev.lower() + "g")
        ).fetchall()
        return [row["sha"] for row in rows]

    def find_sha(self, rev: str) -> str | None:
        """The stored commit a hex prefix names, if exactly one does."""
        found = self.find_shas(rev)
        return found[0] if len(found) == 1 else None

    def builds(self, sha: str) -> list[BuildResult]:
        """The latest result of each cell for `sha` (results of older cell definitions are kept, not shown)."""
        rows = self.db.execute(
            "SELECT * FROM builds WHERE id IN (SELECT MAX(id) FROM builds WHERE sha = ? GROUP BY cell) ORDER BY id",
            (sha,),
        ).fetchall()
        return [self._with_diagnostics(row) for row in rows]

    def result(self, sha: str, cell_id: str, definition: str) -> BuildResult | None:
        row = self.db.execute(
            "SELECT * FROM builds WHERE sha = ? AND cell = ? AND definition = ?", (sha, cell_id, definition)
        ).fetchone()
        return self._with_diagnostics(row) if row else None

    def result_id(self, sha: str, cell_id: str, definition: str) -> int | None:
        """The row of a cell's result: it changes whenever another result is stored for it."""
        row = self.db.execute(
            "SELECT id FROM builds WHERE sha = ? AND cell = ? AND definition = ?", (sha, cell_id, definition)
        ).fetchone()
        return row["id"] if row else None

    def _with_diagnostics(self, row: sqlite3.Row) -> BuildResult:
        result = _result(row)
        rows = self.db.execute("SELECT * FROM diagnostics WHERE build_id = ? ORDER BY position", (row["id"],))
        result.diagnostics = [_diagnostic(d) for d in rows.fetchall()]
        return result

    def results_for(self, shas: list[str]) -> dict[tuple[str, str], BuildResult]:
        """(sha, cell) → the latest result of each cell, for many commits at once (two queries in all)."""
        found: dict[tuple[str, str], BuildResult] = {}
        by_id: dict[int, BuildResult] = {}
        for start in range(0, len(shas), 500):  # SQLite caps the number of bound parameters
            chunk = shas[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"""SELECT * FROM builds WHERE id IN
                    (SELECT MAX(id) FROM builds WHERE sha IN ({marks}) GROUP BY sha, cell)""",
                chunk,
            ).fetchall()
            for row in rows:
                result = _result(row)
                found[(result.sha, result.cell_id)] = by_id[row["id"]] = result
            ids = [row["id"] for row in rows]
            for id_start in range(0, len(ids), 500):
                id_chunk = ids[id_start : id_start + 500]
                marks = ",".join("?" * len(id_chunk))
                for row in self.db.execute(
                    f"SELECT * FROM diagnostics WHERE build_id IN ({marks}) ORDER BY build_id, position", id_chunk
                ):
                    by_id[row["build_id"]].diagnostics.append(_diagnostic(row))
        return found

    def finished_shas(self, cell_id: str, definition: str) -> set[str]:
        """Commits with a result of this cell definition that can serve as a baseline (pass or fail)."""
        rows = self.db.execute(
            "SELECT sha FROM builds WHERE cell = ? AND definition = ? AND status IN (?, ?)",
            (cell_id, definition, Status.PASS, Status.FAIL),
        )
        return {row["sha"] for row in rows}

    def with_inputs(self, cell_id: str, definition: str) -> set[str]:
        """Commits with a result of this cell definition whose input set was recorded: what a later
        commit's result may be reused from."""
        rows = self.db.execute(
            "SELECT sha FROM builds WHERE cell = ? AND definition = ? AND inputs IS NOT NULL AND status IN (?, ?)",
            (cell_id, definition, Status.PASS, Status.FAIL),
        )
        return {row["sha"] for row in rows}

    def missing(self, sha: str, cells: Iterable) -> list:
        """The cells with no usable result for `sha`; an infrastructure error is not a result."""
        wanted = []
        for cell in cells:
            found = self.result(sha, cell.id, cell.definition)
            if found is None or found.status == Status.INFRA:
                wanted.append(cell)
        return wanted


@dataclass(frozen=True)
class Recovered:
    damaged: Path  # where the damaged database was moved
    rows: int  # rows copied into the new store
    lost: tuple[str, ...]  # tables whose rows could not all be read


def recover(results_dir: Path | str) -> Recovered:
    """Copy what can still be read of a damaged results.db into a new one at the same place, table by
    table and row by row (a damaged page loses the rows on it, not the store); the damaged file is kept
    beside it as results.db.damaged-<time>. The schema version is carried over, so nothing migrates.

    The damaged file is read through a copy whose header is mended where it can be: a file cut short
    (its last pages lost) says it has more pages than it holds, and SQLite refuses all of it for that."""
    root = Path(results_dir).absolute()
    path = root / DB_NAME
    if not path.is_file():
        raise StoreError("does not exist; nothing to recover", path=path)
    fresh, reading = root / f"{DB_NAME}.recovering", root / f"{DB_NAME}.reading"
    for leftover in (fresh, reading, Path(f"{reading}-wal"), Path(f"{reading}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        shutil.copyfile(path, reading)
        if Path(f"{path}-wal").is_file():
            shutil.copyfile(f"{path}-wal", f"{reading}-wal")
        _mend_page_count(reading)
        source = sqlite3.connect(reading)
        target = sqlite3.connect(fresh, isolation_level=None)
        version = source.execute("PRAGMA user_version").fetchone()[0]
        schema = source.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type = 'index'").fetchall()
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"cannot be read at all ({error}); move it aside to start a new store", path=path) from None
    rows, lost = 0, []
    target.execute("BEGIN")
    for kind, name, sql in schema:
        target.execute(sql)
        if kind != "table":
            continue
        copied, met_damage = _copy_rows(source, target, name)
        rows += copied
        if met_damage:
            lost.append(name)
    target.execute("COMMIT")
    target.execute(f"PRAGMA user_version = {version}")
    target.close()
    source.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{reading}{suffix}").unlink(missing_ok=True)
    damaged = path.with_name(f"{DB_NAME}.damaged-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{damaged}{suffix}")
    os.replace(fresh, path)
    return Recovered(damaged, rows, tuple(lost))


def _mend_page_count(path: Path) -> None:
    """A database file cut short keeps the page count of its header (bytes 28-31), larger than the file:
    SQLite then calls every page malformed. Cut the file to whole pages and make the header say so."""
    with open(path, "r+b") as handle:
        header = handle.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            return
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = os.fstat(handle.fileno()).st_size // page_size
        if pages and int.from_bytes(header[28:32], "big") > pages:
            handle.truncate(pages * page_size)
            handle.seek(28)
            handle.write(pages.to_bytes(4, "big"))


def _copy_rows(source: sqlite3.Connection, target: sqlite3.Connection, table: str) -> tuple[int, bool]:
    """Copy the rows of `table` that can still be read, in rowid order, in batches that shrink to one
    row around a damaged page; past a row that cannot be read, the next one is sought ever further on
    (1, 2, 4, ... rowids), not given up. (rows copied, whether damage was met)."""
    copied, damaged, last, size = 0, False, -(2**63), 500
    while True:
        try:
            batch = source.execute(f'SELECT rowid, * FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?', (last, size)).fetchall()
        except sqlite3.DatabaseError:
            damaged = True
            if size > 1:
                size = 1  # read up to the damage row by row
                continue
            found = _next_readable(source, table, last)
            if found is None:
                return copied, damaged
            last = found
            continue
        if not batch:
            return copied, damaged
        target.executemany(f'INSERT INTO "{table}" VALUES ({",".join("?" * (len(batch[0]) - 1))})', (row[1:] for row in batch))
        copied, last, size = copied + len(batch), batch[-1][0], min(500, size * 2)


def _next_readable(source: sqlite3.Connection, table: str, last: int) -> int | None:
    """The rowid just before the first readable row found past the unreadable one after `last`."""
    for power in range(63):
        start = last + 2**power
        if start >= 2**63:
            break
        try:
            found = source.execute(f'SELECT rowid FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT 1', (start,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        return None if found is None else found[0] - 1
    return None


def _writable(root: Path, db: Path) -> bool:
    """Whether the store can be written: access() sees read-only mounts, even for root."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return False
    return not db.exists() or os.access(db, os.W_OK)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection. A WAL database in a read-only directory cannot make its shared-memory
    file, so SQLite opens it only as immutable (what a closed, copied store is)."""
    for mode in ("mode=ro", "immutable=1"):
        db = sqlite3.connect(f"{path.absolute().as_uri()}?{mode}", uri=True, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA user_version").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
    raise StoreError("cannot be opened read-only", path=path)


def _store_error(error: sqlite3.Error, path: Path) -> StoreError:
    """One line for what SQLite said, with what to do about it."""
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
        return StoreError(
            f"is damaged ({text}); recover what can still be read, or move it aside to start a new store",
            path=path,
            topic="damaged",
        )
    if "disk is full" in text or "disk I/O error" in text:
        return StoreError(f"the disk is full or failing ({text}); free space there and run again: every result stored before is kept", path=path)
    if "readonly" in text or "read-only" in text:
        return StoreError(f"{READ_ONLY} ({text})", path=path)
    if "locked" in text:
        return StoreError(f"is locked by another process ({text}); try again when it is done", path=path)
    return StoreError(text, path=path)


class _Database:
    """The connection, with every SQLite error turned into a StoreError (rows are read eagerly, so
    an error in the middle of a result set surfaces here too)."""

    def __init__(self, db: sqlite3.Connection, path: Path):
        self._db = db
        self._path = path

    def execute(self, sql: str, parameters: Iterable = ()) -> _Rows:
        try:
            cursor = self._db.execute(sql, tuple(parameters))
            return _Rows(cursor.fetchall(), cursor.lastrowid)
        except sqlite3.Error as error:
            raise _store_error(error, self._path) from None

    def executemany(self, sql: str, rows: list) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.Error as error:
            raise _store_error(error, self._path) from None

    def close(self) -> None:
        self._db.close()


class _Rows:
    def __init__(self, rows: list, lastrowid: int | None):
        self.rows = rows
        self.lastrowid = lastrowid

    def fetchone(self) -> sqlite3.Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list:
        return self.rows

    def __iter__(self) -> Iterator:
        return iter(self.rows)


def _commit(row: sqlite3.Row) -> Commit:
    trailers = tuple((key, value) for key, value in json.loads(row["trailers"]))
    return Commit(row["sha"], row["subject"], row["author_date"], row["author"], row["committer_date"], trailers)


def _result(row: sqlite3.Row) -> BuildResult:
    return BuildResult(
        cell_id=row["cell"],
        sha=row["sha"],
        status=STATUSES[row["status"]],
        definition=row["definition"],
        reason=row["reason"],
        targets={} if row["targets"] == "{}" else json.loads(row["targets"]),
        duration=row["duration"],
        runtime=row["runtime"],
        image=row["image"],
        compiler=row["compiler"],
        errors=row["errors"],
        warnings=row["warnings"],
        artifacts_dir=row["artifacts_dir"],
        parser=row["parser"],
        reused_from=row["reused_from"],
    )


def _diagnostic(row: sqlite3.Row) -> Diagnostic:
    return Diagnostic(
        severity=row["severity"],
        file=row["file"],
        line=row["line"],
        column=row["col"],
        message=row["message"],
        option=row["option"],
        tool=row["tool"],
        function=row["function"],
        include_chain=_json_list(row["include_chain"]),
        excerpt=_json_list(row["excerpt"]),
        notes=_json_list(row["notes"]),
        count=row["count"],
        fingerprint=row["fingerprint"],
        root_cause=bool(row["root_cause"]),
        known=bool(row["known"]),
        label=row["label"],
        program=row["program"],
    )


def _json_list(text: str) -> list:
    return [] if text == "[]" else json.loads(text)  # most are empty: a report loads tens of thousands


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, db: _Database):
        self.db = db

    def __enter__(self) -> _Database:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
            except StoreError:
                self._rollback()
                raise
            return
        self._rollback()

    def _rollback(self) -> None:
        # No transaction left to roll back is fine: the error that brought us here is the one to report.
        with contextlib.suppress(StoreError):
            self.db.execute("ROLLBACK")


class _Swap:
    """Put a new artifacts directory where an old one is, keeping the old one until `done()`: `undo()`
    puts it back. The reproducer and metadata name the final place, not the one built into."""

    def __init__(self, partial: Path, target: Path):
        self.target = target
        self.old = target.with_name(target.name + ".old")
        self.had_old = False
        try:
            _name_final_place(partial, target)
            shutil.rmtree(self.old, ignore_errors=True)
            self.had_old = target.exists()
            if self.had_old:
                target.rename(self.old)
            partial.rename(target)
        except OSError as error:
            if self.had_old and not target.exists():  # the old ones were moved aside: put them back
                self.old.rename(target)
            raise StoreError(f"cannot move artifacts into {target} ({error.strerror})", path=target.parent) from None

    def undo(self) -> None:
        shutil.rmtree(self.target, ignore_errors=True)
        if self.had_old:
            self.old.rename(self.target)

    def done(self) -> None:
        shutil.rmtree(self.old, ignore_errors=True)


def _name_final_place(partial: Path, target: Path) -> None:
    """tuxmake wrote the directory it built into (`<cell>.partial/fragments/…`) into reproducer.sh and
    metadata.json; once moved, they must name where the files are, or the reproducer cannot run."""
    for name in ("reproducer.sh", "metadata.json"):
        path = partial / name
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_text(errors="surrogateescape")
        fixed = text.replace(str(partial) + "/", str(target) + "/")
        if fixed != text:
            safefile.write_text_atomic(path, fixed, stat.S_IMODE(path.stat().st_mode))
