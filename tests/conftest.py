"""Shared fixtures. End-to-end tests build the demo tree for real; in CI (CI=true) they never skip."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import regress
from orchestrator.models import BuildResult, Commit, Diagnostic, FirstBad, Report, Status
from orchestrator.views import export

PROJECT = Path(__file__).resolve().parent.parent
DEMO_TREE = Path(os.environ.get("ORCHESTRATOR_DEMO_TREE", PROJECT / "build" / "linux"))


@pytest.fixture(scope="session", autouse=True)
def own_work_root(tmp_path_factory):
    """Every command a test runs works under this session's own work root, never the user's
    ~/.cache/orchestrator: once, each test's clone left a 1.3 GB worktree there for good (7 GB after one
    run). Removed at the end. ccache stays the host's (the builds' default), so builds stay warm."""
    before = os.environ.get("ORCHESTRATOR_WORK")
    root = tmp_path_factory.mktemp("work")
    os.environ["ORCHESTRATOR_WORK"] = str(root)
    os.environ.setdefault("CCACHE_DIR", str(Path.home() / ".cache" / "orchestrator" / "ccache"))
    yield root
    if before is None:
        del os.environ["ORCHESTRATOR_WORK"]
    else:
        os.environ["ORCHESTRATOR_WORK"] = before
    shutil.rmtree(root, ignore_errors=True)
    if (DEMO_TREE / ".git").exists():  # its worktree there is gone: forget it
        subprocess.run(["git", "-C", str(DEMO_TREE), "worktree", "prune"], check=False)


@pytest.fixture(scope="session")
def demo_tree() -> Path:
    if not (DEMO_TREE / ".git").exists():
        message = f"no demo tree at {DEMO_TREE}: run scripts/setup (or orchestrate demo-tree {DEMO_TREE})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return DEMO_TREE


def command_env(**extra: str) -> dict:
    """The environment for running this checkout's command line, whatever else is installed."""
    path = os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", **extra}


def orchestrate(*args: str, cwd: Path = PROJECT, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real command line, as a user would (`input`: its standard input)."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True, env=command_env(**(env or {})), input=input
    )


def one_error_line(run: subprocess.CompletedProcess) -> str:
    """The run's stderr is exactly one line, an error; no traceback anywhere."""
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("orchestrate: error: "), run.stderr
    return run.stderr


def start(*args: str, cwd: Path = PROJECT, env: dict | None = None) -> subprocess.Popen:
    """Start the real command line in the background (output and errors together, as text). It starts
    with Ctrl-C's default action, as from a shell, whatever an earlier test left this process ignoring
    (a child inherits an ignored or blocked SIGINT, and Python then never raises KeyboardInterrupt)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # nor blocked: a child inherits the mask too
    try:
        return _popen(args, cwd, env)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)


def _popen(args: tuple[str, ...], cwd: Path, env: dict | None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=command_env(**(env or {})),
    )


def commit_change(repo: Path, path: str, old: str, new: str, subject: str) -> str:
    """Commit one edit of one file on top of HEAD; see commit_changes."""
    return commit_changes(repo, [(path, old, new)], subject)


def commit_changes(repo: Path, edits: list[tuple[str, str, str]], subject: str, author: tuple[str, str] = ("t", "t@t.invalid")) -> str:
    """Commit edits (path, old, new: the first `old` in the file becomes `new`, in order; a new file's
    `old` is "") on top of HEAD without a checkout, with git plumbing only; returns the new commit's sha.

    `new` may carry raw bytes as surrogate escapes ("\udce9" is the byte 0xe9), to make non-UTF-8 sources.
    """

    def git(*args: str, input: bytes | None = None, env: dict | None = None) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            check=True,
            capture_output=True,
            input=input,
            env={**os.environ, **(env or {})},
        ).stdout.decode("utf-8", "surrogateescape")

    files: dict[str, bytes] = {}
    for path, old, new in edits:
        text = files.get(path)
        if text is None and old == "" and not git("ls-tree", "HEAD", "--", path):
            text = b""  # a new file
        if text is None:
            text = git("show", f"HEAD:{path}").encode("utf-8", "surrogateescape")
        old_bytes, new_bytes = old.encode(), new.encode("utf-8", "surrogateescape")
        assert old_bytes in text, f"{old!r} not in {path}"
        files[path] = text.replace(old_bytes, new_bytes, 1)
    index = {"GIT_INDEX_FILE": str(Path(git("rev-parse", "--absolute-git-dir").strip()) / "test-index")}
    git("read-tree", "HEAD", env=index)
    for path, text in files.items():
        blob = git("hash-object", "-w", "--stdin", input=text).strip()
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
    tree = git("write-tree", env=index).strip()
    identity = {
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t.invalid",
    }
    sha = git("commit-tree", tree, "-p", "HEAD", "-m", subject, env=identity).strip()
    git("update-ref", "HEAD", sha)
    return sha


def descendants(pid: int) -> dict[int, str]:
    """The processes `pid` started, and theirs, as pid → start time (which tells a pid reused later):
    tests look only at processes they started, never at the whole machine."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _stat(int(entry))
            if parent:
                children.setdefault(parent[0], []).append(int(entry))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            stat = _stat(child)
            if stat:
                found[child] = stat[1]
                todo.append(child)
    return found


