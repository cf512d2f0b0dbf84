"""Hostile input: a matrix, a commit, an artifacts directory or a log written by someone who means
harm, and what each may not do. Each test is one of the tries that once failed (issue 30), made for
real: a file named `$(touch PWNED).config`, symlinks planted in a temporary results directory, a
commit whose subject holds escape sequences, a scheduler socket that never answers, a 10 MB line.

No test here builds a kernel: what is refused is refused before a build starts, and stored results come
from `orchestrate import` of artifacts a real build left (tests/data/builds/tuxmake-artifacts).
Host faults that need a build are in test_faults.py.
"""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import PROJECT, command_env, free_port, one_error_line, orchestrate, start

from orchestrator import logparse, matrix
from orchestrator.errors import UserError
from orchestrator.imported import ArtifactsError, read_result
from orchestrator.lock import Lock
from orchestrator.safefile import LinkedFileError
from orchestrator.store import Store

ARTIFACTS = PROJECT / "tests" / "data" / "builds" / "tuxmake-artifacts"  # a real pass of the riscv gcc KVM cell
CELL = "riscv-gcc-defconfig+kvm"
# What a hostile subject, author or compiler message carries: a window title (OSC), clear screen (CSI),
# a bell, a carriage return hiding what came before, a right-to-left override, and rich markup.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r[/] [link=file:///etc/passwd]x[/link] [bold]b\u202egnp.exe"
RAW = ("\x1b", "\x07", "\r", "\u202e", "\x9b")  # none of these may reach a terminal, a header or XML


class Site:
    """A small git tree (one commit, no kernel), a matrix of the riscv gcc KVM cell over it, and a place
    for results: enough for everything but a build."""

    def __init__(self, root: Path, subject: str = "plain commit", author: str = "A U Thor"):
        self.root = root
        self.tree = root / "tree"
        self.tree.mkdir()
        git(self.tree, "init", "--quiet")
        (self.tree / "README").write_text("not a kernel\n")
        git(self.tree, "add", "README")
        identity = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": "a@u.invalid", "GIT_COMMITTER_NAME": "c", "GIT_COMMITTER_EMAIL": "c@c.invalid"}
        git(self.tree, "commit", "--quiet", "-m", subject, env=identity)
        self.sha = git(self.tree, "rev-parse", "HEAD")
        (root / "configs").mkdir()
        shutil.copy(PROJECT / "configs" / "kvm.config", root / "configs" / "kvm.config")
        self.matrix = root / "matrix.yaml"
        self.matrix.write_text(f"tree: {{path: {self.tree}}}\ninclude:\n  - {{arch: riscv, toolchain: gcc, fragments: [kvm]}}\n")
        self.results = root / "results"
        self.work = root / "work"

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return orchestrate(*args, "--matrix", str(self.matrix), "--results", str(self.results), env={"ORCHESTRATOR_WORK": str(self.work), **env})

    def artifacts(self, name: str = "artifacts") -> Path:
        """A copy of a real build's artifacts to doctor."""
        return Path(shutil.copytree(ARTIFACTS, self.root / name))

    def imported(self, directory: Path, *more: str) -> subprocess.CompletedProcess:
        return self.run("import", str(directory), "--commit", self.sha, "--cell", CELL, *more)


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True)
    return done.stdout.strip()


@pytest.fixture
def site(tmp_path) -> Site:
    return Site(tmp_path)


def nothing_pwned(*places: Path) -> None:
    """No file named PWNED was made anywhere the commands could have run."""
    for place in (*places, PROJECT):
        assert not list(place.rglob("PWNED")), place


# --- 1. names are data, never code ---------------------------------------------------------------


