"""tree: refs to full shas, worktrees the tool owns, first-parent walks. Real git, on small repositories."""

import subprocess
from pathlib import Path

import pytest

from orchestrator import tree
from orchestrator.models import InputError


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    for number in range(3):
        (path / "file").write_text(f"{number}\n")
        git(path, "add", "file")
        git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", f"commit {number}")
    return path


def test_resolve_gives_full_shas_and_refuses_options(repo):
    assert tree.resolve(repo, "HEAD~1") == git(repo, "rev-parse", "HEAD~1")
    with pytest.raises(InputError, match="may not be empty or begin with '-'"):
        tree.resolve(repo, "--all")
    with pytest.raises(InputError, match="no such commit"):
        tree.resolve(repo, "nope")


def test_checkout_never_touches_the_users_tree_and_moves_between_commits(repo, tmp_path):
    (repo / "file").write_text("uncommitted work\n")
    first = tree.checkout(repo, tree.resolve(repo, "HEAD~2"), tmp_path / "work")
    assert (first / "file").read_text() == "0\n"
    again = tree.checkout(repo, tree.resolve(repo, "HEAD"), tmp_path / "work")
    assert again == first and (again / "file").read_text() == "2\n"
    assert (repo / "file").read_text() == "uncommitted work\n"
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"


def test_worktrees_of_deleted_repositories_are_pruned(repo, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(repo), str(clone))
    orphan = tree.checkout(clone, tree.resolve(clone, "HEAD"), tmp_path / "work")
    subprocess.run(["rm", "-rf", str(clone)], check=True)
    kept = tree.checkout(repo, tree.resolve(repo, "HEAD"), tmp_path / "work")
    assert not orphan.exists() and kept.exists()


def test_first_parent_range_includes_its_bottom_oldest_first(repo):
    shas = [git(repo, "rev-parse", f"HEAD~{n}") for n in (2, 1, 0)]
    assert tree.first_parent_range(repo, "HEAD~2..HEAD") == shas
    assert tree.first_parent_range(repo, "HEAD") == shas[2:]
    assert list(tree.first_parent_ancestors(repo, shas[2])) == shas[::-1]
    with pytest.raises(InputError, match="may not begin with '-'"):
        tree.first_parent_range(repo, "--output=x")
