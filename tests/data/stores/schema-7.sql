-- a results store of schema version 7, made by orchestrator's own Store code of that version
PRAGMA user_version = 7;
BEGIN TRANSACTION;
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
INSERT INTO "attempts" VALUES(1,1,'50a4808780bcdabf6a6276e60c949c870344efc7','riscv-gcc-defconfig+kvm','0123456789abcdef','fail','arch/riscv/kvm/vcpu_sbi.c:87:26: error: ''struct <anonymous>'' has no member named ''flags''',14.2,'null','','stored','2026-11-25T16:39:33+00:00');
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
        finished TEXT NOT NULL, image TEXT NOT NULL DEFAULT '',
        UNIQUE (sha, cell, definition)
    );
INSERT INTO "builds" VALUES(1,1,'50a4808780bcdabf6a6276e60c949c870344efc7','riscv-gcc-defconfig+kvm','0123456789abcdef','fail','arch/riscv/kvm/vcpu_sbi.c:87:26: error: ''struct <anonymous>'' has no member named ''flags''','{"config": "PASS", "make:arch/riscv/kvm/": "FAIL"}',14.2,'null','riscv64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0',1,0,'50a4808780bcdabf6a6276e60c949c870344efc7/riscv-gcc-defconfig+kvm','2026-11-25T16:39:33+00:00','');
CREATE TABLE commits (
        sha TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        author_date TEXT NOT NULL
    , author TEXT NOT NULL DEFAULT '', committer_date TEXT NOT NULL DEFAULT '', trailers TEXT NOT NULL DEFAULT '[]');
INSERT INTO "commits" VALUES('50a4808780bcdabf6a6276e60c949c870344efc7','Linux from linux-source-6.1.tar.xz','2022-12-11T14:15:00+00:00','Linus Torvalds <torvalds@linux-foundation.org>','2022-12-11T14:15:00+00:00','[["Link", "https://lore.kernel.org/r/x"]]');
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
INSERT INTO "diagnostics" VALUES(1,1,0,'error','arch/riscv/kvm/vcpu_sbi.c',87,26,'''struct <anonymous>'' has no member named ''flags''','','compiler','','[]','[]','[]',1,'error|arch/riscv/kvm/vcpu_sbi.c||''struct <anonymous>'' has no member named ''flags''');
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
INSERT INTO "nightly_branches" VALUES(1,'demo','master','/src/linux',NULL,'50a4808780bcdabf6a6276e60c949c870344efc7','first nightly','2026-11-25T16:39:33+00:00');
CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT,
        command TEXT NOT NULL,
        tree TEXT NOT NULL
    );
INSERT INTO "runs" VALUES(1,'2026-11-25T16:39:33+00:00','2026-11-25T16:39:33+00:00','orchestrate --commit HEAD','/src/linux');
CREATE INDEX builds_by_cell ON builds (cell, sha);
CREATE INDEX diagnostics_by_build ON diagnostics (build_id, position);
CREATE INDEX diagnostics_by_fingerprint ON diagnostics (fingerprint);
CREATE INDEX nightly_by_branch ON nightly_branches (tree, branch, id);
CREATE INDEX attempts_by_cell ON attempts (sha, cell);
COMMIT;