def test_a_fragment_named_like_a_shell_command_is_refused_before_anything_runs(site):
    (site.root / "configs" / "$(touch PWNED).config").write_text("CONFIG_KVM=y\n")
    site.matrix.write_text(f"tree: {{path: {site.tree}}}\ninclude:\n  - {{arch: riscv, fragments: ['$(touch PWNED)']}}\n")
    for args in (["plan"], ["--commit", "HEAD"]):
        run = site.run(*args)
        assert run.returncode == 2
        assert f"{site.matrix}:3: fragment '$(touch PWNED)' must be the name of a file in configs/, in letters, digits" in one_error_line(run)
    nothing_pwned(site.root)


@pytest.mark.parametrize(
    "include, said",
    [
        ("{arch: riscv, fragments: ['a b']}", "fragment 'a b' must be the name of a file in configs/"),  # a cell id with a space
        ("{arch: riscv, targets: [config, 'arch/{nosuch}/kvm/']}", "target 'arch/{nosuch}/kvm/' is neither a tuxmake target"),
        ("{arch: riscv, targets: [config, '{0}/']}", "target '{0}/' is neither a tuxmake target"),
        ("{arch: riscv, targets: [config, 'arch/$(id)/']}", "target 'arch/$(id)/' is neither a tuxmake target"),
        ("{arch: riscv, make_variables: {KCFLAGS: '$(shell touch PWNED)'}}", "make_variables KCFLAGS: '$(shell touch PWNED)' may not hold $"),
        ("{arch: riscv, make_variables: {W: '{build_dir}'}}", "make_variables W: '{build_dir}' may not hold $, `, { }"),
    ],
)
def test_what_becomes_a_path_a_make_argument_or_a_cell_id_keeps_to_a_safe_alphabet(tmp_path, include, said):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "a b.config").write_text("CONFIG_KVM=y\n")
    path = tmp_path / "matrix.yaml"
    path.write_text(f"include:\n  - {include}\n")
    with pytest.raises(UserError, match=r"^" + str(path).replace("+", r"\+") + ":2: ") as refused:
        matrix.load(path)
    assert said in str(refused.value)


@pytest.mark.parametrize("variable, what", [("ORCHESTRATOR_RESULTS", "results directory"), ("ORCHESTRATOR_WORK", "work directory")])
def test_a_results_or_work_directory_a_shell_would_misread_is_refused_before_a_build(site, variable, what):
    """tuxmake writes its build paths into `sh -c` commands: the path must be one plain word."""
    place = site.root / "$(touch PWNED) x"
    env = {"ORCHESTRATOR_RESULTS": str(site.results), "ORCHESTRATOR_WORK": str(site.work), variable: str(place)}
    run = orchestrate("--commit", "HEAD", "--matrix", str(site.matrix), env=env)
    assert run.returncode == 2
    assert f"{what} {place}: holds characters a shell would read (tuxmake runs its build paths through sh)" in one_error_line(run)
    nothing_pwned(site.root)


# --- 2. files under the store only ---------------------------------------------------------------


def test_an_import_holding_a_symlink_at_a_temporary_name_writes_nothing_through_it(site):
    """The store once wrote reproducer.sh.tmp through such a link (and chmod'ed its target 755)."""
    victim = site.root / "victim"
    victim.write_text("the user's file\n")
    victim.chmod(0o600)
    artifacts = site.artifacts()
    (artifacts / "reproducer.sh.tmp").symlink_to(victim)
    run = site.imported(artifacts)
    assert run.returncode == 2
    assert f"{artifacts}: reproducer.sh.tmp is a symbolic link; only regular files are imported" in one_error_line(run)
    assert victim.read_text() == "the user's file\n" and (victim.stat().st_mode & 0o777) == 0o600
    assert not Store(site.results).builds(site.sha)  # nothing stored


