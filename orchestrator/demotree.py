"""Turn Debian's linux-source tarball into a git tree, so a fresh machine has a real kernel to build.

The commit is made with a fixed identity and date, so the same tarball gives the same sha everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .choices import DEFAULT_TARBALL
from .errors import ToolError, UserError
from .tree import git

# Debian's .gitignore ends with a block that ignores everything at the top level; without
# stripping it, `git add` adds nothing.
DEBIAN_BLOCK_MARKER = "# Debian packaging: ignore everything at the top level"

FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "orchestrator demo",
    "GIT_AUTHOR_EMAIL": "demo@orchestrator.invalid",
    "GIT_COMMITTER_NAME": "orchestrator demo",
    "GIT_COMMITTER_EMAIL": "demo@orchestrator.invalid",
    "GIT_AUTHOR_DATE": "2022-12-11T14:15:00+00:00",  # Linux 6.1's release date
    "GIT_COMMITTER_DATE": "2022-12-11T14:15:00+00:00",
}


def strip_debian_ignore_block(gitignore: str) -> str:
    """Drop Debian's trailing ignore-everything block (and the comment lines that open it)."""
    lines = gitignore.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith(DEBIAN_BLOCK_MARKER):
            start = index
            while start > 0 and lines[start - 1].strip() == "#":
                start -= 1
            return "".join(lines[:start])
    return gitignore


def make_demo_tree(dest: Path, tarball: Path = DEFAULT_TARBALL) -> str:
    """Unpack `tarball` into `dest`, commit it, and return the commit's sha.

    An existing demo tree (a git tree whose HEAD commit is ours) is reused as it is.
    """
    dest = Path(dest)
    if (dest / ".git").exists():
        return git(dest, "rev-parse", "HEAD")
    if not tarball.is_file():
        raise UserError(f"{tarball}: no such kernel tarball; install it with `apt-get install linux-source-6.1`")
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"{dest}: exists and is not empty; give a new directory for the demo tree")

    staging = dest.with_name(dest.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    unpacked = subprocess.run(["tar", "-xf", str(tarball), "-C", str(staging)], capture_output=True, text=True)
    if unpacked.returncode != 0:
        lines = [line for line in unpacked.stderr.splitlines() if line.strip()]
        raise ToolError(f"unpacking {tarball} failed: {lines[-1] if lines else f'tar exit {unpacked.returncode}'}")
    (source,) = staging.iterdir()  # the tarball's single top-level directory

    gitignore = source / ".gitignore"
    gitignore.write_text(strip_debian_ignore_block(gitignore.read_text()))

    git(source, "init", "--quiet", "--initial-branch=master")
    git(source, "config", "core.autocrlf", "false")
    # 80,000 loose objects would start a background `git gc --auto` repack after the commit, which
    # competes with the first builds for minutes; the demo tree is scratch, loose objects are fine.
    git(source, "config", "gc.auto", "0")
    git(source, "add", "--all")
    git(source, "commit", "--quiet", "--no-verify", "-m", f"Linux from {tarball.name}", env=FIXED_IDENTITY)
    if not (source / "Makefile").exists() or not git(source, "ls-files", "Makefile"):
        raise UserError(f"{tarball}: the commit holds no top-level Makefile; is this a kernel tarball?")

    if dest.exists():
        dest.rmdir()
    source.rename(dest)
    shutil.rmtree(staging)
    return git(dest, "rev-parse", "HEAD")
