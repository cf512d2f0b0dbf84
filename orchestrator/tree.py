"""Git: resolve refs to full shas, walk history, and check commits out in a worktree the tool owns.

The one git wrapper of the project. The user's working tree and branch are never touched: builds read
a detached worktree under the work root. Every git call takes an argument list, never a shell string,
and never prompts (a scheduled run has nobody to answer).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import GitError, RevisionError, TreeError
from .models import Commit

SHA = re.compile(r"^[0-9a-f]{40}$")
CANDIDATE = re.compile(r"^hint:\s+([0-9a-f]{4,40}) (\w+)(?: (.*))?$")
NO_PROMPTS = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
}
ATTRIBUTION_TRAILERS = ("Link", "Reported-by", "Closes", "Fixes")  # kept with each commit, shown with regressions
DEEPEN_STEPS = (256, 4096)  # commits fetched at a time into a shallow clone, before all of its history


def git(
    repo: Path | None, *args: str, env: dict | None = None, timeout: float | None = None, what: str = ""
) -> str:
    """Run git (in `repo`, if given) and return its output; GitError with git's own words if it fails."""
    command = ["git", *(["-C", str(repo)] if repo else []), *args]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **NO_PROMPTS, **(env or {})}
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"no answer within {timeout:.0f} s", command=what or args[0], repo=repo or Path.cwd()) from None
    except OSError as error:  # git itself is missing, or the directory vanished
        raise GitError(error.strerror or str(error), command=what or args[0], repo=repo or Path.cwd()) from None
    if result.returncode != 0:
        raise GitError(_reason(result.stderr, result.returncode), command=what or args[0], repo=repo or Path.cwd())
    return result.stdout.strip()


def _reason(stderr: str, returncode: int) -> str:
    """git's most telling line: its first `fatal:`/`error:` line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else f"exit {returncode}"


def check_tree(repo: Path) -> Path:
    """The git top level of `repo`, or a TreeError saying how to get a tree."""
    repo = Path(repo)
    if not repo.is_dir():
        raise TreeError("no such kernel tree", path=repo, topic="tree-missing")
    try:
        return Path(git(repo, "rev-parse", "--show-toplevel"))
    except GitError:
        raise TreeError("not a git tree", path=repo) from None


def resolve(repo: Path, rev: str, label: str = "revision") -> str:
    """The full 40-hex sha of the commit `rev` names; an ambiguous prefix lists its candidates."""
    if not rev or rev.startswith("-"):
        raise RevisionError("a revision may not be empty or begin with '-'", label=label, rev=rev)
    command = ["git", "-C", str(repo), "rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **NO_PROMPTS})
    if result.returncode == 0:
        return result.stdout.strip()
    candidates = [m for m in map(CANDIDATE.match, result.stderr.splitlines()) if m]
    if candidates:
        commits = [m for m in candidates if m[2] == "commit"] or candidates
        listed = ", ".join(f"{m[1]} ({m[3] or m[2]})" for m in commits)
        raise RevisionError(f"ambiguous: it could be {listed}; give more digits", label=label, rev=rev)
    raise RevisionError(f"no such commit in {repo}; give a sha, branch or tag that exists there", label=label, rev=rev)


def commit_info(repo: Path, sha: str) -> Commit:
    """A commit's subject, author, dates and the trailers that attribute it (Link:, Reported-by:)."""
    text = git(repo, "show", "-s", "--format=%s%x00%aI%x00%an <%ae>%x00%cI%x00%(trailers:only,unfold)", sha)
    subject, date, author, committed, trailers = text.split("\0")
    kept = []
    for line in trailers.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ATTRIBUTION_TRAILERS and value.strip():
            kept.append((key.strip(), value.strip()))
    return Commit(sha=sha, subject=subject, author_date=date, author=author, committer_date=committed, trailers=tuple(kept))