@pytest.mark.parametrize("link", ["config", "etc", "fragments/0-kvm.config"])
def test_an_import_stores_no_symlink_to_anything_outside(site, link):
    artifacts = site.artifacts()
    (artifacts / "config").unlink()
    (artifacts / "fragments").mkdir()
    target = {"config": Path("/etc/shadow"), "etc": Path("/"), "fragments/0-kvm.config": Path("/etc/passwd")}[link]
    if link == "config":
        (artifacts / "config").symlink_to(target)
    else:
        (artifacts / "config").write_text("")
        (artifacts / link).symlink_to(target)
    run = site.imported(artifacts)
    assert run.returncode == 2 and f"{link} is a symbolic link; only regular files are imported" in one_error_line(run)
    assert not (site.results / site.sha).exists() or not list((site.results / site.sha).rglob("*config*"))


def test_an_import_of_a_device_or_fifo_is_refused(site):
    artifacts = site.artifacts()
    os.mkfifo(artifacts / "build-debug.log")
    run = site.imported(artifacts)
    assert run.returncode == 2 and "build-debug.log is not a regular file; only regular files are imported" in one_error_line(run)


def test_an_import_never_replaces_a_stored_result_unless_told(site):
    first = site.imported(site.artifacts("first"))
    assert first.returncode == 0, first.stderr
    log = (site.results / site.sha / CELL / "build.log").read_text()
    other = site.artifacts("second")
    (other / "build.log").write_text(log + "# imported again\n")

    again = site.imported(other)

    assert again.returncode == 2
    said = f"{CELL} at {site.sha[:12]} has a result already (PASS, imported:elsewhere); importing would replace it: pass --replace"
    assert said in one_error_line(again)
    assert (site.results / site.sha / CELL / "build.log").read_text() == log
    replaced = site.imported(other, "--replace")
    assert replaced.returncode == 0 and (site.results / site.sha / CELL / "build.log").read_text().endswith("# imported again\n")


@pytest.mark.parametrize(
    "path, value, said",
    [
        (("results", "errors"), "7", "results.errors is \"7\", not a whole number"),
        (("results", "warnings"), [1], "results.warnings is [1], not a whole number"),
        (("results", "targets"), ["config"], "results.targets is [\"config\"], not a mapping"),
        (("results", "targets", "config"), "PASS", "results.targets.config is \"PASS\", not a mapping"),
        (("results", "duration"), 3, "results.duration is 3, not a mapping"),
        (("compiler",), "gcc", "compiler is \"gcc\", not a mapping"),
        (("build", "environment", "KCFLAGS"), 1, "build.environment.KCFLAGS is 1, not a string"),
    ],
)
def test_seven_wrong_types_in_an_imported_metadata_json_are_each_one_line(tmp_path, path, value, said):
    artifacts = Path(shutil.copytree(ARTIFACTS, tmp_path / "artifacts"))
    metadata = json.loads((artifacts / "metadata.json").read_text())
    place = metadata
    for key in path[:-1]:
        place = place.setdefault(key, {})
    place[path[-1]] = value
    (artifacts / "metadata.json").write_text(json.dumps(metadata))
    cell = next(c for c in matrix.load(PROJECT / "matrix.yaml").cells if c.id == CELL)
    with pytest.raises(ArtifactsError) as refused:
        read_result(artifacts, cell, "a" * 40, "ci")
    assert str(refused.value) == f"{artifacts}: metadata.json: {said}: is it tuxmake's?"


@pytest.mark.parametrize("where", ["cell lock", "work-root lock", "nightly lock"])
def test_a_lock_file_that_is_a_symlink_truncates_nothing(site, where):
    victim = site.root / "victim"
    victim.write_text("keep me\n")
    places = {
        "cell lock": site.results / site.sha / f"{CELL}.lock",
        "work-root lock": site.work / "lock",
        "nightly lock": site.results / "nightly" / "lock",
    }
    places[where].parent.mkdir(parents=True, exist_ok=True)
    places[where].symlink_to(victim)
    with pytest.raises(LinkedFileError) as refused:
        Lock(places[where]).__enter__()
    assert str(refused.value) == f"{places[where]} is a symbolic link, not a file orchestrate made; remove it and run again"
    if where == "cell lock":  # and through the command line: one line, before anything is built
        run = site.run("--commit", "HEAD")
        assert run.returncode == 2 and f"{places[where]} leads outside the results directory (a symbolic link?)" in one_error_line(run)
    assert victim.read_text() == "keep me\n"


