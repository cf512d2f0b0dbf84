-- The results store (results.db) as store.MIGRATIONS leave it: the schema to read, in one place.
-- Stores are made and upgraded by replaying the migrations (user_version counts those applied);
-- tests/test_store.py checks that replaying them gives exactly these tables, columns and indexes.
-- JSON columns hold lists; times are UTC ISO 8601; a sha is 40 hex digits.

CREATE TABLE commits (
    sha TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    author_date TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',             -- "Name <email>"
    committer_date TEXT NOT NULL DEFAULT '',
    trailers TEXT NOT NULL DEFAULT '[]'          -- JSON [name, value] pairs: Link:, Reported-by:
);

-- One invocation that built something: what ran, on which tree, when.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    command TEXT NOT NULL,
    tree TEXT NOT NULL
);

-- The result of a cell (or check) at a commit: one per (sha, cell, definition).
CREATE TABLE builds (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    sha TEXT NOT NULL REFERENCES commits(sha),
    cell TEXT NOT NULL,
    definition TEXT NOT NULL,                    -- what the cell was when built: a changed cell is another result
    status TEXT NOT NULL,                        -- pass, fail, infra, matrix-error
    reason TEXT NOT NULL,
    targets TEXT NOT NULL,                       -- JSON {target: status}
    duration REAL NOT NULL,
    runtime TEXT NOT NULL,
    compiler TEXT NOT NULL,
    errors INTEGER NOT NULL,
    warnings INTEGER NOT NULL,
    artifacts_dir TEXT NOT NULL,                 -- relative to the results directory: <sha>/<cell>; '' when none kept
    finished TEXT NOT NULL,
    image TEXT NOT NULL DEFAULT '',              -- the container image's digest, for a container runtime
    parser INTEGER NOT NULL DEFAULT 1,           -- the log parser version that made its diagnostics
    inputs BLOB,                                 -- gzip of the sorted tree-relative files it read; NULL: not recorded
    reused_from TEXT NOT NULL DEFAULT '',        -- the commit whose build this is, when reused; '': built
    UNIQUE (sha, cell, definition)
);
CREATE INDEX builds_by_cell ON builds (cell, sha);

-- What a build's log (or a check) said, in order.
CREATE TABLE diagnostics (
    id INTEGER PRIMARY KEY,
    build_id INTEGER NOT NULL REFERENCES builds(id),
    position INTEGER NOT NULL,
    severity TEXT NOT NULL,                      -- error, warning, note
    file TEXT NOT NULL,
    line INTEGER,
    col INTEGER,
    message TEXT NOT NULL,
    option TEXT NOT NULL,
    tool TEXT NOT NULL,
    function TEXT NOT NULL,
    include_chain TEXT NOT NULL,                 -- JSON list
    excerpt TEXT NOT NULL,                       -- JSON list
    notes TEXT NOT NULL,                         -- JSON list
    count INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    root_cause INTEGER NOT NULL DEFAULT 0,       -- 1: the error that ended the build
    known INTEGER NOT NULL DEFAULT 0,            -- 1: listed in the matrix's accepted file
    label TEXT NOT NULL DEFAULT '',              -- the tool's own word for the severity: "fatal error"
    program TEXT NOT NULL DEFAULT ''             -- who said it when no file is named: "clang", "make"
);
CREATE INDEX diagnostics_by_build ON diagnostics (build_id, position);
CREATE INDEX diagnostics_by_fingerprint ON diagnostics (fingerprint);

-- Each nightly's visit of a tree's branch.
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

-- Every attempt at a cell, the ones that were retried or kept aside included.
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

-- Where bisections found regressions began: the commit where one was seen (tip), its cells and new
-- fingerprints there, the last good commit, and the candidates (one first bad commit, or a range
-- ending at `bad`); JSON lists.
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
