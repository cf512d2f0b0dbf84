"""The nightly: what to build of a branch (pure), and end to end against a bare repository on disk as
the remote, with commits pushed between runs, real builds of the riscv gcc KVM cell, two real
nightly processes meeting at the lock, and a real nightly killed mid-run with SIGKILL.

On top of Linux 6.1 (the demo tree, A):
  B  riscv writes run->system_event.flags, which the kernel's struct does not have (the seed error);
  C  on top of B, an unused variable (riscv builds without -Werror: a warning);
  D  force-pushed over B and C: A plus a comment (a first nightly of it is interrupted with SIGINT).
"""

import json
import math
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
from conftest import PROJECT, SmtpServer, commit_changes, free_port, orchestrate, start
from test_seed_scenario import HEADER, OTHERS, SEED_A, SEV_ES, X86, undo

from orchestrator.models import BranchRun, BranchState, Nightly, ReuseAudit, Status
from orchestrator.nightly import exit_code as nightly_exit_code
from orchestrator.nightly import plan_branch
from orchestrator.views import export

FIRST, NEW, FORCE_PUSHED, NOTHING_NEW = BranchState.FIRST, BranchState.NEW, BranchState.FORCE_PUSHED, BranchState.NOTHING_NEW

A, B, C = "a" * 40, "b" * 40, "c" * 40

# --- what to build (pure) ---------------------------------------------------------------------


def test_a_branch_never_seen_builds_its_tip():
    plan = plan_branch(None, C, [], 0, False, each=True, tip_complete=False)
    assert (plan.state, plan.commits) == (FIRST, [C])


def test_new_commits_build_the_tip_or_with_each_every_one_newest_first():
    assert plan_branch(A, C, [C, B], 2, False, each=False, tip_complete=False).commits == [C]
    plan = plan_branch(A, C, [C, B], 2, False, each=True, tip_complete=False)
    assert (plan.state, plan.commits, plan.detail) == (NEW, [C, B], "2 new commits, building each")
    capped = plan_branch(A, C, [C], 2, False, each=True, tip_complete=False)
    assert capped.detail == "2 new commits, building the newest 1"


def test_nothing_new_costs_no_build_unless_the_tip_lacks_cells():
    plan = plan_branch(C, C, [], 0, False, each=False, tip_complete=True)
    assert (plan.state, plan.commits, plan.detail) == (NOTHING_NEW, [], f"nothing new since {C[:12]}")
    assert plan_branch(C, C, [], 0, False, each=False, tip_complete=False).commits == [C]


def test_a_force_push_is_said():
    plan = plan_branch(C, B, [B], 1, True, each=False, tip_complete=False)
    assert plan.state == FORCE_PUSHED and plan.commits == [B]
    assert plan.detail == f"force-pushed: the previous tip {C[:12]} is no longer on it; 1 new commit, building the tip"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-commits", "0"], "--max-commits 0: must be a positive number"),
        (["--disk-budget", "lots"], "--disk-budget 'lots' must be a size such as 20G, 500M or 'unlimited'"),
        (["--keep-days", "-1"], "--keep-days -1: must be 0 or more"),
        (["--mail-dry-run"], "matrix.yaml: --mail-dry-run, but the matrix has no nightly.mail; add one with smtp: HOST:PORT, from and to"),
    ],
)
def test_bad_nightly_options_are_one_line_and_exit_2(tmp_path, args, message):
    run = orchestrate("nightly", "--results", str(tmp_path / "r"), *args)
    assert run.returncode == 2 and run.stderr == f"orchestrate: error: {message}\n"


def test_a_mail_password_variable_that_is_not_set_is_said_before_anything_is_built(tmp_path):
    (tmp_path / "matrix.yaml").write_text(
        "trees:\n  - {name: demo, url: 'file:///nowhere.git', branches: [master]}\naxes: {arch: [riscv], toolchain: [gcc]}\n"
        "nightly:\n  mail: {smtp: 'smtp.example.org:587', from: ci@example.org, to: [kvm@example.org], user: ci, password_env: NO_SUCH_PASSWORD}\n"
    )
    run = orchestrate("nightly", "--matrix", str(tmp_path / "matrix.yaml"), "--results", str(tmp_path / "r"))
    assert run.returncode == 2 and run.stderr == (
        "orchestrate: error: nightly.mail.password_env: $NO_SUCH_PASSWORD is not set; export it for the nightly (or use password_file)\n"
    )
    assert not (tmp_path / "r" / "nightly").exists()