def test_a_commits_directory_that_leads_outside_the_store_is_refused(site):
    elsewhere = site.root / "elsewhere"
    elsewhere.mkdir()
    site.results.mkdir()
    (site.results / site.sha).symlink_to(elsewhere)
    run = site.imported(site.artifacts())
    assert run.returncode == 2
    assert f"{site.results / site.sha / CELL}.lock leads outside the results directory (a symbolic link?); remove it" in one_error_line(run)
    assert list(elsewhere.iterdir()) == []


def test_a_database_that_is_a_symlink_is_refused(site):
    site.results.mkdir()
    victim = site.root / "victim.db"
    victim.write_text("not yours\n")
    (site.results / "results.db").symlink_to(victim)
    run = site.run("show", "HEAD")
    assert run.returncode == 2 and "results.db is a symbolic link, not a database orchestrate made; remove it" in one_error_line(run)
    assert victim.read_text() == "not yours\n"


# --- 3. text from outside is inert ---------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path) -> Site:
    """A commit whose subject and author carry escape sequences and markup, built (imported) as a
    failure whose compiler error carries them too."""
    made = Site(tmp_path, subject=f"KVM: {HOSTILE}", author=f"Mal {HOSTILE}")
    artifacts = made.artifacts()
    (artifacts / "build.log").write_text(
        (artifacts / "build.log").read_text()
        + f"arch/riscv/kvm/vcpu_sbi.c:87:26: error: {HOSTILE}\n   87 |  {HOSTILE}\n      |  ^\n"
        + "make[4]: *** [scripts/Makefile.build:250: arch/riscv/kvm/vcpu_sbi.o] Error 1\n"
    )
    metadata = json.loads((artifacts / "metadata.json").read_text())
    metadata["results"]["targets"]["make:arch/riscv/kvm/"]["status"] = "FAIL"
    (artifacts / "metadata.json").write_text(json.dumps(metadata))
    imported = made.imported(artifacts)
    assert imported.returncode == 0, imported.stderr
    return made


def inert(output: str, shown: str = "\\x1b]0;pwned\\x07") -> str:
    """`output` holds no raw control character, and shows the hostile text as what it is (JSON in its
    own escapes)."""
    for raw in RAW:
        assert raw not in output, f"{raw!r} reached the output"
    assert shown in output
    return output


def test_every_view_shows_a_hostile_commit_and_log_as_text(hostile):
    shown = hostile.run("show", "HEAD")
    assert shown.returncode == 0, shown.stderr
    assert "[/] [link=file:///etc/passwd]x[/link] [bold]b\\u202egnp.exe" in inert(shown.stdout)  # markup shown, not obeyed

    judged = hostile.run("--commit", "HEAD")  # stored already: the summary, the verdicts, the cause
    assert judged.returncode == 1, judged.stderr  # a failure with no baseline: a regression, not a crash
    inert(judged.stdout + judged.stderr)

    for form in ("table", "markdown", "json", "junit", "html", "kcidb"):
        report = hostile.run("report", "HEAD", "--format", form)
        assert report.returncode == 0, (form, report.stderr)
        inert(report.stdout, "\\u001b]0;pwned\\u0007" if form in ("json", "kcidb") else "\\x1b]0;pwned\\x07")
        if form == "json":  # the data itself is kept: escaping is the view's
            assert "\x1b]0;pwned\x07" in json.loads(report.stdout)["commits"][0]["subject"]
        if form == "kcidb":
            assert "\x1b]0;pwned\x07" in json.loads(report.stdout)["checkouts"][0]["comment"]
        if form == "junit":
            ElementTree.fromstring(report.stdout.encode())  # well-formed, whatever the subject held

    log = hostile.results / hostile.sha / CELL / "build.log"
    for form, shown in (("text", "\\x1b]0;pwned\\x07"), ("json", "\\u001b]0;pwned\\u0007")):
        parsed = orchestrate("parse", str(log), "--format", form)
        assert parsed.returncode == 0 and "error" in inert(parsed.stdout, shown)
    assert json.loads(orchestrate("parse", str(log), "--format", "json").stdout)["root_cause"]["message"] == HOSTILE  # the data kept


