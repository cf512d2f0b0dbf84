"""Classifying a finished build, on artifacts captured from real tuxmake builds of the demo tree.

tests/data/builds/<name>/ holds build.log and config as tuxmake wrote them; README.md there says how.
"""

import re
from pathlib import Path

import pytest

from orchestrator import classify, logparse, matrix
from orchestrator.models import Cell, Status

DATA = Path(__file__).resolve().parent / "data" / "builds"
PROJECT = Path(__file__).resolve().parent.parent
CELLS = {cell.id: cell for cell in matrix.load(PROJECT / "matrix.yaml").cells}
BUILD_DIR = "/root/.cache/orchestrator/builds/riscv-gcc-defconfig+kvm"


def read(name: str, file: str) -> str:
    return (DATA / name / file).read_text()


def test_a_real_passing_build_is_a_pass():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    targets = {"config": "PASS", "make:arch/riscv/kvm/": "PASS"}
    log, config = read("riscv-gcc-defconfig+kvm", "build.log"), read("riscv-gcc-defconfig+kvm", "config")
    assert classify.classify(cell, targets, log, config, []) == (Status.PASS, "")


def test_an_option_missing_from_the_real_config_is_a_matrix_error():
    # The riscv .config has no KVM_AMD: asking for it on riscv is what Kconfig silently drops.
    cell = CELLS["x86_64-gcc-defconfig+kvm"]
    config = read("riscv-gcc-defconfig+kvm", "config")
    status, reason = classify.classify(cell, {"config": "PASS"}, "", config, [])
    assert status == Status.MATRIX_ERROR
    assert reason == (
        "Kconfig dropped what the cell asked for: CONFIG_KVM_INTEL=y (got not set), CONFIG_KVM_AMD=y (got not set), "
        "CONFIG_KVM_AMD_SEV=y (got not set), CONFIG_CRYPTO_DEV_CCP=y (got not set), "
        "CONFIG_CRYPTO_DEV_CCP_DD=y (got not set), CONFIG_CRYPTO_DEV_SP_PSP=y (got not set)"
    )


def test_dropped_options_compares_values_and_unset_requests():
    config = "CONFIG_KVM=m\n# CONFIG_COMPAT is not set\nCONFIG_IA32_EMULATION=y\n"
    wanted = {"CONFIG_KVM": "y", "CONFIG_COMPAT": "n", "CONFIG_IA32_EMULATION": "n", "CONFIG_GONE": "n"}
    assert classify.dropped_options(wanted, config) == [
        "CONFIG_KVM=y (got m)",
        "# CONFIG_IA32_EMULATION is not set (got y)",
    ]


def test_a_real_compile_error_fails_with_its_first_error_line_tree_relative():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = read("riscv-gcc-flags", "build.log")
    config = read("riscv-gcc-defconfig+kvm", "config")
    targets = {"config": "PASS", "make:arch/riscv/kvm/": "FAIL"}
    status, reason = classify.classify(cell, targets, log, config, [runner_worktree(log), BUILD_DIR])
    assert status == Status.FAIL
    assert reason == "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'"


def test_the_failure_reason_comes_from_the_first_error_diagnostic():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = read("riscv-gcc-flags", "build.log")
    targets = {"config": "PASS", "make:arch/riscv/kvm/": "FAIL"}
    config = read("riscv-gcc-defconfig+kvm", "config")
    diagnostics = logparse.parse(log.splitlines())
    status, reason = classify.classify(cell, targets, log, config, [], diagnostics)
    assert (status, reason) == (
        Status.FAIL,
        "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'",
    )


def runner_worktree(log: str) -> str:
    """The worktree path this log was built from (it differs between machines)."""
    for line in log.splitlines():
        if "error:" in line and "/arch/riscv/" in line:
            return line.split("/arch/riscv/")[0]
    raise AssertionError("no error line")


def test_first_error_without_an_error_line():
    assert classify.first_error("make: something odd\n", []) == "build failed (no error line in the log)"


# --- host faults: INFRA, never FAIL -------------------------------------------------------------