# --- end to end -------------------------------------------------------------------------------

CELL = "riscv-gcc-defconfig+kvm"
ARM64, RISCV = "arm64-gcc-defconfig+kvm", CELL
BREAK = ("arch/riscv/kvm/vcpu_sbi.c", "\trun->system_event.ndata = 1;\n", "\trun->system_event.flags = 1;\n")
UNUSED = ("arch/riscv/kvm/vcpu_sbi.c", "\tunsigned long i;\n", "\tunsigned long i;\n\tint orchestrator_unused;\n")
COMMENT = ("arch/riscv/kvm/vcpu_sbi.c", "\tunsigned long i;\n", "\tunsigned long i; /* a comment */\n")



class Site:
    """A remote (bare, on disk), a developer repository that pushes to it, and a nightly set-up."""

    def __init__(self, root: Path, demo_tree: Path, arches: str = "riscv", branches: str = "master, nope", more: str = ""):
        self.root = root
        self.remote = root / "remote.git"
        self.dev = root / "dev.git"
        subprocess.run(["git", "clone", "--quiet", "--bare", str(demo_tree), str(self.remote)], check=True)
        subprocess.run(["git", "clone", "--quiet", "--bare", "--shared", str(demo_tree), str(self.dev)], check=True)
        self.a = git(self.dev, "rev-parse", "HEAD")
        shutil.copytree(PROJECT / "configs", root / "configs")
        (root / "matrix.yaml").write_text(
            f"trees:\n  - {{name: demo, url: '{self.remote}', branches: [{branches}]}}\n"
            f"axes:\n  arch: [{arches}]\n  toolchain: [gcc]\n  fragments: [[kvm]]\n{more}"
        )
        self.results = root / "results"
        # Its own work root (mirror, worktree, build directory), shared ccache.
        self.env = {"ORCHESTRATOR_WORK": str(root / "work"), "CCACHE_DIR": str(Path.home() / ".cache/orchestrator/ccache")}

    def args(self, *extra: str) -> list[str]:
        return ["nightly", "--matrix", str(self.root / "matrix.yaml"), "--results", str(self.results), *extra]

    def nightly(self, *extra: str) -> subprocess.CompletedProcess:
        return orchestrate(*self.args(*extra), cwd=self.root, env=self.env)

    def start(self, *extra: str) -> subprocess.Popen:
        return start(*self.args(*extra), cwd=self.root, env=self.env)

    def push(self, *commits: tuple[list, str], force: bool = False) -> list[str]:
        shas = [commit_changes(self.dev, edits, subject) for edits, subject in commits]
        subprocess.run(["git", "-C", str(self.dev), "push", "--quiet", *(["--force"] if force else []), str(self.remote), "master"], check=True)
        return shas

    def report(self) -> tuple[str, dict]:
        directory = only(sorted((self.results / "nightly").glob("20*")))
        document = json.loads((directory / "report.json").read_text())
        jsonschema.validate(document, export.schema("nightly"))  # every real report.json keeps the contract
        return (directory / "report.md").read_text(), document

    def builds(self) -> dict[str, tuple[int, str]]:
        """sha → (build row id, status) of the cell."""
        db = sqlite3.connect(self.results / "results.db", timeout=30)
        try:
            return {sha: (id, status) for id, sha, status in db.execute("SELECT id, sha, status FROM builds WHERE cell = ?", (CELL,))}
        finally:
            db.close()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def only(items: list):
    assert len(items) == 1, items
    return items[0]


def branch(document: dict, name: str) -> dict:
    return only([b for b in document["branches"] if b["branch"] == name])


@pytest.fixture(scope="module")
def site(demo_tree, tmp_path_factory):
    return Site(tmp_path_factory.mktemp("nightly"), demo_tree)