def test_the_nightly_mail_of_a_hostile_commit_has_clean_headers(hostile):
    from datetime import UTC, datetime

    from orchestrator.models import BranchRun, MailSettings, Nightly, RootCause, VerdictKind
    from orchestrator.views import mail

    cause = RootCause(hostile.sha, f"KVM: {HOSTILE}", VerdictKind.NEW_FAIL, [CELL], [], author=f"Mal {HOSTILE} <m@x.invalid>")
    branch = BranchRun("linux", f"next{HOSTILE}", str(hostile.tree), causes=[cause])
    night = Nightly(date="2026-12-05", started="", branches=[branch])
    settings = MailSettings(smtp="localhost:25", sender="ci@x.invalid", to=("kvm@x.invalid",), cc_authors=True)
    message = mail.compose(night, settings, f"body {HOSTILE}\n", "<html></html>", datetime.now(UTC))
    for header in ("Subject", "Cc"):
        assert not any(raw in message[header] for raw in RAW), message[header]
    assert "\\x1b]0;pwned\\x07" in message["Subject"]
    assert not any(raw in message.get_body().get_content() for raw in RAW)


# --- 4. linear parsing ---------------------------------------------------------------------------


def cpu(call) -> float:
    started = time.process_time()
    call()
    return time.process_time() - started