FAULTS = Path(__file__).resolve().parent / "data" / "faults"
KVM_FAILED = {"config": "PASS", "make:arch/riscv/kvm/": "FAIL"}


def fault_log(name: str) -> str:
    return (FAULTS / name / "build.log").read_text()


def test_kconfig_saying_the_linker_is_not_found_is_infra():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = fault_log("linker-not-found")
    diagnostics = logparse.parse(log.splitlines())
    status = classify.classify(cell, {"config": "FAIL", "make:arch/riscv/kvm/": "SKIP"}, log, "", [], diagnostics)
    assert status == (Status.INFRA, "riscv64-linux-gnu-ld not found on the host")


def test_a_compiler_killed_by_sigkill_is_infra_though_the_log_has_an_error():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = fault_log("compiler-killed")
    diagnostics = logparse.parse(log.splitlines())
    assert any(d.severity == "error" for d in diagnostics)  # what made it FAIL before
    status = classify.classify(cell, KVM_FAILED, log, read("riscv-gcc-defconfig+kvm", "config"), [], diagnostics)
    assert status == (Status.INFRA, "the compiler was killed (cc1: SIGKILL, out of memory?)")


@pytest.mark.parametrize(
    "fault, targets, reason",
    [
        ("compiler-segv", KVM_FAILED, "a build command was killed (SIGSEGV)"),  # gcc's driver itself: make's Error 139
        ("compiler-term", KVM_FAILED, "a build command was killed (SIGTERM)"),  # Error 143
        ("compiler-bus", KVM_FAILED, "a build command was killed (SIGBUS)"),  # Error 135
        ("compiler-ill", KVM_FAILED, "a build command was killed (SIGILL)"),  # Error 132
        ("cc1-segv", KVM_FAILED, "the compiler was killed (cc1: SIGSEGV)"),  # gcc's "internal compiler error: Segmentation fault signal"
        ("make-not-found", {"config": "FAIL", "make:arch/riscv/kvm/": "SKIP"}, "make not found on the host"),  # no error line at all
        ("source-not-clean", {"config": "FAIL", "make:arch/riscv/kvm/": "SKIP"},
         "the source tree was not clean (files an earlier build left in the worktree)"),
    ],
)  # fmt: skip
def test_a_program_killed_by_any_signal_a_missing_make_or_a_dirty_tree_is_infra(fault, targets, reason):
    """Each once made a FAIL over a stored PASS: the commit never got to be judged."""
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = fault_log(fault)
    assert classify.classify(cell, targets, log, read("riscv-gcc-defconfig+kvm", "config"), [], logparse.parse(log.splitlines())) == (
        Status.INFRA,
        reason,
    )


def test_a_full_build_directory_is_infra_and_says_where():
    log = fault_log("build-dir-full")
    worktree = re.search(r"/\S+/worktrees/[^/]+", log)[0]  # the worktree this log was built from
    reason = classify.host_fault(log, (), [worktree])
    assert reason == (
        "no space left on device: scripts/dtc/flattree.c:926:1: fatal error: closing dependency file "
        "scripts/dtc/.flattree.o.d: No space left on device"
    )


def test_how_a_command_ended_is_evidence_too():
    killed = classify.Command(("make", "--silent", "arch/riscv/kvm/"), -9)
    wrapped = classify.Command(("/usr/lib/tuxmake/tuxmake-run-offline", "make", "O=/b", "arch/riscv/kvm/"), 137)
    engine = classify.Command(("podman", "exec", "c0ffee", "make"), 125)
    container = classify.Command(("podman", "exec", "c0ffee", "make"), 137)
    normal = classify.Command(("make", "--silent", "arch/riscv/kvm/"), 2)  # a compile error: make exits 2
    assert classify.host_fault("", [killed]) == "make was killed from outside the build (SIGKILL)"
    assert classify.host_fault("", [wrapped]) == "make was killed from outside the build (SIGKILL)"
    assert classify.host_fault("", [engine]) == "the container engine failed (podman exit 125)"
    assert classify.host_fault("", [container]) == "the container was killed from outside the build (SIGKILL)"
    assert classify.host_fault("", [normal]) is None