@pytest.mark.e2e
def test_the_first_nightly_builds_each_tip_and_an_unknown_branch_is_an_infra_error(site):
    run = site.nightly()
    assert run.returncode == 2, run.stdout + run.stderr  # the unknown branch; master itself passes
    text, document = site.report()
    master, nope = branch(document, "master"), branch(document, "nope")
    assert (master["state"], master["tip"], master["builds"]) == (FIRST, site.a, 1)
    assert master["commits"][0]["verdicts"][0]["status"] == "pass"
    assert nope["state"] == "fetch failed" and "couldn't find remote ref refs/heads/nope" in nope["detail"]
    assert text.startswith("Subject: [orchestrator nightly ") and "infrastructure errors in demo/nope" in text.splitlines()[0]


@pytest.mark.e2e
def test_a_killed_nightly_keeps_what_finished_and_the_next_one_builds_only_the_rest(site):
    b, c = site.push(([BREAK], "riscv: write system_event.flags"), ([UNUSED], "riscv: an unused variable"))
    first = site.start("--each")
    try:
        deadline = time.monotonic() + 600
        while c not in site.builds():  # newest first: C is stored, B is being built
            assert first.poll() is None and time.monotonic() < deadline, first.stdout.read() if first.stdout else ""
            time.sleep(0.2)
        second = site.nightly("--each")  # a second real nightly meets the lock
        assert second.returncode == 75, second.stdout + second.stderr
        assert f"another nightly is running (pid {first.pid}" in second.stderr and "pass --wait" in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
        first.stdout.close()
    stored = site.builds()
    assert b not in stored  # B was cut off; C's result survived the kill

    resumed = site.nightly("--each")

    assert resumed.returncode == 1, resumed.stdout + resumed.stderr  # B is a new failure
    assert "is no longer running" in resumed.stdout + resumed.stderr  # the stale lock, taken over
    assert site.builds()[c] == stored[c]  # not built again
    text, document = site.report()
    master = branch(document, "master")
    assert (master["state"], master["builds"], master["previous_tip"]) == (NEW, 1, site.a)
    assert [row["sha"] for row in master["commits"]] == [b, c]
    assert master["regressions"] == [{"sha": b, "cell": CELL, "verdict": "NEW FAIL"}]
    # The mail: tree, branch, commit, cell, the error, and how to reproduce it.
    section = text[text.index("### NEW FAIL: riscv-gcc-defconfig+kvm") :]
    assert f"- tree: demo ({site.remote}), branch master" in section
    assert f"- commit: {b} (\"riscv: write system_event.flags\")" in section
    assert "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'" in section
    tuxmake = "tuxmake --runtime null --target-arch riscv --toolchain gcc --kconfig defconfig --kconfig-add configs/kvm.config"
    assert f"{tuxmake} config arch/riscv/kvm/" in section
    assert f"orchestrate --commit {b[:12]} --cells {CELL} --rebuild --tree " in section


@pytest.mark.e2e
def test_nothing_new_costs_no_build_and_retention_prunes_files_not_rows(site):
    rows = len(site.builds())
    run = site.nightly("--keep-days", "0")
    assert run.returncode == 2  # still the unknown branch
    text, document = site.report()
    master = branch(document, "master")
    assert master["state"] == NOTHING_NEW and master["builds"] == 0 and master["commits"] == []
    assert document["pruned"]["directories"] == rows
    assert len(site.builds()) == rows
    assert list((site.results / "nightly").glob("20*/report-*.md"))  # the earlier report of the day is kept
    shown = orchestrate("show", master["tip"], "--results", str(site.results), cwd=site.root)
    assert "pruned by the nightly's retention" in shown.stdout and "orchestrator_unused" in shown.stdout


