"""Git: resolve refs to full shas, and check commits out in a worktree the tool owns.

The user's working tree and branch are never touched: builds read a detached worktree under the
results directory. Every git call takes an argument list, never a shell string.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

from .models import Commit, InputError

SHA = re.compile(r"^[0-9a-f]{40}$")


class GitError(Exception):
    pass


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise GitError(result.stderr.strip() or f"git {args[0]} failed")
    return result.stdout.strip()


def check_tree(repo: Path) -> Path:
    """The git top level of `repo`, or an InputError saying how to get a tree."""
    repo = Path(repo)
    if not repo.is_dir():
        raise InputError(
            f"{repo}: no such kernel tree; pass --tree PATH, or make the demo tree with `orchestrate demo-tree {repo}`"
        )
    try:
        return Path(git(repo, "rev-parse", "--show-toplevel"))
    except GitError:
        raise InputError(f"{repo}: not a git tree; pass --tree PATH to a kernel git tree")


def resolve(repo: Path, rev: str, what: str = "--commit") -> str:
    """The full 40-hex sha of the commit `rev` names."""
    if not rev or rev.startswith("-"):
        raise InputError(f"{what} '{rev}': a revision may not be empty or begin with '-'")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except GitError:
        raise InputError(f"{what} '{rev}': no such commit in {repo}; give a sha, branch or tag that exists there")


def commit_info(repo: Path, sha: str) -> Commit:
    subject, date = git(repo, "show", "-s", "--format=%s%x00%aI", sha).split("\0")
    return Commit(sha=sha, subject=subject, author_date=date)


def worktree_dir(work_root: Path, repo: Path) -> Path:
    """One worktree per source repository, at a stable path (so ccache and build dirs stay warm)."""
    key = hashlib.sha256(str(Path(repo).resolve()).encode()).hexdigest()[:12]
    return Path(work_root) / "worktrees" / f"{Path(repo).name}-{key}"


def checkout(repo: Path, sha: str, work_root: Path) -> Path:
    """A detached worktree of `repo` at `sha`, owned by the tool; made on first use, then moved."""
    if not SHA.match(sha):
        raise ValueError(f"checkout needs a full sha, got {sha!r}")
    path = worktree_dir(work_root, repo)
    if (path / ".git").exists():
        try:
            if git(path, "rev-parse", "HEAD") != sha:
                git(path, "checkout", "--quiet", "--detach", "--force", sha)
                git(path, "clean", "-fdxq")
            return path
        except GitError:
            shutil.rmtree(path)  # a broken worktree (its repository moved, say): make it again
    git(repo, "worktree", "prune")
    prune_orphans(Path(work_root))
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--quiet", "--detach", "--force", str(path), sha)
    return path


def prune_orphans(work_root: Path) -> list[Path]:
    """Remove worktrees whose repository is gone (a deleted clone): a kernel checkout is over 1 GB."""
    removed = []
    for path in sorted((Path(work_root) / "worktrees").glob("*")):
        try:
            gitdir = (path / ".git").read_text().partition("gitdir:")[2].strip()
        except OSError:
            continue
        if gitdir and not Path(gitdir).exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def first_parent_ancestors(repo: Path, sha: str, limit: int = 100_000) -> Iterator[str]:
    """The first-parent ancestors of `sha`, nearest first, read lazily (a kernel has a million)."""
    process = subprocess.Popen(
        ["git", "-C", str(repo), "rev-list", "--first-parent", f"--max-count={limit}", "--end-of-options", sha],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            yield line.strip()
    finally:
        process.kill()
        process.wait()


def first_parent_range(repo: Path, spec: str) -> list[str]:
    """The commits of `A..B` (with A itself first, as the reference row) or of a single rev, oldest first."""
    if spec.startswith("-"):
        raise InputError(f"report '{spec}': a revision range may not begin with '-'")
    if ".." in spec:
        bottom, _, top = spec.partition("..")
        bottom_sha = resolve(repo, bottom or "HEAD", what="range")
        top_sha = resolve(repo, top or "HEAD", what="range")
        inside = git(repo, "rev-list", "--first-parent", "--reverse", "--end-of-options", f"{bottom_sha}..{top_sha}")
        return [bottom_sha] + inside.split()
    return [resolve(repo, spec, what="range")]


def is_ancestor(repo: Path, ancestor: str, sha: str) -> bool:
    """Whether `ancestor` is reachable from `sha` (False too when git no longer has it)."""
    result = subprocess.run(
        ["git", "-C", str(repo), "merge-base", "--is-ancestor", "--end-of-options", ancestor, sha], capture_output=True
    )
    return result.returncode == 0


def new_commits(repo: Path, tip: str, previous: str, limit: int) -> tuple[list[str], int]:
    """(up to `limit` first-parent commits of `tip` not reachable from `previous`, newest first; how many
    there are in all). Works after a force-push too, as long as git still has `previous`."""
    try:
        count = int(git(repo, "rev-list", "--first-parent", "--count", "--end-of-options", tip, f"^{previous}"))
        listed = git(repo, "rev-list", "--first-parent", f"--max-count={limit}", "--end-of-options", tip, f"^{previous}")
    except GitError:  # `previous` is gone (a mirror made again): nothing to exclude, build the tip
        return [tip], 1
    return listed.split(), count
