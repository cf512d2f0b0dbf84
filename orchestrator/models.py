"""The records that flow between modules. Plain data, no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Status(StrEnum):
    """What a build of a cell came to, as stored and shown (the values are the store's)."""

    PASS = "pass"  # every target built
    FAIL = "fail"  # the commit does not build: its own errors
    INFRA = "infra"  # the machine failed (a tool, a disk, a killed process, tuxmake): no verdict on the code
    MATRIX_ERROR = "matrix-error"  # built, but Kconfig dropped an option the cell asked for


VERSIONED_TOOLCHAIN = re.compile(r"^(gcc|clang)-(\d+)$")  # gcc-12, clang-14: what tuxmake accepts too


def toolchain_family(toolchain: str) -> str:
    """gcc for gcc-12, clang for clang-14; the name itself otherwise."""
    match = VERSIONED_TOOLCHAIN.match(toolchain)
    return match[1] if match else toolchain


def toolchain_version(toolchain: str) -> str | None:
    """The major version a versioned toolchain asks for: `gcc-12` → "12"; None for plain `gcc`."""
    match = VERSIONED_TOOLCHAIN.match(toolchain)
    return match[2] if match else None


@dataclass(frozen=True)
class Fragment:
    """A Kconfig fragment file under configs/, with the options it asks for."""

    path: str  # relative to the project's configs/ directory, e.g. "x86_64/kvm.config"
    text: str
    options: tuple[tuple[str, str], ...]  # ("CONFIG_KVM", "y"); "n" for "# CONFIG_X is not set"


@dataclass(frozen=True)
class Cell:
    """One build of the matrix: what tuxmake is asked to do."""

    id: str
    arch: str  # tuxmake architecture name
    toolchain: str  # tuxmake toolchain name
    kconfig: str  # base config: a make target such as defconfig
    fragments: tuple[Fragment, ...]
    targets: tuple[str, ...]  # tuxmake targets ("config", "kernel", ...)
    make_targets: tuple[str, ...]  # plain Kbuild targets ("arch/x86/kvm/")
    make_variables: tuple[tuple[str, str], ...] = ()
    runtime: str = "null"
    accepted: frozenset[str] = frozenset()  # fingerprints of warnings the matrix accepts as known

    @property
    def required_options(self) -> dict[str, str]:
        """Every option the cell's fragments ask for; later fragments win, as in merge_config.sh."""
        wanted: dict[str, str] = {}
        for fragment in self.fragments:
            wanted.update(fragment.options)
        return wanted

    @property
    def definition(self) -> str:
        """Digest of what the cell builds. Results of different definitions are never compared."""
        payload = {
            "arch": self.arch,
            "toolchain": self.toolchain,
            "kconfig": self.kconfig,
            "fragments": [f.text for f in self.fragments],
            "targets": list(self.targets),
            "make_targets": list(self.make_targets),
            "make_variables": list(self.make_variables),
        }
        if self.accepted:  # results judged with another accepted set are judged again, not compared
            payload["accepted"] = sorted(self.accepted)
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


CHECK_VERSION = 1  # of the checks' own code: results of another version are not compared
CHECK_KINDS = ("uapi-abi",)  # a check's id starts with its kind; no tuxmake arch has such a name


def is_check(unit_id: str) -> bool:
    """Whether a column of the table is a check (else a tuxmake cell), from its id alone."""
    return unit_id.startswith(tuple(f"{kind}-" for kind in CHECK_KINDS))


@dataclass(frozen=True)
class Check:
    """A judgement of a commit that is not a tuxmake build, stored and judged like a cell: one column
    of the table. `uapi-abi` compares the uapi struct layouts of a 64-bit ABI with its 32-bit one."""

    id: str  # "uapi-abi-x86_64-i386"
    kind: str  # "uapi-abi"
    wide: str  # the 64-bit ABI: "x86_64"
    narrow: str  # the 32-bit ABI its kernel serves too: "i386"
    headers: tuple[str, ...] = ()  # installed headers to compare ("linux/kvm.h"); () for every one
    runtime: str = "null"  # checks run on the host
    accepted: frozenset[str] = frozenset()  # fingerprints of findings the matrix accepts as known

    @property
    def definition(self) -> str:
        payload = {"kind": self.kind, "wide": self.wide, "narrow": self.narrow, "headers": list(self.headers), "version": CHECK_VERSION}
        if self.accepted:  # results judged with another accepted set are judged again, not compared
            payload["accepted"] = sorted(self.accepted)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


Unit = Cell | Check  # one column of the commits × cells table: a tuxmake cell or a check


@dataclass
class Commit:
    sha: str  # always the full 40-hex sha
    subject: str
    author_date: str  # ISO 8601
    author: str = ""  # "Name <email>"; "" in stores from before it was kept
    committer_date: str = ""  # ISO 8601
    trailers: tuple[tuple[str, str], ...] = ()  # ("Link", "https://..."), ("Reported-by", "...")


@dataclass
class BuildResult:
    """What one cell's build of one commit produced."""

    cell_id: str
    sha: str
    status: Status
    definition: str = ""
    reason: str = ""  # why, for infra and matrix errors; first error line for failures
    targets: dict[str, str] = field(default_factory=dict)  # target -> PASS/FAIL/SKIP
    duration: float = 0.0
    runtime: str = ""  # null, podman or docker: what ran the build
    image: str = ""  # the container image, by digest where the engine knows one
    compiler: str = ""
    errors: int = 0  # tuxmake's own counts
    warnings: int = 0
    artifacts_dir: str = ""  # relative to the results directory ("<sha>/<cell>"), so a moved store still works
    diagnostics: list[Diagnostic] = field(default_factory=list)
    parser: int = 0  # the logparse.VERSION that made `diagnostics` from build.log; 0: not from a log (a check's)
    inputs: frozenset[str] = frozenset()  # tree-relative files a passing build read (written with it, not read back)
    reused_from: str = ""  # the commit whose build this result is, when no input of it changed since; "": built

    @property
    def reused(self) -> bool:
        return bool(self.reused_from)


@dataclass(frozen=True)
class ReuseAudit:
    """A reused result checked by building the cell after all: what the build found that the reused
    result lacked (`missing`) or had that the build did not (`extra`), by fingerprint."""

    cell_id: str
    sha: str
    reused_from: str
    reused: Status
    built: Status | None  # None: the build did not finish (an infrastructure error), nothing was compared
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def mismatch(self) -> bool:
        return self.built is not None and (self.built != self.reused or bool(self.missing or self.extra))


class Outcome(StrEnum):
    """What became of an attempt at building a cell (the values are the store's)."""

    STORED = "stored"  # it is the cell's result now
    RETRIED = "retried"  # an infrastructure error, built again in the same run
    KEPT_FINISHED = "kept the finished result"  # an infrastructure error; the pass/fail stored before stays


@dataclass(frozen=True)
class Attempt:
    """One attempt at building a cell of a commit, as recorded."""

    status: Status
    reason: str
    outcome: Outcome
    finished: str  # ISO 8601, UTC
    artifacts_dir: str  # relative to the results directory; "" when none were kept


@dataclass
class Diagnostic:
    """One problem found in a build log: compiler, assembler, linker, Kconfig, modpost, objtool or make."""

    severity: str  # "error" or "warning"; "note" for what a check found that needs no action
    file: str  # relative to the kernel tree ("" when the tool names none)
    line: int | None
    column: int | None
    message: str  # paths in it are tree-relative too
    option: str = ""  # "-Wunused-variable"
    tool: str = "compiler"  # compiler, assembler, linker, kconfig, modpost, objtool, make; uapi-abi
    function: str = ""  # "kvm_riscv_vcpu_sbi_system_reset"
    include_chain: list[str] = field(default_factory=list)  # ["include/linux/kvm_host.h:45", "arch/..../x.c:12"]
    excerpt: list[str] = field(default_factory=list)  # the source line and the caret line, as printed
    notes: list[str] = field(default_factory=list)
    count: int = 1  # occurrences in the log (a header error reached from N files is one diagnostic)
    fingerprint: str = ""
    root_cause: bool = False  # the error that ended the build (one per failed build log)
    known: bool = False  # accepted in the matrix's `accepted:` file: counted and shown, never judged
    label: str = ""  # the tool's own word when it is not the severity: "fatal error", gas's "Error", modpost's "FATAL"
    program: str = ""  # who said it when no file is named: "clang", "ld.lld", "make"

    def to_dict(self) -> dict:
        # Not dataclasses.asdict: its deep copies dominate exporting a large report.
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "option": self.option,
            "tool": self.tool,
            "function": self.function,
            "include_chain": list(self.include_chain),
            "excerpt": list(self.excerpt),
            "notes": list(self.notes),
            "count": self.count,
            "fingerprint": self.fingerprint,
            "root_cause": self.root_cause,
            "known": self.known,
            "label": self.label,
            "program": self.program,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Diagnostic:
        return cls(**data)

    @property
    def location(self) -> str:
        parts = [self.file or self.program or f"<{self.tool}>"] + [str(n) for n in (self.line, self.column) if n is not None]
        return ":".join(parts)

    @property
    def said(self) -> str:
        """The severity as the tool wrote it: what a developer searches the log for."""
        return self.label or self.severity

    @property
    def headline(self) -> str:
        """The record's first line, the way its tool prints it: `x.c:3:5: fatal error: msg [-Wopt]`."""
        option = f" [{self.option}]" if self.option else ""
        return f"{self.location}: {self.said}: {self.message}{option}"


# --- judging: what regress makes, the views show --------------------------------------------------


class VerdictKind(StrEnum):
    """What a commit did to a cell, against its baseline (the values are what reports show)."""

    NEW_FAIL = "NEW FAIL"  # the baseline built, this commit does not
    FIXED = "FIXED"  # the baseline failed, this commit builds
    STILL_FAILING = "STILL FAILING"  # both fail: new and gone errors are listed
    NEW_WARNINGS = "NEW WARNINGS"
    WARNINGS_FIXED = "WARNINGS FIXED"
    UNCHANGED = "PASS"  # nothing new, nothing gone
    INFRA = "INFRA"  # the machine failed: no verdict on the code
    MATRIX_ERROR = "MATRIX ERROR"  # Kconfig dropped what the cell asked for: no verdict either
    NO_BASELINE = "NO BASELINE"
    BASELINE_UNKNOWN = "BASELINE UNKNOWN"  # the history is cut off (a shallow clone) before any baseline


@dataclass
class Verdict:
    cell_id: str
    sha: str
    kind: VerdictKind
    status: Status  # the build's own status
    base_sha: str | None = None
    reused_from: str = ""  # the commit whose build the result is, when reused (BuildResult.reused_from)
    errors: int = 0  # distinct error diagnostics now, known ones aside
    warnings: int = 0
    known: int = 0  # distinct errors and warnings the matrix's accepted file lists: never judged
    new_errors: list[Diagnostic] = field(default_factory=list)
    gone_errors: list[Diagnostic] = field(default_factory=list)
    new_warnings: list[Diagnostic] = field(default_factory=list)
    gone_warnings: list[Diagnostic] = field(default_factory=list)
    reason: str = ""  # the build's one-line reason (first error, infra cause)

    def is_regression(self, fail_on_warnings: bool = False) -> bool:
        """A new failure or new errors; with fail_on_warnings, new warnings too. Never an infra error.
        A failed build with no baseline counts: nothing shows it was failing before. A check's findings
        with no baseline do not: a check judges what a commit changes, and every tree starts with some
        (Linux 6.1's uapi already lays dozens of structs out differently on i386). A failure whose
        baseline lies beyond a cut-off history does not either: nobody can tell."""
        if self.kind in (VerdictKind.NEW_FAIL,) or (self.kind == VerdictKind.STILL_FAILING and self.new_errors):
            return True
        if self.kind == VerdictKind.NO_BASELINE and self.status == Status.FAIL:
            return not is_check(self.cell_id)
        return fail_on_warnings and bool(self.new_warnings)

    @property
    def is_fix(self) -> bool:
        return self.kind in (VerdictKind.FIXED, VerdictKind.WARNINGS_FIXED) or (self.kind == VerdictKind.STILL_FAILING and bool(self.gone_errors))


@dataclass
class FirstBad:
    """Where a regression began, found by bisection: the first commit whose result has its fingerprints."""

    cells: list[str]  # the cells that regressed alike (the first was built)
    fingerprints: list[str]  # the new diagnostics found first at that commit
    good: str  # the last good commit
    candidates: list[str]  # the first bad commit; several when commits next to it could not be judged
    builds: int  # builds the search made (results stored before cost none)
    tip: str = ""  # the commit where the regression was seen (the search's bad end)
    commits: dict[str, Commit] = field(default_factory=dict)  # the candidates' subjects and authors

    @property
    def found(self) -> bool:
        return len(self.candidates) == 1


@dataclass
class Row:
    """One commit of the table: its verdict per cell id (cells without a result are missing)."""

    sha: str
    subject: str
    verdicts: dict[str, Verdict]
    author: str = ""  # "Name <email>", where the store knows it


@dataclass
class RootCause:
    """One cause of regressions in one commit, whatever number of cells it broke: verdicts that share a
    new diagnostic (or gcc's and clang's wordings of one error) are one entry."""

    sha: str
    subject: str
    kind: VerdictKind  # NEW FAIL if any of its cells newly fails, else its first verdict's
    cells: list[str]
    diagnostics: list[Diagnostic]  # the new ones, each fingerprint once
    reason: str = ""  # the first cell's reason, for a failure that left no diagnostic
    author: str = ""  # the commit's
    first_bad: list[FirstBad] = field(default_factory=list)  # where bisection found it began

    @property
    def began_at(self) -> str | None:
        """The first bad commit every bisection of it named; None without one, or when one is a range."""
        named = {answer.candidates[0] if answer.found else "" for answer in self.first_bad}
        return named.pop() if len(named) == 1 and "" not in named else None

    @property
    def reproduce_at(self) -> str:
        """The commit to reproduce it at: the first bad commit bisection named, else its own."""
        return self.began_at or self.sha


@dataclass
class Report:
    """The commits × cells table of a range: what every view of a report shows."""

    rows: list[Row]
    cells: list[str]
    rerun: tuple[str, ...] = ()  # options for a reproduce command that works from any directory
    causes: list[RootCause] = field(default_factory=list)  # its regressions, one entry per root cause
    results: dict[tuple[str, str], BuildResult] = field(default_factory=dict)  # (sha, cell) → the result behind each verdict
    commits: dict[str, Commit] = field(default_factory=dict)  # sha → what the store knows of the commit (author, dates)



# --- the nightly ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailSettings:
    """The matrix's `nightly.mail:` (matrix reads it, views/mail uses it): where the nightly's report is
    sent (README: Mail). The password comes from an environment variable or a file, never from the matrix."""

    smtp: str  # HOST:PORT
    sender: str  # `from:`
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    cc_authors: bool = False  # Cc the author of each regression's first bad commit
    starttls: bool = False
    user: str | None = None
    password_env: str | None = None
    password_file: str | None = None  # absolute

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.smtp.rsplit(":", 1)
        return host, int(port)


class BranchState(StrEnum):
    """What happened to a branch in a nightly."""

    FIRST = "first nightly"
    NEW = "new commits"
    FORCE_PUSHED = "force-pushed"
    NOTHING_NEW = "nothing new"
    FETCH_FAILED = "fetch failed"


@dataclass
class Pruned:
    """What a nightly's retention removed."""

    paths: list[Path] = field(default_factory=list)
    freed: int = 0  # bytes
    kept: int = 0  # bytes left in artifact directories


@dataclass
class BranchRun:
    """One branch of a nightly: what was fetched, built and judged."""

    tree: str
    branch: str
    source: str  # the URL or local path
    state: BranchState = BranchState.FETCH_FAILED
    detail: str = ""
    previous_tip: str | None = None
    tip: str | None = None
    repo: Path | None = None  # where the commits were built from (a mirror, or the local tree)
    reference: Row | None = None  # the previous nightly's tip, shown first
    rows: list[Row] = field(default_factory=list)  # the commits built now, oldest first
    results: list[BuildResult] = field(default_factory=list)
    built: int = 0  # cell builds this run made (the rest were stored already), bisections' included
    built_cells: set[str] = field(default_factory=set)
    reused: int = 0  # cell results this run reused from an earlier commit instead of building
    audits: list[ReuseAudit] = field(default_factory=list)  # reused results built anyway to check them
    first_bad: list[FirstBad] = field(default_factory=list)  # where the tip's regressions began
    causes: list[RootCause] = field(default_factory=list)  # its regressions, one entry per root cause

    def regressions(self, fail_on_warnings: bool = False) -> list[tuple[Row, Verdict]]:
        return [(row, v) for row in self.rows for v in row.verdicts.values() if v.is_regression(fail_on_warnings)]

    @property
    def infra(self) -> bool:
        return self.state == BranchState.FETCH_FAILED or any(r.status in (Status.INFRA, Status.MATRIX_ERROR) for r in self.results)


@dataclass
class Nightly:
    """One nightly run over every tree and branch of the matrix."""

    date: str  # UTC date of the start, YYYY-MM-DD
    started: str
    finished: str = ""
    matrix: str = ""  # absolute
    results: str = ""  # the results directory, absolute
    cells: list[str] = field(default_factory=list)
    branches: list[BranchRun] = field(default_factory=list)
    pruned: Pruned = field(default_factory=Pruned)
    fail_on_warnings: bool = False
    report_dir: Path | None = None
    mail: str = ""  # what became of the report's mail: "" (none configured), "sent to …", or why it was not sent
    mail_failed: bool = False
