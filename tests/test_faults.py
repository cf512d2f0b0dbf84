"""Host faults, injected for real, land where they belong: INFRA, never FAIL; never a lost result; one
line and exit 2, never a traceback or exit 1.

Every fault is the real thing: a PATH without the riscv linker, a compiler that dies of SIGKILL, make
killed mid-build, a tmpfs that fills up under the build or results directory, a corrupted database
page, a read-only bind mount, a `git clone --depth 1`. Mounts are made in a mount namespace the test
starts and owns (`unshare`, entered with `nsenter`): nothing else on the machine sees them, and they
vanish with it. Tests look only at processes they started.

On top of Linux 6.1 (the demo tree, A): B makes riscv write run->system_event.flags (the seed error).
"""

import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROJECT, command_env, commit_change, descendants, one_error_line, orchestrate, start, still_running

from orchestrator import retention
from orchestrator.models import Outcome
from orchestrator.store import Store

STORED, RETRIED, KEPT_FINISHED = Outcome.STORED, Outcome.RETRIED, Outcome.KEPT_FINISHED

pytestmark = pytest.mark.e2e

CELL = "riscv-gcc-defconfig+kvm"
HOST_CCACHE = str(Path.home() / ".cache" / "orchestrator" / "ccache")
BREAK = ("arch/riscv/kvm/vcpu_sbi.c", "run->system_event.ndata = 1;", "run->system_event.flags = 1;")
SEED_ERROR = "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'"


@pytest.fixture(scope="module", autouse=True)
def root_for_mounts():
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the fault tests mount file systems: run them as root (CI does)")
        pytest.skip("the fault tests mount file systems: run them as root")


class Site:
    """A clone of the demo tree with B on top of A, a work root, and a results store where A's riscv gcc
    KVM cell passed. Tests copy the store (`results()`) before they change it."""

    def __init__(self, root: Path, demo_tree: Path):
        self.root = root
        self.tree = root / "linux"
        subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(self.tree)], check=True)
        self.a = git(self.tree, "rev-parse", "HEAD")
        self.b = commit_change(self.tree, *BREAK, "riscv: use system_event.flags")
        self.stored = root / "results"
        built = self.orchestrate("--commit", self.a, results=self.stored)
        assert built.returncode == 0, built.stdout + built.stderr

    def env(self, **extra: str) -> dict:
        return {"ORCHESTRATOR_WORK": str(self.root / "work"), "CCACHE_DIR": HOST_CCACHE, **extra}

    def args(self, *args: str, results: Path) -> list[str]:
        return [*args, "--tree", str(self.tree), "--results", str(results), "--cells", CELL]

    def orchestrate(self, *args: str, results: Path, **env: str) -> subprocess.CompletedProcess:
        return orchestrate(*self.args(*args, results=results), env=self.env(**env))

    def results(self, where: Path) -> Path:
        """A copy of the store where A passed."""
        shutil.copytree(self.stored, where)
        return where


@pytest.fixture(scope="module")
def site(demo_tree, tmp_path_factory) -> Site:
    return Site(tmp_path_factory.mktemp("faults"), demo_tree)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def attempts(results: Path, sha: str) -> list[tuple[str, str]]:
    """(status, outcome) of each attempt at the cell, oldest first."""
    return [(a.status, a.outcome) for a in Store(results).attempts(sha, CELL)]


def path_without(*programs: str, into: Path) -> str:
    """A PATH of one directory: links to every program of the real PATH except `programs`."""
    into.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if name not in programs and not (into / name).exists() and not (into / name).is_symlink():
                (into / name).symlink_to(os.path.join(directory, name))
    return str(into)


class Namespace:
    """A mount namespace of the test's own: commands run in it see its mounts, nothing else does, and
    the mounts vanish when it is closed. Its files are reachable from outside via /proc/<pid>/root."""

    def __init__(self):
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity"])
        ours = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.holder.pid}/ns/mnt") == ours:
            assert time.monotonic() < deadline, "unshare made no mount namespace"
            time.sleep(0.05)

    def __enter__(self) -> "Namespace":
        return self

    def __exit__(self, *exc) -> None:
        self.holder.kill()
        self.holder.wait()

    def run(self, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["nsenter", "--target", str(self.holder.pid), "--mount", f"--wd={PROJECT}", "--", *argv],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            env=command_env(**(env or {})),
        )

    def mount(self, *args: str) -> None:
        done = self.run("mount", *args)
        assert done.returncode == 0, done.stderr

    def orchestrate(self, *args: str, env: dict) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "orchestrator", *args, env=env)

    def seen(self, path: Path) -> Path:
        """`path` as the namespace sees it, for plain file access (SQLite resolves this magic link away)."""
        return Path(f"/proc/{self.holder.pid}/root{path}")