def first_parent_range(repo: Path, spec: str, label: str = "range") -> list[str]:
    """The commits of `A..B` (with A itself first, as the reference row) or of a single rev, oldest first."""
    if spec.startswith("-"):
        raise RevisionError("a revision range may not begin with '-'", label=label, rev=spec)
    if "..." in spec:
        raise RevisionError("A...B (commits on either side) is not a line of history; give A..B", label=label, rev=spec)
    if ".." not in spec:
        return [resolve(repo, spec, label)]
    bottom, _, top = spec.partition("..")
    bottom_sha = resolve(repo, bottom or "HEAD", label)
    top_sha = resolve(repo, top or "HEAD", label)
    if not is_ancestor(repo, bottom_sha, top_sha):
        raise RevisionError(
            f"{bottom or 'HEAD'} is not an ancestor of {top or 'HEAD'}; give the older commit first",
            label=label,
            rev=spec,
        )
    inside = git(repo, "rev-list", "--first-parent", "--reverse", "--end-of-options", f"{bottom_sha}..{top_sha}")
    return [bottom_sha] + inside.split()


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


def parents(repo: Path, sha: str) -> list[str]:
    return git(repo, "rev-list", "--parents", "--max-count=1", "--end-of-options", sha).split()[1:]


def name_status(repo: Path, old: str, new: str) -> str:
    """`git diff --name-status -M -z old new`: every path changed between two commits, renames with
    both their paths (NUL-separated, for reuse.parse_name_status)."""
    return git(repo, "diff", "--name-status", "-M", "-z", "--no-ext-diff", "--no-textconv", old, new, "--", what="diff")


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


# --- the user's tree ------------------------------------------------------------------------------


def has_uncommitted_changes(repo: Path) -> bool:
    """Whether tracked files differ from HEAD: they are not built, which deserves a word. A bare
    repository (a nightly's mirror) has no files to differ."""
    if git(repo, "rev-parse", "--is-bare-repository") == "true":
        return False
    return bool(git(repo, "status", "--porcelain", "--untracked-files=no"))


def head(repo: Path) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    except GitError:
        return None


def is_shallow(repo: Path) -> bool:
    return git(repo, "rev-parse", "--is-shallow-repository") == "true"


def deepen(repo: Path, sha: str, say: Callable[[str], None] = lambda message: None) -> bool:
    """Fetch more history of `sha` into a shallow clone from its remote, a step at a time; False when
    there is no remote to fetch from or the fetch failed (then the history stays cut where it is)."""
    if not git(repo, "remote"):
        return False
    before = int(git(repo, "rev-list", "--count", "--end-of-options", sha))
    step = next((n for n in DEEPEN_STEPS if n > before), None)
    args = [f"--deepen={step}"] if step else ["--unshallow"]
    say(f"{repo} is a shallow clone: fetching {f'{step} more commits' if step else 'all'} of its history to find baselines")
    try:
        git(repo, "fetch", "--quiet", "--no-tags", *args, timeout=3600, what="fetch (deepening a shallow clone)")
    except GitError as error:
        say(f"could not deepen {repo}: {error}")
        return False
    return int(git(repo, "rev-list", "--count", "--end-of-options", sha)) > before


# --- worktrees ------------------------------------------------------------------------------------


def worktree_dir(work_root: Path, repo: Path) -> Path:
    """One worktree per source repository, at a stable path (so ccache and build dirs stay warm)."""
    key = hashlib.sha256(str(Path(repo).resolve()).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", Path(repo).name)  # the tree's own name may hold a space or `$(...)`
    return Path(work_root) / "worktrees" / f"{name}-{key}"


def checkout(repo: Path, sha: str, work_root: Path) -> Path:
    """A detached worktree of `repo` at `sha`, owned by the tool; made on first use, then moved."""
    if not SHA.match(sha):
        raise ValueError(f"checkout needs a full sha, got {sha!r}")
    path = worktree_dir(work_root, repo)
    if (path / ".git").exists():
        try:
            # Reset every time, at the same commit too: a file an earlier build (or anyone) left in the
            # source tree makes Kbuild refuse it ("the source tree is not clean"), or changes the build.
            if git(path, "rev-parse", "HEAD") != sha:
                git(path, "checkout", "--quiet", "--detach", "--force", sha)
                git(path, "clean", "-ffdxq")
            elif git(path, "status", "--porcelain", "--ignored", "--untracked-files=all"):  # cheaper than a reset
                git(path, "reset", "--quiet", "--hard", sha)
                git(path, "clean", "-ffdxq")
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