def still_running(processes: dict[int, str], within: float = 10.0) -> list[int]:
    """Those of `processes` (from descendants) still alive after `within` seconds: same pid, same start
    time. (Helpers such as multiprocessing's forkserver leave a moment after the run that owns them.)"""
    deadline = time.monotonic() + within
    while True:
        alive = [pid for pid, started in processes.items() if (_stat(pid) or (0, ""))[1] == started and _state(pid) != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _stat(pid: int):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[19]  # parent, start time (clock ticks since boot)
    except (OSError, ValueError, IndexError):
        return None


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


# --- a constructed table (no build): every verdict kind, for the views' tests -----------------------

A, B, C = "a" * 40, "b" * 40, "c" * 40
SEED = Diagnostic(
    "error", "arch/riscv/kvm/vcpu_sbi.c", 87, 26, "'struct <anonymous>' has no member named 'flags'",
    function="kvm_riscv_vcpu_sbi_system_reset", excerpt=["   87 |         run->system_event.flags = 1;"], fingerprint="9d16",
)
UNUSED = Diagnostic("warning", "arch/riscv/kvm/vcpu_sbi.c", 97, 13, "unused variable 'x'", option="-Wunused-variable", fingerprint="77ab")


def every_kind(fail_on_warnings: bool = False) -> Report:
    """A table whose cells between them have every verdict kind (each cell is a story down A, B, C), with
    its root causes grouped as pipeline.report groups them."""
    def build(sha: str, cell: str, status: Status, *diagnostics: Diagnostic) -> BuildResult:
        return BuildResult(cell_id=cell, sha=sha, status=status, definition="d", diagnostics=list(diagnostics), reason="r",
                           duration=10.0 + len(diagnostics), artifacts_dir=f"{sha}/{cell}")  # fmt: skip

    stories = {
        "fails": [(A, Status.PASS, ()), (B, Status.FAIL, (SEED,)), (C, Status.PASS, ())],  # NEW FAIL, FIXED
        "still": [(A, Status.FAIL, (SEED,)), (B, Status.FAIL, (SEED, UNUSED)), (C, Status.PASS, (UNUSED,))],  # STILL FAILING
        "warns": [(A, Status.PASS, ()), (B, Status.PASS, (UNUSED,)), (C, Status.PASS, ())],  # NEW WARNINGS, FIXED
        "host": [(A, Status.INFRA, ()), (B, Status.MATRIX_ERROR, ()), (C, Status.PASS, ())],  # INFRA, MATRIX, NO BASELINE
        "same": [(A, Status.PASS, (UNUSED,)), (B, Status.PASS, (UNUSED,))],  # PASS: nothing new, nothing gone
        "cut": [(C, Status.FAIL, (SEED,))],  # a shallow clone: BASELINE UNKNOWN
    }
    results = {(sha, cell): build(sha, cell, status, *d) for cell, story in stories.items() for sha, status, d in story}
    rows = regress.table([(A, "a"), (B, "b"), (C, "c")], results, list(stories), cut=frozenset({("cut", "d")}))
    report = Report(rows=rows, cells=list(stories), rerun=("--tree", "/src/linux"), results=results)
    report.causes = regress.root_causes(export.regressions(report, fail_on_warnings), fail_on_warnings)
    return report




def bisected(report: Report) -> Report:
    """`report` (every_kind) with what a bisection found about B's new failure in "fails": B itself,
    seen at C, the tip of a nightly."""
    answer = FirstBad(["fails"], [SEED.fingerprint], A, [B], 2, tip=C, commits={B: Commit(B, "b", "d", "Au Thor <au@thor.invalid>")})
    report.causes = regress.with_first_bad(report.causes, [answer])
    return report


# --- real servers and a real browser, on this machine only ------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def certificates(directory: Path) -> dict[str, Path]:
    """A CA and a certificate it signed for 127.0.0.1, made with openssl (no key leaves the test)."""
    ca_key, ca, key, request, cert = (directory / name for name in ("ca.key", "ca.pem", "node.key", "node.csr", "node.pem"))
    extension = directory / "san.cnf"
    extension.write_text("subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth, clientAuth\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
            "-subj", "/CN=orchestrator test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request), "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert), "-days", "2",
            "-extfile", str(extension))  # fmt: skip
    return {"ca": ca, "cert": cert, "key": key}


CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/setup installs it)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (its own browsers are never downloaded)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs it")
        pytest.skip(f"{CHROMIUM} is missing (scripts/setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # root needs --no-sandbox
        yield launched
        launched.close()


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 while entered; `.messages` holds what it received, as
    a mail program parses it, and `.envelopes` (sender, recipients) of each."""

    def __enter__(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.envelopes: list = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    async def handle_DATA(self, server, session, envelope) -> str:
        from email import message_from_bytes, policy

        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    with SmtpServer() as server:
        yield server