# --- host faults are INFRA, never FAIL ----------------------------------------------------------


def test_a_missing_linker_is_infra_retried_once_and_the_next_run_builds_it(site, tmp_path):
    results = tmp_path / "results"
    farm = path_without("riscv64-linux-gnu-ld", "riscv64-linux-gnu-ld.bfd", into=tmp_path / "bin")

    run = site.orchestrate("--commit", site.b, results=results, PATH=farm)

    assert run.returncode == 2, run.stdout + run.stderr
    (result,) = Store(results).builds(site.b)
    assert (result.status, result.reason) == ("infra", "riscv64-linux-gnu-ld not found on the host")
    assert attempts(results, site.b) == [("infra", RETRIED), ("infra", STORED)]
    assert "infrastructure error (riscv64-linux-gnu-ld not found on the host); building it again" in run.stdout
    # With the linker back, the next run builds the cell (an infrastructure error is no result): the
    # commit's own error, judged against A's pass.
    again = site.orchestrate("--commit", site.b, results=site.results(tmp_path / "with-a"))
    assert again.returncode == 1 and "NEW FAIL" in again.stdout


def test_a_compiler_killed_by_sigkill_is_infra(site, tmp_path):
    """gcc's driver, when the kernel's OOM killer takes cc1: `Killed signal terminated program cc1`.
    Here a cc1 that kills itself, found first through gcc's -B, for the one file of the seed error."""
    fake = tmp_path / "fake-cc1"
    fake.mkdir()
    (fake / "cc1").write_text("#!/bin/sh\nkill -9 $$\n")
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    gcc = wrappers / "riscv64-linux-gnu-gcc"
    gcc.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *arch/riscv/kvm/vcpu_sbi.c*) exec /usr/bin/riscv64-linux-gnu-gcc -B {fake}/ "$@" ;; esac\n'
        'exec /usr/bin/riscv64-linux-gnu-gcc "$@"\n'
    )
    for script in (fake / "cc1", gcc):
        script.chmod(0o755)
    results = site.results(tmp_path / "results")

    run = site.orchestrate("--commit", site.b, results=results, PATH=f"{wrappers}:{os.environ['PATH']}", CCACHE_DISABLE="1")

    assert run.returncode == 2, run.stdout + run.stderr
    (result,) = Store(results).builds(site.b)
    assert (result.status, result.reason) == ("infra", "the compiler was killed (cc1: SIGKILL, out of memory?)")
    assert "NEW FAIL" not in run.stdout


def test_make_killed_from_outside_is_infra_and_the_retry_builds_the_cell(site, tmp_path):
    results = site.results(tmp_path / "results")
    args = site.args("--commit", site.a, "--rebuild", results=results)
    run = start(*args, env=site.env(CCACHE_DISABLE="1"))  # compiles for real: make runs for a while
    try:
        make = None
        deadline = time.monotonic() + 300
        while make is None:
            assert run.poll() is None and time.monotonic() < deadline
            make = next((p for p in descendants(run.pid) if is_kvm_make(p)), None)
            time.sleep(0.2)
        os.kill(make, signal.SIGKILL)  # what the OOM killer does to make itself
        output, _ = run.communicate(timeout=600)
    finally:
        run.kill()
    assert run.returncode == 0, output  # the retry built it: the stored pass stands, rebuilt
    assert attempts(results, site.a)[-2:] == [("infra", RETRIED), ("pass", STORED)]
    first = Store(results).attempts(site.a, CELL)[-2]
    assert first.reason == "make was killed from outside the build (SIGKILL)"


