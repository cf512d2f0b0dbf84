"""The results store: SQLite at <results>/results.db (WAL), artifacts on disk beside it.

Each finished build is committed in its own transaction, so an interrupted run keeps every build
that finished. A build is keyed by (commit, cell, cell definition): when a cell's definition changes
its old results stay, but no longer count as that cell's result.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

from .models import INFRA, BuildResult, Commit, Diagnostic, InputError

DB_NAME = "results.db"

# Each entry moves the schema from version N to N+1; never edit one that has shipped.
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
]


def default_results_dir() -> Path:
    return Path(os.environ.get("ORCHESTRATOR_RESULTS", "results"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    def __init__(self, results_dir: Path | str):
        # Absolute: tuxmake takes artifact paths relative to its output dir, so a relative one doubles.
        self.root = Path(results_dir).absolute()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.root / DB_NAME, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (OSError, sqlite3.DatabaseError) as error:
            raise InputError(f"{self.root / DB_NAME}: cannot open the results store ({error}); pass --results DIR")

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise InputError(
                f"{self.root / DB_NAME}: schema version {version} is newer than this orchestrator knows; upgrade it"
            )
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in _statements(MIGRATIONS[number]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def transaction(self):
        return _Transaction(self.db)

    # --- paths ---------------------------------------------------------------------------------

    def artifacts_dir(self, sha: str, cell_id: str) -> Path:
        return self.root / sha / cell_id

    # --- writes --------------------------------------------------------------------------------

    def add_commit(self, commit: Commit) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO commits (sha, subject, author_date) VALUES (?, ?, ?)",
                (commit.sha, commit.subject, commit.author_date),
            )

    def start_run(self, command: str, tree: str) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (started, command, tree) VALUES (?, ?, ?)", (_now(), command, tree)
            )
        return cursor.lastrowid

    def finish_run(self, run_id: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET finished = ? WHERE id = ?", (_now(), run_id))

    def add_build(self, result: BuildResult, run_id: Optional[int] = None) -> None:
        """Store one finished build and its diagnostics at once, replacing an earlier result of the same definition."""
        with self.transaction():
            key = (result.sha, result.cell_id, result.definition)
            self.db.execute(
                "DELETE FROM diagnostics WHERE build_id IN (SELECT id FROM builds WHERE sha = ? AND cell = ? AND definition = ?)",
                key,
            )
            self.db.execute("DELETE FROM builds WHERE sha = ? AND cell = ? AND definition = ?", key)
            cursor = self.db.execute(
                """INSERT INTO builds (run_id, sha, cell, definition, status, reason, targets,
                       duration, runtime, image, compiler, errors, warnings, artifacts_dir, finished)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                ),
            )
            self.db.executemany(
                """INSERT INTO diagnostics (build_id, position, severity, file, line, col, message, option, tool,
                       function, include_chain, excerpt, notes, count, fingerprint)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        cursor.lastrowid,
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
                    )
                    for position, d in enumerate(result.diagnostics)
                ],
            )

    def record_nightly(self, tree: str, branch: str, source: str, previous_tip: Optional[str], tip: str, state: str) -> None:
        """A branch's nightly is done: `tip` becomes the baseline of its next nightly."""
        with self.transaction():
            self.db.execute(
                """INSERT INTO nightly_branches (tree, branch, source, previous_tip, tip, state, finished)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (tree, branch, source, previous_tip, tip, state, _now()),
            )

    # --- reads ---------------------------------------------------------------------------------

    def last_nightly_tip(self, tree: str, branch: str) -> Optional[str]:
        row = self.db.execute(
            "SELECT tip FROM nightly_branches WHERE tree = ? AND branch = ? ORDER BY id DESC LIMIT 1", (tree, branch)
        ).fetchone()
        return row["tip"] if row else None

    def artifact_dirs(self) -> list[tuple[Path, str]]:
        """(artifacts directory, when the last build into it finished), oldest first."""
        rows = self.db.execute(
            """SELECT artifacts_dir, MAX(finished) AS finished FROM builds WHERE artifacts_dir != ''
               GROUP BY artifacts_dir ORDER BY finished, artifacts_dir"""
        )
        return [(Path(row["artifacts_dir"]), row["finished"]) for row in rows]

    def commit(self, sha: str) -> Optional[Commit]:
        row = self.db.execute("SELECT * FROM commits WHERE sha = ?", (sha,)).fetchone()
        return Commit(row["sha"], row["subject"], row["author_date"]) if row else None

    def commits(self, shas: list[str]) -> dict[str, Commit]:
        found = {}
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            rows = self.db.execute(f"SELECT * FROM commits WHERE sha IN ({','.join('?' * len(chunk))})", chunk)
            found.update({r["sha"]: Commit(r["sha"], r["subject"], r["author_date"]) for r in rows})
        return found

    def find_sha(self, rev: str) -> Optional[str]:
        """The stored commit a hex prefix (4 to 40 digits) names, if exactly one does."""
        if not (4 <= len(rev) <= 40) or any(c not in "0123456789abcdef" for c in rev.lower()):
            return None
        rows = self.db.execute(
            "SELECT sha FROM commits WHERE sha >= ? AND sha < ? LIMIT 2", (rev.lower(), rev.lower() + "g")
        ).fetchall()
        return rows[0]["sha"] if len(rows) == 1 else None

    def builds(self, sha: str) -> list[BuildResult]:
        """The latest result of each cell for `sha` (results of older cell definitions are kept, not shown)."""
        rows = self.db.execute(
            "SELECT * FROM builds WHERE id IN (SELECT MAX(id) FROM builds WHERE sha = ? GROUP BY cell) ORDER BY id",
            (sha,),
        ).fetchall()
        return [self._with_diagnostics(row) for row in rows]

    def result(self, sha: str, cell_id: str, definition: str) -> Optional[BuildResult]:
        row = self.db.execute(
            "SELECT * FROM builds WHERE sha = ? AND cell = ? AND definition = ?", (sha, cell_id, definition)
        ).fetchone()
        return self._with_diagnostics(row) if row else None

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
            "SELECT sha FROM builds WHERE cell = ? AND definition = ? AND status IN ('pass', 'fail')",
            (cell_id, definition),
        )
        return {row["sha"] for row in rows}

    def missing(self, sha: str, cells: Iterable) -> list:
        """The cells with no usable result for `sha`; an infrastructure error is not a result."""
        wanted = []
        for cell in cells:
            found = self.result(sha, cell.id, cell.definition)
            if found is None or found.status == INFRA:
                wanted.append(cell)
        return wanted


def _result(row: sqlite3.Row) -> BuildResult:
    return BuildResult(
        cell_id=row["cell"],
        sha=row["sha"],
        status=row["status"],
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
    )


def _json_list(text: str) -> list:
    return [] if text == "[]" else json.loads(text)  # most are empty: a report loads tens of thousands


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, traceback):
        self.db.execute("ROLLBACK" if kind else "COMMIT")
        return False