def test_a_long_line_and_a_large_log_parse_in_time_proportional_to_their_size(tmp_path):
    """CPU time, compared within one run (never a wall-clock bound): 10x the log costs about 10x, a
    10 MB line no more than 10 MB of ordinary lines. Each quadratic pattern once made a 40 KB line take
    31 s and a 1 MB one over 10 minutes."""
    lines = b"".join(b"  CC      drivers/net/ethernet/intel/e1000/e1000_main%d.o\n" % i for i in range(1000))
    unit = lines + b"drivers/x.c:12:5: warning: unused variable 'x' [-Wunused-variable]\n   12 |  int x;\n      |      ^\n"
    small, large = tmp_path / "10M.log", tmp_path / "100M.log"
    small.write_bytes(unit * (10 * 2**20 // len(unit)))
    large.write_bytes(unit * (100 * 2**20 // len(unit)))
    with small.open("rb") as log:
        base = cpu(lambda: logparse.parse(log))
    with large.open("rb") as log:
        assert cpu(lambda: logparse.parse(log)) < 25 * base  # linear: ~10x; quadratic: ~100x
    long_lines = ("x.c:1:2: error: " + "a.c:1 " * 2**20, "a" * 10 * 2**20, "make[1]: *** [" + "/a" * 5 * 2**20, "WARNING: modpost: " + ".[" * 2**22)
    for line in long_lines:
        (tmp_path / "line.log").write_text(line + "\n")
        with (tmp_path / "line.log").open("rb") as log:
            assert cpu(lambda log=log: logparse.parse(log)) < 5 * base + 0.5, line[:20]


ADVERSARIAL = ["a", "a.", "/a", ": ", "[:", ".[", " [-W", "a:1", "a.c:1", "(", "'", "` ", "\t", "~^", "0x"]
PREFIXES = ["", "x.c:1:2: error: ", "make[1]: *** ", "make[1]: *** [", "In file included from ", "ld: ", "ld.lld: error: ",
            "WARNING: modpost: ", "/usr/bin/ld: ", "x.c: In function ", "00:00:01 "]  # fmt: skip


def test_no_line_a_log_can_hold_makes_the_parser_quadratic():
    """Lines made of what the parser's patterns look for, repeated: 8x as long may cost about 8x."""
    for prefix in PREFIXES:
        for unit in ADVERSARIAL:
            short, long = (prefix + unit * (n // len(unit)) for n in (4000, 32000))
            ratio = cpu(lambda long=long: logparse.parse([long] * 4)) / max(cpu(lambda short=short: logparse.parse([short] * 4)), 1e-4)
            assert ratio < 30, (prefix, unit, ratio)  # linear: ~8; quadratic: ~64


# --- 5. bounded everything -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, said",
    [
        ("axes:\n  arch: [riscv, arm64, riscv]\n", ":2: axes.arch lists 'riscv' twice; give each value once"),
        ("axes:\n  arch: [riscv]\n  arch: [arm64]\n", ":3: not valid YAML: 'arch' is given twice in one mapping (first at line 2); keep one"),
        ("axes:\n  kconfig: [" + ", ".join(f"k{n}" for n in range(70)) + "]\n  arch: [x86_64, i386, arm64, riscv, mips, sh, m68k]\n"
         "  toolchain: [gcc, clang, gcc-8, gcc-9, gcc-10, gcc-11, gcc-12, gcc-13, gcc-14, clang-13]\n",
         ":1: the axes and include make 4900 cells, more than the 4096 a matrix may have; split it into several matrices"),
        ("x: " + "[" * 100 + "]" * 100 + "\n", ":1: not valid YAML: nested more than 32 levels deep"),
        ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
         ":1: not valid YAML: expands to more than 100000 values (through aliases)"),
        ("executor: {address: 'tls://h:1', tls: {key: \"-----BEGIN PRIVATE KEY----- MIIEvQIBADANBg\"}}\ninclude: [{arch: riscv}]\n",
         ":1: executor.tls.key must be the path of a file (never the key itself)"),
        ("executor: {address: 'tls://h:1', tls: {key: \"k.pem\\n\"}}\ninclude: [{arch: riscv}]\n",
         ":1: executor.tls.key must be the path of a file (never the key itself)"),
        ("defaults: {jobs: 99999999999}\ninclude: [{arch: riscv}]\n", ":1: jobs '99999999999' must be a number from 1 to 1024, or 'auto'"),
    ],
)
def test_a_matrix_that_asks_for_too_much_is_one_line_and_quick(tmp_path, text, said):
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    started = time.process_time()
    with pytest.raises(UserError) as refused:
        matrix.load(path)
    assert str(refused.value) == f"{path}{said}"
    assert time.process_time() - started < 5  # it once ran for hours


def test_jobs_beyond_any_machine_are_refused(site):
    run = site.run("--commit", "HEAD", "--jobs", "99999999999")
    assert run.returncode == 2 and "--jobs 99999999999: must be a number from 1 to 1024" in one_error_line(run)
    assert matrix.SCHEMA["$defs"]["jobs"]["anyOf"][2]["maximum"] == matrix.MAX_JOBS


class MuteScheduler:
    """A socket on 127.0.0.1 that accepts connections and never says a word."""

    def __enter__(self) -> "MuteScheduler":
        self.socket = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.socket.getsockname()[1]
        self.held: list = []
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:
                return

    def __exit__(self, *exc) -> None:
        self.socket.close()
        for connection in self.held:
            connection.close()


def test_a_scheduler_that_never_answers_is_one_line_and_sigterm_stops_the_client(site):
    with MuteScheduler() as mute:
        site.matrix.write_text(
            f"tree: {{path: {site.tree}}}\nexecutor: {{address: 'dask://127.0.0.1:{mute.port}', source_url: {site.tree}}}\n"
            "include:\n  - {arch: riscv, toolchain: gcc, fragments: [kvm]}\n"
        )
        run = site.run("--commit", "HEAD")
        assert run.returncode == 2
        assert f"Dask scheduler tcp://127.0.0.1:{mute.port}: accepts connections but does not answer within 10 s" in one_error_line(run)

        waiting = start("--commit", "HEAD", "--matrix", str(site.matrix), "--results", str(site.results), env={"ORCHESTRATOR_WORK": str(site.work)})
        time.sleep(4)  # connecting, in vain
        waiting.send_signal(signal.SIGTERM)
        output, _ = waiting.communicate(timeout=30)
    assert waiting.returncode == 130, output
    assert "Traceback" not in output and output.rstrip().endswith("orchestrate: interrupted; every build that finished is stored")


# --- 7. errors as lines ---------------------------------------------------------------------------


def test_parse_of_a_closed_standard_input_is_one_line():
    run = subprocess.run([sys.executable, "-m", "orchestrator", "parse", "-"], stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=PROJECT)
    assert run.returncode == 0  # empty input: an empty log
    closed = subprocess.run(["sh", "-c", 'exec "$0" -m orchestrator parse - <&-', sys.executable], capture_output=True, text=True, cwd=PROJECT)
    assert closed.returncode == 2 and "parse -: standard input is closed" in one_error_line(closed)


def test_a_read_command_leaves_no_new_store_where_it_looked(site):
    """`show --results /` once made /results.db."""
    site.results.mkdir()
    for args in (["show", "HEAD"], ["report", "HEAD"], ["export", "kcidb", "HEAD"]):
        run = site.run(*args)
        assert run.returncode == 2 and f"'HEAD': no stored results for {site.sha[:12]}; build it first" in one_error_line(run)
    assert list(site.results.iterdir()) == []


def test_recover_reads_every_row_of_a_database_missing_its_last_pages(tmp_path):
    from orchestrator.models import BuildResult, Commit, Diagnostic, Status

    store = Store(tmp_path)
    for n in range(300):
        sha = f"{n:040x}"
        store.add_commit(Commit(sha, f"subject {n}", "2026-12-05"))
        store.add_build(BuildResult(CELL, sha, Status.PASS, "d", diagnostics=[Diagnostic("warning", "x.c", n, 1, "m" * 200, fingerprint=str(n))] * 5))
    store.close()
    db = sqlite3.connect(tmp_path / "results.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = (tmp_path / "results.db").stat().st_size
    os.truncate(tmp_path / "results.db", size - 2 * 4096)  # its last two pages gone: once, nothing at all was read

    run = orchestrate("recover", "--results", str(tmp_path))

    assert run.returncode == 0, run.stderr
    recovered = Store(tmp_path)
    assert len(recovered.commits([f"{n:040x}" for n in range(300)])) == 300
    assert all(recovered.result(f"{n:040x}", CELL, "d") is not None for n in range(300))
    assert "rows copied into a new" in run.stdout


def test_an_imported_log_of_hundreds_of_megabytes_is_read_in_bounded_memory(site):
    """The log is streamed: a 2 GB one once took 4.2 GB of memory. Here 200 MB, in a child process
    whose peak resident size is measured."""
    artifacts = site.artifacts()
    line = b"  CC      drivers/net/ethernet/intel/e1000/e1000_main.o\n"
    with (artifacts / "build.log").open("ab") as log:
        for _ in range(200):
            log.write(line * (2**20 // len(line)))
    command = ["import", str(artifacts), "--commit", site.sha, "--cell", CELL, "--matrix", str(site.matrix), "--results", str(site.results)]
    # VmHWM: the peak of this process's own memory (ru_maxrss would count the parent's, kept over exec)
    code = "import sys; from orchestrator.cli import main; c = main(sys.argv[1:]); print(open('/proc/self/status').read()); sys.exit(c)"
    run = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, cwd=PROJECT, env=command_env())
    assert run.returncode == 0, run.stderr
    peak_mib = int(next(line for line in run.stdout.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024
    assert peak_mib < 120, peak_mib  # the interpreter and its imports take ~45 MiB, the log's blocks a few more