def is_kvm_make(pid: int) -> bool:
    """tuxmake's own make of the KVM directory, not one of the makes it starts in turn."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        under_make = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")[0].endswith(b"make")
        return argv[0] == b"make" and b"arch/riscv/kvm/" in argv and not under_make
    except (OSError, ValueError, IndexError):
        return False


def test_a_build_directory_that_fills_up_is_infra_and_keeps_the_stored_pass(site, tmp_path):
    results = site.results(tmp_path / "results")
    before = (results / site.a / CELL / "build.log").read_bytes()
    build_dir = site.root / "work" / "builds" / CELL
    build_dir.mkdir(parents=True, exist_ok=True)
    with Namespace() as ns:
        ns.mount("-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(build_dir))
        run = ns.orchestrate(*site.args("--commit", site.a, "--rebuild", results=results), env=site.env())

    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{CELL}: infrastructure error (no space left on device: " in run.stdout
    assert "the stored PASS is kept" in run.stdout
    (result,) = Store(results).builds(site.a)
    assert result.status == "pass" and (results / site.a / CELL / "build.log").read_bytes() == before
    assert attempts(results, site.a)[-2:] == [("infra", RETRIED), ("infra", KEPT_FINISHED)]
    assert "No space left on device" in (results / site.a / f"{CELL}.infra" / "build.log").read_text()


def test_a_results_disk_that_fills_up_is_one_line_and_loses_nothing(site, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    with Namespace() as ns:
        ns.mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(results))
        first = ns.orchestrate(*site.args("--commit", site.a, results=results), env=site.env())
        assert first.returncode == 0, first.stdout + first.stderr
        seen = ns.seen(results)
        log = (seen / site.a / CELL / "build.log").read_bytes()
        space = os.statvfs(seen)
        (seen / "filler").write_bytes(b"\0" * (space.f_bavail * space.f_frsize - 64 * 1024))

        run = ns.orchestrate(*site.args("--commit", site.a, "--rebuild", results=results), env=site.env())

        assert run.returncode == 2, run.stdout + run.stderr
        assert "Traceback" not in run.stdout + run.stderr
        # Which write meets the full disk first depends on SQLite: with no room left in its write-ahead
        # log, the store's first row (one line: the store failed); with room, the artifacts' copy (the
        # build is INFRA and the stored PASS stays). Both are host faults said as such, and lose nothing.
        kept = [CELL, f"{CELL}.lock"]
        if run.stderr:
            assert f"results store {results}/results.db: the disk is full" in one_error_line(run)
        else:
            assert "No space left on device" in run.stdout and "the stored PASS is kept" in run.stdout, run.stdout
            kept.append(f"{CELL}.infra")  # what the INFRA attempt wrote, if anything, kept apart for a look
        found = sorted(p.name for p in (seen / site.a).iterdir())
        assert set(found) <= set(kept) and CELL in found and not any(name.endswith(".partial") for name in found)  # nothing half-written
        assert (seen / site.a / CELL / "build.log").read_bytes() == log
        (seen / "filler").unlink()
        shown = ns.orchestrate("show", site.a, "--results", str(results), env=site.env())  # SQLite resolves
        assert shown.returncode == 0 and f"{CELL} PASS" in shown.stdout  # /proc/<pid>/root: ask in there


def test_a_compiler_killed_by_sigsegv_is_infra_and_keeps_the_stored_pass(site, tmp_path):
    """gcc's driver itself dies of a signal (a machine fault, or someone's kill): make says Error 139.
    Once a FAIL that replaced the stored PASS, exit 1."""
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    gcc = wrappers / "riscv64-linux-gnu-gcc"
    gcc.write_text('#!/bin/sh\ncase "$*" in *arch/riscv/kvm/vcpu_sbi.c*) kill -SEGV $$ ;; esac\nexec /usr/bin/riscv64-linux-gnu-gcc "$@"\n')
    gcc.chmod(0o755)
    results = site.results(tmp_path / "results")

    run = site.orchestrate("--commit", site.a, "--rebuild", results=results, PATH=f"{wrappers}:{os.environ['PATH']}", CCACHE_DISABLE="1")

    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{CELL}: infrastructure error (a build command was killed (SIGSEGV)); the stored PASS is kept" in run.stdout
    (result,) = Store(results).builds(site.a)
    assert result.status == "pass"
    assert attempts(results, site.a)[-2:] == [("infra", RETRIED), ("infra", KEPT_FINISHED)]


def test_make_missing_from_path_is_infra(site, tmp_path):
    farm = path_without("make", into=tmp_path / "bin")
    run = site.orchestrate("--commit", site.b, results=tmp_path / "results", PATH=farm)
    assert run.returncode == 2, run.stdout + run.stderr
    (result,) = Store(tmp_path / "results").builds(site.b)
    assert (result.status, result.reason) == ("infra", "make not found on the host")


def test_a_read_only_ccache_is_infra_said_before_the_build(site, tmp_path):
    ccache = tmp_path / "ccache"
    (ccache / "tmp").mkdir(parents=True)
    results = site.results(tmp_path / "results")
    with Namespace() as ns:
        ns.mount("--bind", str(ccache), str(ccache))
        ns.mount("-o", "remount,bind,ro", str(ccache))
        run = ns.orchestrate(*site.args("--commit", site.a, "--rebuild", results=results), env=site.env(CCACHE_DIR=str(ccache)))
    assert run.returncode == 2, run.stdout + run.stderr
    reason = f"the ccache directory {ccache} cannot be written (Read-only file system)"
    assert f"{CELL}: infrastructure error ({reason}); the stored PASS is kept" in run.stdout
    assert Store(results).attempts(site.a, CELL)[-1].reason == reason


def test_a_file_left_in_the_source_worktree_is_cleaned_before_the_next_build(site, tmp_path):
    """Kbuild refuses a source tree holding a .config ("the source tree is not clean"); one left by an
    earlier run (a cell id with a space once did it) made every later build of the commit FAIL."""
    (worktree,) = (site.root / "work" / "worktrees").glob("linux-*")
    (worktree / ".config").write_text("CONFIG_LEFT_BEHIND=y\n")
    results = site.results(tmp_path / "results")
    run = site.orchestrate("--commit", site.a, "--rebuild", results=results)
    assert run.returncode == 0, run.stdout + run.stderr
    assert attempts(results, site.a)[-1] == ("pass", STORED)
    assert not (worktree / ".config").exists()


def test_a_build_that_outlives_the_matrix_timeout_is_stopped_and_infra_not_retried(site, tmp_path):
    (tmp_path / "configs").symlink_to(PROJECT / "configs")
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(f"tree: {{path: {site.tree}}}\ntimeout: 3\ninclude:\n  - {{arch: riscv, toolchain: gcc, fragments: [kvm]}}\n")
    results = tmp_path / "results"
    run = start("--commit", site.a, "--matrix", str(matrix), "--results", str(results), "--rebuild", env=site.env(CCACHE_DISABLE="1"))
    builds: dict = {}
    while run.poll() is None:  # what the run started, while it runs
        builds.update(descendants(run.pid))
        time.sleep(0.1)
    output = run.stdout.read()
    assert run.returncode == 2, output
    (result,) = Store(results).builds(site.a)
    assert (result.status, result.reason) == ("infra", "timed out after 3s (the matrix's timeout); its log shows how far it got")
    assert attempts(results, site.a) == [("infra", STORED)]  # not built again: it would take as long
    assert (results / site.a / CELL / "build.log").is_file()  # how far it got
    assert still_running(builds) == []


# --- the store ----------------------------------------------------------------------------------


def test_a_corrupted_database_is_one_line_everywhere_and_recover_brings_it_back(site, tmp_path):
    results = site.results(tmp_path / "results")
    with open(results / "results.db", "r+b") as db:
        db.seek(8192)
        db.write(b"\xde\xad\xbe\xef" * 256)
    for args in (["show", site.a], ["report", site.a, "--tree", str(site.tree)], site.args("--commit", site.a, results=results)):
        run = orchestrate(*args, "--results", str(results), env=site.env())
        assert run.returncode == 2, run.stdout + run.stderr
        line = one_error_line(run)
        assert "results.db: is damaged (database disk image is malformed)" in line
        assert f"`orchestrate recover --results {results}`" in line

    recovered = orchestrate("recover", "--results", str(results))

    assert recovered.returncode == 0, recovered.stderr
    assert list(results.glob("results.db.damaged-*"))
    shown = orchestrate("show", site.a, "--results", str(results))
    assert shown.returncode == 0 and f"{CELL} PASS" in shown.stdout
    assert sqlite3.connect(results / "results.db").execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_read_only_store_can_be_shown_reported_and_judged_but_not_built_into(site, tmp_path):
    results = site.results(tmp_path / "results")
    with Namespace() as ns:
        ns.mount("--bind", str(results), str(results))
        ns.mount("-o", "remount,bind,ro", str(results))
        env = site.env()
        shown = ns.orchestrate("show", site.a, "--results", str(results), env=env)
        reported = ns.orchestrate("report", site.a, "--format", "json", *site.args(results=results), env=env)
        judged = ns.orchestrate(*site.args("--commit", site.a, results=results), env=env)
        rebuilt = ns.orchestrate(*site.args("--commit", site.a, "--rebuild", results=results), env=env)
    assert shown.returncode == 0 and f"{CELL} PASS" in shown.stdout, shown.stderr
    assert reported.returncode == 0 and json.loads(reported.stdout)["commits"][0]["verdicts"][0]["status"] == "pass"
    assert judged.returncode == 0 and f"{CELL} (stored)" in judged.stdout, judged.stderr
    assert rebuilt.returncode == 2 and "results.db: is read-only" in one_error_line(rebuilt)


def test_a_moved_store_shows_its_artifacts_and_retention_prunes_the_copy(site, tmp_path):
    moved = site.results(tmp_path / "elsewhere" / "results")
    shown = orchestrate("show", site.a, "--results", str(moved))
    assert f"artifacts: {moved / site.a / CELL}\n" in shown.stdout and "pruned" not in shown.stdout
    pruned = retention.prune(Store(moved), keep_days=0, budget=None)
    assert pruned.paths == [moved / site.a / CELL]
    assert (site.stored / site.a / CELL / "build.log").is_file()  # the original is untouched


# --- concurrency --------------------------------------------------------------------------------


def test_two_runs_of_one_commit_build_it_once_even_from_two_work_roots(site, tmp_path):
    results = tmp_path / "results"
    first = start(*site.args("--commit", site.a, results=results), env=site.env(ORCHESTRATOR_WORK=str(tmp_path / "work-1"), CCACHE_DISABLE="1"))
    try:
        deadline = time.monotonic() + 120
        while not (results / site.a / f"{CELL}.partial" / "build.log").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        second = site.orchestrate("--commit", site.a, results=results, ORCHESTRATOR_WORK=str(tmp_path / "work-2"))
        output, _ = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0 and second.returncode == 0, output + second.stdout + second.stderr
    assert f"is held by pid {first.pid}" in second.stdout
    assert f"{CELL}: using the result the other run stored (PASS)" in second.stdout
    assert attempts(results, site.a) == [("pass", STORED)]  # built once


# --- git ----------------------------------------------------------------------------------------


def test_a_shallow_clone_is_deepened_from_its_remote_or_its_failure_is_not_called_a_regression(site, tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", "--shared", str(site.tree), str(remote)], check=True)
    git(remote, "update-ref", "HEAD", site.b)
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--no-checkout", f"file://{remote}", str(shallow)], check=True)
    git(shallow, "remote", "remove", "origin")
    results = site.results(tmp_path / "results")  # A passed; the clone has only B
    args = ["--commit", "HEAD", "--tree", str(shallow), "--results", str(results), "--cells", CELL]

    cut = orchestrate(*args, env=site.env())

    assert cut.returncode == 2, cut.stdout + cut.stderr
    assert "✗ baseline unknown" in cut.stdout and "NEW FAIL" not in cut.stdout
    assert f"{shallow} is a shallow clone with no remote to deepen it from" in cut.stderr
    assert "run `git fetch --unshallow` there, or pass --base REV" in cut.stderr

    git(shallow, "remote", "add", "origin", f"file://{remote}")
    deepened = orchestrate(*args, env=site.env())

    assert deepened.returncode == 1, deepened.stdout + deepened.stderr
    assert f"{shallow} is a shallow clone: fetching 256 more commits of its history" in deepened.stdout
    assert "✗ NEW FAIL +1e" in deepened.stdout and site.a[:12] in deepened.stdout


# --- reproducers --------------------------------------------------------------------------------


def test_the_reproducer_and_the_reproduce_command_both_give_the_error(site, tmp_path):
    results = site.results(tmp_path / "results")
    built = site.orchestrate("--commit", site.b, results=results)
    assert built.returncode == 1, built.stdout + built.stderr
    artifacts = results / site.b / CELL
    assert ".partial" not in (artifacts / "reproducer.sh").read_text()
    assert all(".partial" not in word for word in json.loads((artifacts / "metadata.json").read_text())["build"]["reproducer_cmdline"])

    # reproducer.sh: plain tuxmake, in a fresh worktree of the commit.
    worktree = tmp_path / "worktree"
    git(site.tree, "worktree", "add", "--quiet", "--detach", str(worktree), site.b)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "CCACHE_DIR": HOST_CCACHE}
    replayed = subprocess.run(["sh", str(artifacts / "reproducer.sh")], cwd=worktree, capture_output=True, text=True, env=env)
    (log,) = (tmp_path / "cache" / "tuxmake" / "builds").glob("*/build.log")  # the reproducer runs --quiet
    assert replayed.returncode != 0 and "error: 'struct <anonymous>' has no member named 'flags'" in log.read_text()

    # The report's command, run from another directory: the same error, judged the same way.
    report = json.loads(site.orchestrate("report", site.b, "--format", "json", results=results).stdout)
    (verdict,) = [v for row in report["commits"] for v in row["verdicts"] if v["regression"]]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = shlex.split(verdict["reproduce"])
    paths = [command[i + 1] for i, word in enumerate(command) if word in ("--tree", "--matrix", "--results")]
    assert command[0] == "orchestrate" and len(paths) == 3 and all(Path(p).is_absolute() for p in paths)
    rerun = orchestrate(*command[1:], cwd=elsewhere, env=site.env())
    assert rerun.returncode == 1 and SEED_ERROR in rerun.stdout, rerun.stdout + rerun.stderr


# --- versioned toolchains -----------------------------------------------------------------------


def test_a_versioned_toolchain_builds_with_that_version_or_is_refused(site, tmp_path):
    (tmp_path / "matrix.yaml").write_text(
        f"tree: {{path: {site.tree}}}\naxes:\n  arch: [riscv]\n  toolchain: [gcc-12, clang-14, gcc-8]\n  targets: [[config]]\n"
    )
    run = orchestrate("--commit", site.a, "--matrix", str(tmp_path / "matrix.yaml"), "--results", str(tmp_path / "r"), env=site.env())
    assert run.returncode == 2, run.stdout + run.stderr  # gcc-8 is not installed here
    built = {r.cell_id: r for r in Store(tmp_path / "r").builds(site.a)}
    assert built["riscv-gcc-12-defconfig@config"].status == "pass"
    assert built["riscv-gcc-12-defconfig@config"].compiler.endswith(" 12.2.0")
    assert built["riscv-clang-14-defconfig@config"].status == "pass"
    assert "clang version 14." in built["riscv-clang-14-defconfig@config"].compiler
    refused = built["riscv-gcc-8-defconfig@config"]
    assert refused.status == "infra" and refused.reason.startswith("riscv64-linux-gnu-gcc-8 is not installed, so gcc-8 cannot be built")


# --- the command line ---------------------------------------------------------------------------


def test_a_work_root_that_is_a_file_is_one_line(site, tmp_path):
    (tmp_path / "file").write_text("")
    run = site.orchestrate("--commit", site.b, results=tmp_path / "r", ORCHESTRATOR_WORK=str(tmp_path / "file"))
    assert run.returncode == 2
    assert f"work directory {tmp_path / 'file'}: is a file, not a directory; set ORCHESTRATOR_WORK" in one_error_line(run)


def test_uncommitted_changes_are_mentioned(site, tmp_path):
    checkout = tmp_path / "checkout"  # a sparse checkout of the top Makefile: a real checkout, quickly
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(site.tree), str(checkout)], check=True)
    git(checkout, "sparse-checkout", "set", "--no-cone", "/Makefile")
    git(checkout, "checkout", "--quiet")
    with open(checkout / "Makefile", "a") as makefile:
        makefile.write("# an edit\n")
    run = orchestrate("--commit", "HEAD", "--tree", str(checkout), "--results", str(site.results(tmp_path / "r")), "--cells", CELL, env=site.env())
    assert f"{checkout} has uncommitted changes: building the committed HEAD, {site.b[:12]}" in run.stdout