@pytest.mark.e2e
def test_a_force_pushed_branch_is_said_and_judged_against_the_previous_tip(site):
    previous = git(site.remote, "rev-parse", "master")
    git(site.dev, "update-ref", "HEAD", site.a)
    (d,) = site.push(([COMMENT], "riscv: a comment"), force=True)
    # First a nightly interrupted with SIGINT (Ctrl-C) mid-build: it stops, stores nothing half-done.
    interrupted = site.start()
    log = site.results / d / f"{CELL}.partial" / "build.log"
    deadline = time.monotonic() + 300
    while not log.exists():
        assert interrupted.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    interrupted.send_signal(signal.SIGINT)
    output, _ = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 130 and "interrupted; every build that finished is stored" in output, output[-3000:]
    assert d not in site.builds()
    run = site.nightly()
    assert run.returncode == 2, run.stdout + run.stderr
    _, document = site.report()
    master = branch(document, "master")
    assert master["state"] == FORCE_PUSHED and master["tip"] == d
    assert f"the previous tip {previous[:12]} is no longer on it" in master["detail"]
    verdict = only(master["commits"][0]["verdicts"])
    assert (verdict["verdict"], verdict["baseline"]) == ("FIXED", previous)


@pytest.mark.e2e
def test_a_regression_at_the_tip_of_several_new_commits_is_bisected_to_its_first_bad_commit(site):
    readme = "Linux kernel\n============\n"
    harmless = [([("README", readme, f"{readme}\nharmless {n}\n")], f"docs: harmless {n}") for n in (1, 2)]
    later = [([("README", readme, f"{readme}\nharmless {n}\n")], f"docs: harmless {n}") for n in (3, 4)]
    shas = site.push(*harmless, ([BREAK], "riscv: write system_event.flags"), *later)
    run = site.nightly()
    assert run.returncode == 1, run.stdout + run.stderr  # the tip is a new failure
    bad = shas[2]
    text, document = site.report()
    master = branch(document, "master")
    [found] = master["first_bad"]
    assert (found["first_bad"], found["cells"], found["candidates"][0]["author"]) == (bad, [CELL], "t <t@t.invalid>")
    assert found["builds"] <= math.ceil(math.log2(5)) + 1
    assert master["builds"] == 1 + found["builds"]  # the tip, then the bisection's own
    line = f"first bad commit: {bad[:12]} riscv: write system_event.flags (t <t@t.invalid>), found in {found['builds']} build"
    assert line in text and line in run.stdout


# --- the seed scenario stretched over a night's commits: arm64 and riscv, bisected ----------------


@pytest.fixture(scope="module")
def seed_site(demo_tree, tmp_path_factory):
    """A nightly of arm64 and riscv whose first night saw A (system_event as before 5.18), both passing;
    it mails its report to a real SMTP server here, copying the authors of first bad commits."""
    with SmtpServer() as server:
        mail = f"nightly:\n  mail: {{smtp: '127.0.0.1:{server.port}', from: ci@ci.example.org, to: [kvm@vger.example.org], cc_authors: true}}\n"
        site = Site(tmp_path_factory.mktemp("nightly-seed"), demo_tree, arches="arm64, riscv", branches="master", more=mail)
        site.smtp = server
        site.push((HEADER + X86 + OTHERS, SEED_A))
        first = site.nightly()
        assert first.returncode == 0, first.stdout + first.stderr
        yield site


