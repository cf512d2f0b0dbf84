"""`orchestrate` end to end: real tuxmake builds of the demo kernel tree, through the real command line."""

import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest
from conftest import PROJECT, command_env, commit_change, descendants, orchestrate, start, still_running

from orchestrator import cli
from orchestrator.cli import commands
from orchestrator.errors import GitError, StoreError
from orchestrator.models import BuildResult, Commit, Status
from orchestrator.store import Store
from orchestrator.views import export

GCC_KVM = ["x86_64-gcc-defconfig+kvm", "arm64-gcc-defconfig+kvm", "riscv-gcc-defconfig+kvm"]
KVM_DIR = {"x86_64": "arch/x86/kvm/", "arm64": "arch/arm64/kvm/", "riscv": "arch/riscv/kvm/"}

pytestmark = pytest.mark.e2e


def head(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def gcc_kvm_run(demo_tree, tmp_path_factory):
    """The three gcc KVM cells of the shipped matrix, built once for this module."""
    results = tmp_path_factory.mktemp("results")
    args = ["--commit", "HEAD", "--tree", str(demo_tree), "--results", str(results)]
    for cell in GCC_KVM:
        args += ["--cells", cell]
    return results, orchestrate(*args)


def test_gcc_kvm_cells_pass_and_are_stored(gcc_kvm_run, demo_tree):
    results, run = gcc_kvm_run
    assert run.returncode == 0, run.stdout + run.stderr
    sha = head(demo_tree)
    stored = {r.cell_id: r for r in Store(results).builds(sha)}
    assert sorted(stored) == sorted(GCC_KVM)
    for cell_id, result in stored.items():
        arch = cell_id.split("-")[0]
        assert result.status == "pass", result
        assert result.targets == {"config": "PASS", f"make:{KVM_DIR[arch]}": "PASS"}
        assert "gcc" in result.compiler and result.runtime == "null"
        assert result.duration > 0
        # The summary names every cell with its status.
        assert cell_id in run.stdout
    assert run.stdout.count("PASS") >= 3


def test_a_passing_build_records_the_tree_files_it_read(gcc_kvm_run, demo_tree):
    """From Kbuild's own records: every object's source and headers, and the Kconfig files."""
    results, _ = gcc_kvm_run
    store, sha = Store(results), head(demo_tree)
    read = {r.cell_id: store.inputs_of(sha, r.cell_id, r.definition) or frozenset() for r in store.builds(sha)}
    for cell_id, files in read.items():
        kvm = KVM_DIR[cell_id.split("-")[0]]
        assert {"include/uapi/linux/kvm.h", "include/linux/kvm_host.h", "Kconfig", f"{kvm}Kconfig"} <= files, cell_id
        assert any(f.startswith(kvm) and f.endswith(".c") for f in files), cell_id
        assert not any(f.startswith(("include/generated/", "/")) for f in files), cell_id  # outputs, system files
    assert "arch/x86/kvm/x86.c" in read["x86_64-gcc-defconfig+kvm"] and "arch/x86/kvm/x86.c" not in read["riscv-gcc-defconfig+kvm"]
    assert "arch/riscv/kvm/vcpu_sbi.c" not in read["arm64-gcc-defconfig+kvm"]


def test_artifacts_land_beside_the_store(gcc_kvm_run, demo_tree):
    results, _ = gcc_kvm_run
    sha = head(demo_tree)
    for cell_id in GCC_KVM:
        arch = cell_id.split("-")[0]
        cell_dir = results / sha / cell_id
        log = (cell_dir / "build.log").read_text()
        assert KVM_DIR[arch] in log  # tuxmake really built the KVM directory
        metadata = json.loads((cell_dir / "metadata.json").read_text())
        assert metadata["results"]["status"] == "PASS"
        config = (cell_dir / "config").read_text()
        assert "CONFIG_KVM=y" in config
        if arch == "x86_64":
            for option in ("CONFIG_KVM_INTEL=y", "CONFIG_KVM_AMD=y", "CONFIG_KVM_AMD_SEV=y"):
                assert option in config


def test_second_run_builds_nothing_and_show_prints_the_stored_results(gcc_kvm_run, demo_tree):
    results, _ = gcc_kvm_run
    args = ["--commit", "HEAD", "--tree", str(demo_tree), "--results", str(results)]
    again = orchestrate(*args, *sum((["--cells", c] for c in GCC_KVM), []))
    assert again.returncode == 0
    assert again.stdout.count("(stored)") == 3
    shown = orchestrate("show", head(demo_tree)[:12], "--results", str(results))
    assert shown.returncode == 0
    for cell_id in GCC_KVM:
        assert cell_id in shown.stdout
    assert "null runtime" in shown.stdout


def test_the_users_tree_is_never_touched(gcc_kvm_run, demo_tree):
    status = subprocess.run(["git", "-C", str(demo_tree), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""
    branch = subprocess.run(["git", "-C", str(demo_tree), "symbolic-ref", "HEAD"], capture_output=True, text=True)
    assert branch.stdout.strip() == "refs/heads/master"


@pytest.fixture(scope="module")
def broken_tree(demo_tree, tmp_path_factory):
    """A clone of the demo tree with the seed thread's riscv breakage committed on top."""
    clone = tmp_path_factory.mktemp("broken") / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(clone)], check=True)
    sha = commit_change(
        clone,
        "arch/riscv/kvm/vcpu_sbi.c",
        "run->system_event.ndata = 1;",
        "run->system_event.flags = 1;",
        "riscv: use system_event.flags",
    )
    return clone, sha


def test_a_compile_error_fails_the_cell_with_its_first_error(broken_tree, tmp_path):
    clone, sha = broken_tree
    run = orchestrate("--commit", sha, "--tree", str(clone), "--results", str(tmp_path), "--cells", "riscv-gcc-*")
    assert run.returncode == 1, run.stdout + run.stderr
    (result,) = Store(tmp_path).builds(sha)
    assert result.status == "fail"
    assert result.targets == {"config": "PASS", "make:arch/riscv/kvm/": "FAIL"}
    assert result.reason.startswith("arch/riscv/kvm/vcpu_sbi.c:")
    assert "has no member named 'flags'" in result.reason
    assert result.errors >= 1
    (error,) = result.diagnostics
    assert (error.file, error.line, error.function) == ("arch/riscv/kvm/vcpu_sbi.c", 87, "kvm_riscv_vcpu_sbi_system_reset")
    # show prints each error with its tree-relative place, message and first excerpt line.
    shown = orchestrate("show", sha, "--results", str(tmp_path))
    assert shown.returncode == 0  # a view: exit 1 means a regression, and only --commit judges one
    assert "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'" in shown.stdout
    assert "87 |         run->system_event.flags = 1;" in shown.stdout
    assert "/root/" not in shown.stdout.split("artifacts:")[0]


def write_matrix(tmp_path: Path, text: str) -> Path:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "amd.config").write_text("CONFIG_KVM_AMD=y\n")
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_an_option_kconfig_drops_is_a_matrix_error(demo_tree, tmp_path):
    # KVM_AMD does not exist on riscv: merge_config accepts it, olddefconfig silently drops it.
    write_matrix(tmp_path, "include:\n  - {arch: riscv, fragments: [amd], targets: [config]}\n")
    # A relative results directory, as the README's default `results/` is.
    run = orchestrate("--commit", "HEAD", "--matrix", "matrix.yaml", "--tree", str(demo_tree), "--results", "r", cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    (result,) = Store(tmp_path / "r").builds(head(demo_tree))
    assert result.status == "matrix-error"
    assert result.reason == "Kconfig dropped what the cell asked for: CONFIG_KVM_AMD=y (got not set)"
    assert result.artifacts_dir == f"{head(demo_tree)}/riscv-gcc-defconfig+amd@config"  # relative to the results
    assert (tmp_path / "r" / head(demo_tree) / "riscv-gcc-defconfig+amd@config" / "config").is_file()


def test_a_missing_cross_compiler_is_an_infrastructure_error(demo_tree, tmp_path):
    path = write_matrix(tmp_path, "include:\n  - {arch: s390, targets: [config]}\n")
    run = orchestrate("--commit", "HEAD", "--matrix", str(path), "--tree", str(demo_tree), "--results", str(tmp_path / "r"))
    assert run.returncode == 2
    (result,) = Store(tmp_path / "r").builds(head(demo_tree))
    assert result.status == "infra"
    assert "s390x-linux-gnu-gcc" in result.reason


@pytest.mark.parametrize(
    "args, message",
    [
        (["--commit=-rf"], "--commit '-rf': a revision may not begin with '-'"),
        (["--commit", "no-such-branch"], "--commit 'no-such-branch': no such commit in"),
        (["--commit", "HEAD", "--cells", "nope*"], "--cells nope*: matches no cell"),
        (["--commit", "HEAD", "--jobs", "0"], "--jobs 0: must be a number from 1 to 1024"),
        (["--commit"], "argument --commit: expected one argument; see orchestrate --help"),
        (["--commit", "HEAD", "--runtime", "lxc"], "argument --runtime: invalid choice: 'lxc'"),
        (["--commit", "HEAD...HEAD"], "--commit 'HEAD...HEAD': A...B (commits on either side) is not a line of history; give A..B"),
        (
            ["frobnicate"],
            "unknown command 'frobnicate'; the commands are plan, show, accept, report, bisect, nightly, export, import, parse, images, "
            "demo-tree, recover",
        ),
        (["--commit", "HEAD", "--executor", "http://10.0.0.1:8786"], "--executor 'http://10.0.0.1:8786' must be local, dask://HOST:PORT or tls://HOST:PORT"),
        (
            ["--commit", "HEAD", "--executor", "dask://127.0.0.1:8786"],
            "the executor tcp://127.0.0.1:8786 needs a URL its workers can fetch commits from: add `source_url` to `executor:`",
        ),
        (["bisect", "HEAD"], "bisect 'HEAD': give a range GOOD..BAD: the first commit good, the last one bad"),
        (["show", "zz!!"], "show 'zz!!': no such commit in"),
        (["export", "tuxsuite-plan", "HEAD"], "export tuxsuite-plan takes no range ('HEAD'): a plan is the matrix, not results"),
        (["export", "kcidb", "HEAD"], "report 'HEAD': no stored results for {head}; build it first with `orchestrate --commit HEAD`"),
        (["report", "HEAD"], "report 'HEAD': no stored results for {head}; build it first with `orchestrate --commit HEAD`"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(demo_tree, tmp_path, args, message):
    run = orchestrate(*args, "--tree", str(demo_tree), "--results", str(tmp_path))
    head = subprocess.run(["git", "-C", str(demo_tree), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message.format(head=head) in run.stderr, run.stderr


def test_missing_tree_says_how_to_make_one(tmp_path):
    run = orchestrate("--commit", "HEAD", "--tree", str(tmp_path / "none"), "--results", str(tmp_path))
    assert run.returncode == 2
    assert "pass --tree PATH, or make the demo tree with `orchestrate demo-tree" in run.stderr


def test_plan_lists_the_shipped_cells_without_building(tmp_path):
    run = orchestrate("plan")
    assert run.returncode == 0
    assert "9 cells" in run.stdout and "i386-gcc-defconfig+kvm" in run.stdout


def test_an_interrupted_run_keeps_what_finished_and_the_next_builds_only_the_rest(demo_tree, tmp_path):
    """SIGTERM once the quick cell is stored, while the slow one compiles (an empty ccache makes it slow)."""
    args = ["--commit", "HEAD", "--tree", str(demo_tree), "--results", str(tmp_path / "r")]
    args += ["--cells", "riscv-gcc-defconfig+kvm", "--cells", "x86_64-gcc-defconfig+kvm"]
    run = start(*args, env={"CCACHE_DIR": str(tmp_path / "empty-ccache")})
    store = Store(tmp_path / "r")
    deadline = time.monotonic() + 300
    while not store.builds(head(demo_tree)) and time.monotonic() < deadline:
        time.sleep(1)
    assert [r.cell_id for r in store.builds(head(demo_tree))] == ["riscv-gcc-defconfig+kvm"]
    started = descendants(run.pid)  # the workers, make and the compilers of this run, nothing else
    assert any(b"make" in Path(f"/proc/{p}/cmdline").read_bytes() for p in started if Path(f"/proc/{p}").exists())
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 130, output
    assert "interrupted; every build that finished is stored" in output
    assert [r.cell_id for r in store.builds(head(demo_tree))] == ["riscv-gcc-defconfig+kvm"]
    assert still_running(started) == []  # the interrupted cell's make and compilers are gone too
    again = orchestrate(*args)
    assert again.returncode == 0, again.stdout[-2000:]
    assert "riscv-gcc-defconfig+kvm (stored)" in again.stdout
    assert "x86_64-gcc-defconfig+kvm (stored)" not in again.stdout
    assert sorted(r.cell_id for r in store.builds(head(demo_tree))) == ["riscv-gcc-defconfig+kvm", "x86_64-gcc-defconfig+kvm"]


def test_a_reversed_range_says_which_commit_is_not_an_ancestor(broken_tree, tmp_path):
    clone, sha = broken_tree
    run = orchestrate("--commit", f"{sha}..HEAD~1", "--tree", str(clone), "--results", str(tmp_path))
    assert run.returncode == 2
    assert run.stderr == f"orchestrate: error: --commit '{sha}..HEAD~1': {sha} is not an ancestor of HEAD~1; give the older commit first\n"


@pytest.mark.parametrize(
    "error",
    [
        GitError("fatal: bad object", command="rev-list", repo=Path("/tree")),
        StoreError("is locked by another process", path=Path("/results/results.db")),
        subprocess.CalledProcessError(128, ["git", "log"]),
        sqlite3.OperationalError("database is locked"),
        OSError(28, "No space left on device"),
        RuntimeError("a bug"),
    ],
)
def test_whatever_escapes_is_one_line_and_exit_2_never_1(error, monkeypatch, capsys, tmp_path):
    def broken(args, out):
        raise error

    monkeypatch.setattr(commands, "plan", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert cli.main(["plan"]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    if isinstance(error, (GitError, StoreError)):
        assert stderr.startswith(f"orchestrate: error: {error}")
    else:  # a bug: said as such, the traceback kept in a file
        assert stderr.startswith(f"orchestrate: internal error: {type(error).__name__}: ")
        (saved,) = tmp_path.glob("orchestrator-crash-*.txt")
        assert f"the traceback is in {saved}" in stderr and "Traceback" in saved.read_text()


def test_version_is_the_packages():
    from orchestrator import __version__

    run = orchestrate("--version")
    assert run.returncode == 0 and run.stdout == f"orchestrate {__version__}\n"


HEAVY = ("rich", "jsonschema", "tuxmake", "distributed", "yaml", "orchestrator.pipeline", "orchestrator.matrix", "orchestrator.build")


def loaded_by(*args: str) -> set[str]:
    """The heavy packages and modules a command imported, from a fresh interpreter running it."""
    code = (
        "import sys\nfrom orchestrator.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', *sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    )
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=PROJECT, env=command_env())
    line = next(line for line in run.stdout.splitlines() if line.startswith("LOADED"))
    return {name.split(".")[0] if not name.startswith("orchestrator.") else name for name in line.split()[1:]}


def test_help_and_version_load_no_machinery_and_parse_loads_no_builder():
    """Start-up is paid on every call from a script: each command loads what it uses, nothing else."""
    assert loaded_by("--version") == set() and loaded_by("--help") == set() and loaded_by("report", "--help") == set()
    assert loaded_by("parse", str(LOGS / "riscv-gcc-no-rule.log")) == {"rich"}  # the terminal, not the builder


LOGS = Path(__file__).resolve().parent / "data" / "logs"


def test_parse_prints_any_logs_records_with_its_root_cause_and_needs_no_store(tmp_path):
    log = LOGS / "riscv-gcc-missing-member-ts-clock.log"  # plain make, every line timestamped by `ts`
    run = orchestrate("parse", str(log), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == [
        f"{log}: 1 error, 0 warnings",
        "root cause: arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'",
    ]
    assert list(tmp_path.iterdir()) == []  # no results directory, no store


def test_parse_shows_each_records_include_chain_and_notes_as_text():
    """Once only in --format json: where a header error was reached from, and what the compiler
    said to explain an error."""
    header = orchestrate("parse", str(LOGS / "arm64-gcc-header-unknown-type.log")).stdout.splitlines()
    assert header[3:5] == ["    included from arch/arm64/kvm/sys_regs.c:33", "    10 | extern orchestrator_undefined_t orchestrator_bogus;"]
    nvhe = orchestrate("parse", str(LOGS / "arm64-gcc-nvhe-subdir-makefile.log")).stdout
    assert "    note: arch/arm64/kvm/hyp/exception.c:42:9: each undeclared identifier is reported only once" in nvhe


def test_parse_as_json_follows_its_schema_and_reads_standard_input(tmp_path):
    log = LOGS / "x86_64-gcc-no-such-defconfig.log"
    run = orchestrate("parse", "-", "--format", "json", cwd=tmp_path, input=log.read_text())
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, export.schema("parsed_log"))
    assert (document["log"], document["errors"], document["warnings"]) == ("-", 1, 0)
    assert document["root_cause"]["message"] == "Can't find default configuration \"arch/x86/configs/orchestrator_defconfig\"!"
    assert document["root_cause"]["notes"] == ["target: orchestrator_defconfig (scripts/kconfig/Makefile)"]


def test_parse_of_a_log_that_cannot_be_read_is_one_line_and_exit_2(tmp_path):
    run = orchestrate("parse", str(tmp_path / "missing.log"))
    assert run.returncode == 2
    missing = tmp_path / "missing.log"
    said = f"{missing}: cannot be read (No such file or directory); give a build log file, or - for standard input"
    assert run.stderr == f"orchestrate: error: {said}\n"


def test_stored_logs_an_older_parser_read_are_parsed_again_once_and_said_on_stderr(tmp_path):
    sha = "c" * 40
    store = Store(tmp_path)
    store.add_commit(Commit(sha, "c", "2022-12-11T14:15:00+00:00"))
    (tmp_path / sha / "riscv-gcc-defconfig+kvm").mkdir(parents=True)
    (tmp_path / sha / "riscv-gcc-defconfig+kvm" / "build.log").write_bytes((LOGS / "riscv-gcc-missing-member.log").read_bytes())
    stale = BuildResult("riscv-gcc-defconfig+kvm", sha, Status.FAIL, definition="d", artifacts_dir=f"{sha}/riscv-gcc-defconfig+kvm", parser=1)
    store.add_build(stale)
    store.close()
    first = orchestrate("show", sha[:12], "--results", str(tmp_path))
    assert first.returncode == 0 and first.stderr == "orchestrate: 1 stored build log parsed again: the log parser changed\n"
    assert "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags' (root cause)" in first.stdout
    again = orchestrate("show", sha[:12], "--results", str(tmp_path))
    assert again.returncode == 0 and again.stderr == ""  # once
