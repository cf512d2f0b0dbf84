"""tree: refs to full shas, worktrees the tool owns, first-parent walks. Real git, on small repositories."""

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator import tree
from orchestrator.errors import GitError, RevisionError
from orchestrator.errors import UserError as InputError


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


def test_a_commit_is_attributed_to_its_author_with_its_link_and_reported_by_trailers(repo):
    message = "KVM: x86: a fix\n\nWhy it matters.\n\nReported-by: Some One <some@one.invalid>\nSigned-off-by: Sean C <sean@c.invalid>\n"
    message += "Link: https://lore.kernel.org/r/20220421005012.1.git@example\n"
    (repo / "file").write_text("fixed\n")
    git(repo, "add", "file")
    git(repo, "-c", "user.name=Peter G", "-c", "user.email=peter@g.invalid", "commit", "--quiet", "-m", message)
    commit = tree.commit_info(repo, git(repo, "rev-parse", "HEAD"))
    assert (commit.subject, commit.author) == ("KVM: x86: a fix", "Peter G <peter@g.invalid>")
    assert commit.trailers == (("Reported-by", "Some One <some@one.invalid>"), ("Link", "https://lore.kernel.org/r/20220421005012.1.git@example"))
    assert commit.committer_date and commit.author_date


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


IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_AUTHOR_DATE": "2022-12-11T14:15:00+00:00",
    "GIT_COMMITTER_DATE": "2022-12-11T14:15:00+00:00",
}


def test_an_ambiguous_prefix_lists_the_commits_it_could_be(repo):
    """Commits are made (with fixed identity and dates: the same shas everywhere) until two share the
    four hex digits git accepts as a prefix."""
    empty = git(repo, "rev-parse", "HEAD^{tree}")
    seen: dict[str, str] = {}
    number = 0
    while True:
        number += 1
        made = subprocess.run(
            ["git", "-C", str(repo), "commit-tree", empty, "-m", f"c{number}"],
            check=True, capture_output=True, text=True, env={**os.environ, **IDENTITY},
        ).stdout.strip()
        if made[:4] in seen:
            break
        seen[made[:4]] = made
    with pytest.raises(RevisionError) as caught:
        tree.resolve(repo, made[:4], label="--commit")
    message = str(caught.value)
    assert message.startswith(f"--commit '{made[:4]}': ambiguous: it could be ")
    assert f"{made[:7]} (" in message and f"{seen[made[:4]][:7]} (" in message and message.endswith("give more digits")


def test_a_reversed_or_symmetric_range_is_refused(repo):
    with pytest.raises(RevisionError, match=r"^range 'HEAD..HEAD~2': HEAD is not an ancestor of HEAD~2; give the older commit first$"):
        tree.first_parent_range(repo, "HEAD..HEAD~2")
    with pytest.raises(RevisionError, match=r"^--commit 'HEAD~2...HEAD': A...B .* is not a line of history; give A..B$"):
        tree.first_parent_range(repo, "HEAD~2...HEAD", label="--commit")


def test_uncommitted_changes_are_seen(repo):
    assert not tree.has_uncommitted_changes(repo)
    (repo / "file").write_text("edited\n")
    assert tree.has_uncommitted_changes(repo)


def test_a_shallow_clone_is_deepened_from_its_remote_and_not_without_one(repo, tmp_path):
    for number in range(300):  # more than the first step fetches
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "--allow-empty", "-m", f"more {number}")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{repo}", str(shallow))
    head = git(shallow, "rev-parse", "HEAD")
    assert tree.is_shallow(shallow) and len(list(tree.first_parent_ancestors(shallow, head))) == 1
    said = []
    assert tree.deepen(shallow, head, said.append)
    assert len(list(tree.first_parent_ancestors(shallow, head))) == 257
    assert said == [f"{shallow} is a shallow clone: fetching 256 more commits of its history to find baselines"]
    assert tree.deepen(shallow, head, said.append) and not tree.is_shallow(shallow)  # the next step: all of it
    git(shallow, "remote", "remove", "origin")
    assert not tree.deepen(shallow, head)


def test_a_failing_git_is_a_git_error_in_gits_own_words(repo):
    with pytest.raises(GitError, match=r"^git log failed in .*: fatal: your current branch 'nope' does not have any commits yet$"):
        git(repo, "checkout", "--quiet", "--orphan", "nope")
        tree.git(repo, "log")


def test_a_bare_repository_has_no_uncommitted_changes(repo, tmp_path):
    git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(tmp_path / "bare.git"))
    assert not tree.has_uncommitted_changes(tmp_path / "bare.git")