@pytest.mark.e2e
def test_a_nightly_names_the_sev_es_change_for_arm64_and_riscv_in_one_entry(seed_site):
    readme = "Linux kernel\n============\n"
    harmless = lambda n: ([("README", readme, f"{readme}\nharmless {n}\n")], f"docs: harmless {n}")  # noqa: E731
    sev_es = (undo(HEADER + X86), SEV_ES)
    shas = seed_site.push(harmless(1), harmless(2), harmless(3), sev_es, harmless(4), harmless(5))
    bad = shas[3]

    run = seed_site.nightly()

    assert run.returncode == 1, run.stdout + run.stderr
    text, document = seed_site.report()
    master = branch(document, "master")
    assert master["builds"] == 2 + sum(found["builds"] for found in master["first_bad"])  # the tip's two cells, then bisection
    # different errors in different files: a bisection each, both ending at B, in at most ceil(log2 6) + 1 builds
    assert sorted(cell for found in master["first_bad"] for cell in found["cells"]) == [ARM64, RISCV]
    for found in master["first_bad"]:
        assert found["first_bad"] == bad and found["builds"] <= math.ceil(math.log2(6)) + 1
    # one root cause: B, in both cells, with both errors
    [cause] = master["root_causes"]
    assert (cause["sha"], sorted(cause["cells"])) == (shas[-1], [ARM64, RISCV])
    assert sorted(d["file"] for d in cause["diagnostics"]) == ["arch/arm64/kvm/psci.c", "arch/riscv/kvm/vcpu_sbi.c"]
    assert "| 1 regression (2 cells) |" in text
    [entry] = text.split("### NEW FAIL: ")[1:]
    assert entry.startswith(f"{ARM64}, {RISCV}\n")
    line = f"first bad commit: {bad[:12]} {SEV_ES} (t <t@t.invalid>), found in "
    assert entry.count(line) == 1 and line in run.stdout  # said once for the cause, with both bisections' builds
    assert f"Reproduce, in a kernel tree at {bad[:12]}:" in entry and f"orchestrate --commit {bad[:12]} --cells {ARM64} --rebuild" in entry

    # The mail: the first night's said nothing new; this one names the regression and copies B's author.
    first, sent = seed_site.smtp.messages
    assert first["Subject"] == "[demo:master] no regressions"
    assert sent["Subject"] == f'[demo:master] 1 regression: {ARM64}, {RISCV} NEW FAIL since {bad[:12]} "{SEV_ES}"'
    assert (sent["From"], sent["To"], sent["Cc"]) == ("ci@ci.example.org", "kvm@vger.example.org", "t <t@t.invalid>")
    assert seed_site.smtp.envelopes[-1] == ("ci@ci.example.org", ["kvm@vger.example.org", "t@t.invalid"])
    body = sent.get_body(preferencelist=("plain",)).get_content()
    assert line in body and "has no member named 'flags'" in body
    [page] = sent.iter_attachments()
    assert page.get_filename() == "report.html" and "has no member named 'flags'" in page.get_content()
    assert "mail: sent to kvm@vger.example.org (cc t <t@t.invalid>)" in run.stdout
    assert document["mail"] == {"sent": True, "detail": "sent to kvm@vger.example.org (cc t <t@t.invalid>)"}


@pytest.mark.e2e
def test_a_mail_that_cannot_be_sent_exits_2_after_the_report_is_written_and_says_so_in_it(seed_site):
    matrix = seed_site.root / "matrix.yaml"
    text = matrix.read_text()
    down = free_port()  # nothing listens there
    matrix.write_text(text.replace(f"127.0.0.1:{seed_site.smtp.port}", f"127.0.0.1:{down}"))
    try:
        dry = seed_site.nightly("--mail-dry-run")  # nothing new: no build, and the mail printed, not sent
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "Subject: [demo:master] no regressions\nFrom: ci@ci.example.org\nTo: kvm@vger.example.org\n" in dry.stdout
        assert 'Content-Disposition: attachment; filename="report.html"' in dry.stdout
        run = seed_site.nightly()
    finally:
        matrix.write_text(text)
    assert run.returncode == 2, run.stdout + run.stderr
    said = f"mail to 127.0.0.1:{down} not sent: Connection refused"
    assert f"mail: {said}" in run.stdout and run.stderr == ""
    report, document = seed_site.report()
    assert f"Mail: NOT SENT: {said}" in report and document["mail"] == {"sent": False, "detail": said}
    assert (seed_site.results / "nightly" / document["date"] / "report.html").exists()


def test_a_reuse_mismatch_makes_the_nightly_exit_2_and_is_in_its_report():
    mismatch = ReuseAudit("x86", "c" * 40, "a" * 40, Status.PASS, Status.FAIL, missing=("a.c|error|x",))
    branch = BranchRun("kvm", "next", "/src/kvm", state=BranchState.NEW, tip="c" * 40, reused=3, audits=[mismatch])
    run = Nightly(date="2026-11-30", started="s", matrix="m", results="r", cells=["x86"], branches=[branch])
    assert nightly_exit_code(run) == 2
    document = json.loads(export.nightly_json(run))
    jsonschema.validate(document, export.schema("nightly"))
    assert document["branches"][0]["reused"] == 3 and document["branches"][0]["reuse_audits"][0]["mismatch"] is True
    branch.audits = [ReuseAudit("x86", "c" * 40, "a" * 40, Status.PASS, Status.PASS)]
    assert nightly_exit_code(run) == 0
