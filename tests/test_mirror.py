"""mirror: a bare mirror per remote, fetched a branch at a time; a local tree is read in place. Real git."""

import subprocess
from pathlib import Path

import pytest

from orchestrator import mirror
from orchestrator.matrix import TreeSpec


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, text: str) -> str:
    (repo / "file").write_text(text)
    git(repo, "add", "file")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", text)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def remote(tmp_path):
    """A bare repository (the remote) and a working clone that pushes to it."""
    bare, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=master", str(bare))
    git(tmp_path, "init", "--quiet", "--initial-branch=master", str(work))
    commit(work, "one")
    git(work, "push", "--quiet", str(bare), "master", "master:next")
    return bare, work


def test_a_branch_is_fetched_into_a_mirror_and_follows_pushes(remote, tmp_path):
    bare, work = remote
    spec = TreeSpec(url=str(bare), branches=["master"], name="remote")
    repo, tip = mirror.update(spec, "master", tmp_path / "cache")
    assert repo == mirror.mirror_dir(tmp_path / "cache", str(bare)) and tip == git(work, "rev-parse", "HEAD")
    pushed = commit(work, "two")
    git(work, "push", "--quiet", str(bare), "master")
    assert mirror.update(spec, "master", tmp_path / "cache") == (repo, pushed)
    assert mirror.update(spec, "next", tmp_path / "cache")[1] != pushed  # each branch on its own


def test_an_unknown_branch_or_a_dead_remote_is_a_fetch_error(remote, tmp_path):
    bare, _ = remote
    with pytest.raises(mirror.FetchError, match="fetching nope from .* failed: fatal: couldn't find remote ref"):
        mirror.update(TreeSpec(url=str(bare), name="remote"), "nope", tmp_path / "cache")
    with pytest.raises(mirror.FetchError, match="cloning .*gone.git failed"):
        mirror.update(TreeSpec(url=str(tmp_path / "gone.git"), name="gone"), "master", tmp_path / "cache")
    # git's telling line, not the last of its advice ("...and the repository exists.")
    with pytest.raises(mirror.FetchError) as caught:
        mirror.update(TreeSpec(url="file:///nonexistent", name="none"), "master", tmp_path / "cache")
    assert str(caught.value) == "cloning file:///nonexistent failed: fatal: '/nonexistent' does not appear to be a git repository"


def test_a_local_tree_is_read_in_place(remote, tmp_path):
    _, work = remote
    spec = TreeSpec(path=work, name="work")
    assert mirror.branches(spec) == ["master"]  # the branch checked out
    assert mirror.update(spec, "master", tmp_path / "cache") == (work, git(work, "rev-parse", "HEAD"))
    with pytest.raises(mirror.FetchError, match="has no branch 'nope'"):
        mirror.update(spec, "nope", tmp_path / "cache")


def test_a_remote_without_branches_follows_its_default_branch(remote, tmp_path):
    bare, work = remote
    spec = TreeSpec(url=str(bare), name="remote")
    assert mirror.branches(spec) == ["HEAD"]
    assert mirror.update(spec, "HEAD", tmp_path / "cache")[1] == git(work, "rev-parse", "HEAD")