@pytest.mark.parametrize(
    "line, reason",
    [
        ("/bin/sh: 1: riscv64-linux-gnu-objcopy: not found", "riscv64-linux-gnu-objcopy not found on the host"),
        ("bash: line 1: bc: command not found", "bc not found on the host"),
        ("make[2]: /usr/bin/perl: No such file or directory", "/usr/bin/perl not found on the host"),
        ('ccache: error: Could not find compiler "riscv64-linux-gnu-gcc" in PATH', "riscv64-linux-gnu-gcc not found on the host"),
        ("riscv64-linux-gnu-gcc: fatal error: cannot execute 'cc1': execvp: No such file or directory", "cc1 not found on the host"),
        ("make[3]: *** [scripts/Makefile.build:250: arch/riscv/kvm/main.o] Error 137", "a build command was killed (SIGKILL, out of memory?)"),
        ("make[3]: *** [scripts/Makefile.build:250: arch/riscv/kvm/main.o] Segmentation fault (core dumped)", "a build command was killed (SIGSEGV)"),
        ("clang: error: unable to execute command: Bus error", "the compiler was killed (SIGBUS)"),
        ("clang: error: clang frontend command failed due to signal (use -v to see invocation)", "the compiler was killed by a signal"),
        ("cc1: out of memory allocating 65536 bytes after a total of 1 bytes", "out of memory"),
    ],
)
def test_host_fault_lines(line, reason):
    assert classify.host_fault(f"make --silent ...\n{line}\n") == reason


@pytest.mark.parametrize(
    "line",
    [
        "/bin/sh: 1: ./scripts/gen-foo.sh: not found",  # the tree's own script: the commit deleted it
        "make[2]: scripts/Makefile.foo: No such file or directory",
        "arch/riscv/kvm/vcpu.c:12:10: fatal error: asm/foo.h: No such file or directory",  # a header
        '   12 |         pr_err("No space left on device");',  # source the compiler echoes
        "make[3]: *** [scripts/Makefile.build:250: arch/riscv/kvm/main.o] Error 141",  # SIGPIPE: a recipe's pipeline
        "make[3]: *** [scripts/Makefile.build:250: arch/riscv/kvm/main.o] Error 1",
    ],
)
def test_what_the_commit_did_is_not_a_host_fault(line):
    assert classify.host_fault(f"{line}\n") is None


def test_a_host_fault_in_a_passing_build_changes_nothing():
    cell = CELLS["riscv-gcc-defconfig+kvm"]
    log = read("riscv-gcc-defconfig+kvm", "build.log") + "ccache: error: No space left on device\n"
    targets = {"config": "PASS", "make:arch/riscv/kvm/": "PASS"}
    assert classify.classify(cell, targets, log, read("riscv-gcc-defconfig+kvm", "config"), []) == (Status.PASS, "")


def test_a_compiler_of_another_version_than_asked_is_infra():
    assert classify.version_mismatch("gcc-12", "12") is None
    assert classify.version_mismatch("clang-14", "14.0.6") is None
    assert classify.version_mismatch("gcc", "13.1.0") is None  # unversioned: whatever is installed
    assert classify.version_mismatch("gcc-12", "13.1.0") == "built with gcc 13.1.0, not the gcc-12 the cell asks for"


def test_a_config_target_the_tree_does_not_have_is_a_matrix_error():
    """make x_defconfig for a name the tree lacks: Kconfig's `*** Can't find default configuration` (a
    real log of the corpus): the cell asks for something the tree does not have, whatever the commit."""
    log = (PROJECT / "tests" / "data" / "logs" / "x86_64-gcc-no-such-defconfig.log").read_text()
    cell = Cell("x86_64-gcc-orchestrator_defconfig", "x86_64", "gcc", "orchestrator_defconfig", (), ("config",), ("arch/x86/kvm/",))
    status, reason = classify.classify(cell, {"config": "FAIL"}, log, "", [], logparse.parse(log.splitlines()))
    assert (status, reason) == (Status.MATRIX_ERROR, "this tree has no orchestrator_defconfig for x86_64; name one it has, e.g. defconfig")
