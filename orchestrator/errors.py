"""The two families of errors the library raises, and nothing else reaches the user.

- `UserError`: the input is wrong (a matrix field, a revision, an option's value). The message names the
  file:line, field or value and says how to fix it.
- `InfraError`: the machine failed (disk, database, git, a container engine). The message says what
  failed and what to do; nothing about the commit is concluded from it.

Both are one line and exit 2 (the command line maps them, in one place). Messages name no command-line
option: an error carries a `topic` ("results", "tree", ...) and the command line adds its own hint.
Each subclass has a message template, like tuxmake's exceptions, so the same fault always reads the same.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of both families. `template` is formatted with the keyword fields given."""

    template = "{detail}"
    topic = ""  # what the command line may add a hint about: results, tree, matrix, work, cells

    def __init__(self, detail: str = "", *, topic: str = "", **fields: object):
        self.fields = {"detail": detail, **fields}
        if topic:
            self.topic = topic
        super().__init__(" ".join(self.template.format(**self.fields).split()))  # always one line


class UserError(OrchestratorError):
    """Bad input: the user can fix it by changing what they asked for."""


class InfraError(OrchestratorError):
    """The machine, not the input and not the commit: disk, database, git, container engine."""


# --- user errors --------------------------------------------------------------------------------


class MatrixError(UserError):
    """matrix.yaml or a fragment is wrong; `where` is file:line (or the file alone)."""

    template = "{where}: {detail}"
    topic = "matrix"


class RevisionError(UserError):
    """A revision or range that does not name what the user meant; `label` is how they gave it."""

    template = "{label} '{rev}': {detail}"


class TreeError(UserError):
    """The kernel tree to build is missing or not a git tree."""

    template = "{path}: {detail}"
    topic = "tree"


class WorkRootError(UserError):
    """The work root (worktrees, build directories, ccache) cannot be used."""

    template = "work directory {path}: {detail}"
    topic = "work"


# --- infrastructure errors ----------------------------------------------------------------------


class StoreError(InfraError):
    """The results store cannot be read or written."""

    template = "results store {path}: {detail}"
    topic = "results"


class GitError(InfraError):
    """git itself failed (not a revision the user gave: that is a RevisionError)."""

    template = "git {command} failed in {repo}: {detail}"


class FetchError(InfraError):
    """A branch of a remote tree could not be fetched: an infrastructure error for that branch."""


class ToolError(InfraError):
    """A host program the command needs (podman, mmdebstrap) is missing or failed."""


class MailError(InfraError):
    """The nightly's mail could not be sent: the SMTP server, its TLS or its login failed."""

    template = "mail to {server} not sent: {detail}"


class Interrupted(Exception):
    """A build was stopped by a signal; it has no result to store. Not an OrchestratorError: no fault
    of the input or the machine, and the command line says "interrupted", never "error"."""
