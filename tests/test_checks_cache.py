"""The uapi-abi cache is pruned by last use, at most once a day."""

import os

from orchestrator.checks import cache

DAY = 86_400


def entry(root, part, name, age_days, now, directory=False):
    path = root / part / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        (path / "include").mkdir(parents=True)
    else:
        path.write_text("{}")
    lock = path.with_name((path.stem if path.suffix else path.name) + ".lock")
    lock.write_text("")
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def test_entries_unused_for_two_weeks_go_with_their_locks_and_the_rest_stay(tmp_path):
    now = 1_800_000_000.0
    old = [entry(tmp_path, "headers", "x86-old", 20, now, directory=True), entry(tmp_path, "layouts", "i386-old.json", 15, now)]
    kept = [entry(tmp_path, "headers", "x86-new", 1, now, directory=True), entry(tmp_path, "findings", "new.json", 13, now)]
    (tmp_path / "layouts" / ".i386-scratch").mkdir()  # a run compiling now
    assert sorted(cache.prune(tmp_path, now=now)) == sorted(old)
    assert not any(p.exists() for p in old) and all(p.exists() for p in kept)
    assert not (tmp_path / "headers" / "x86-old.lock").exists() and not (tmp_path / "layouts" / "i386-old.lock").exists()
    assert (tmp_path / "layouts" / ".i386-scratch").is_dir()


def test_pruning_runs_at_most_once_a_day_and_a_use_stamps_an_entry(tmp_path):
    now = 1_800_000_000.0
    cache.prune(tmp_path, now=now)
    stale = entry(tmp_path, "findings", "stale.json", 30, now)
    assert cache.prune(tmp_path, now=now + DAY / 2) == []  # pruned half a day ago
    cache.touch(stale)  # used now (the real clock): not stale any more
    assert cache.prune(tmp_path, now=stale.stat().st_mtime + DAY + 1) == [] and stale.exists()
