"""Remote trees for the nightly: one bare mirror per URL under the work root, fetched branch by branch.

Each branch is fetched on its own, so an unknown branch or a failing fetch costs that branch only.
Fetches never prompt (a scheduled run has nobody to answer) and give up after a timeout.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from . import tree
from .errors import FetchError, GitError
from .matrix import TreeSpec

FETCH_TIMEOUT = 3600  # seconds; a first clone of a kernel over a slow link takes a while


def mirror_dir(work_root: Path, url: str) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", url.rstrip("/").rsplit("/", 1)[-1])
    return Path(work_root) / "mirrors" / f"{name}-{key}"


def nightly_ref(branch: str) -> str:
    return f"refs/nightly/{branch}"


def branches(spec: TreeSpec) -> list[str]:
    """The branches a nightly follows: the listed ones; else a local tree's current branch, or a
    remote's default branch (HEAD)."""
    if spec.branches:
        return list(spec.branches)
    if spec.path is not None:
        try:
            return [tree.git(spec.path, "symbolic-ref", "--quiet", "--short", "HEAD")]
        except GitError:
            return ["HEAD"]  # a detached checkout
    return ["HEAD"]


def update(spec: TreeSpec, branch: str, work_root: Path) -> tuple[Path, str]:
    """(the repository to build from, the branch's tip sha), fetching it first for a remote tree."""
    if spec.path is not None:
        ref = branch if branch == "HEAD" else f"refs/heads/{branch}"
        try:
            return spec.path, tree.git(spec.path, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        except GitError:
            raise FetchError(f"{spec.path} has no branch '{branch}'") from None
    mirror = ensure_mirror(str(spec.url), work_root)
    source = "HEAD" if branch == "HEAD" else f"refs/heads/{branch}"
    _fetch(mirror, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--end-of-options",
           str(spec.url), f"+{source}:{nightly_ref(branch)}", what=f"fetching {branch} from {spec.url}")
    return mirror, tree.git(mirror, "rev-parse", "--verify", f"{nightly_ref(branch)}^{{commit}}")


def ensure_mirror(url: str, work_root: Path) -> Path:
    """The bare mirror of `url`, cloned on first use (a local path is cloned with hard links: cheap)."""
    mirror = mirror_dir(work_root, url)
    if (mirror / "HEAD").exists():
        return mirror
    partial = mirror.with_name(mirror.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _fetch(None, "clone", "--quiet", "--bare", "--no-tags", "--", url, str(partial), what=f"cloning {url}")
    # A background `git gc --auto` could drop a force-pushed branch's old tip, the previous baseline.
    tree.git(partial, "config", "gc.auto", "0")
    partial.rename(mirror)
    return mirror


def fetch(repo: Path, url: str, *refspecs: str) -> None:
    """Fetch `refspecs` (or a commit by its sha) from `url` into the mirror `repo`."""
    _fetch(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--end-of-options", url, *refspecs, what=f"fetching from {url}")


def _fetch(repo: Path | None, *args: str, what: str) -> str:
    """git for a remote: a failure is a FetchError for this branch, in git's own words."""
    try:
        return tree.git(repo, *args, timeout=FETCH_TIMEOUT, what=what)
    except GitError as error:
        raise FetchError(f"{what} failed: {error.fields['detail']}") from None
