#!/usr/bin/env python3
"""Regenerate the build-log corpus: real tuxmake builds of the demo tree with injected breakages.

Usage: python3 tests/data/logs/make_corpus.py [--tree build/linux] [--only NAME ...]

For each scenario below: a shared, checkout-less clone of the demo tree gets one commit with the
edits, `orchestrate --commit <sha>` builds the one cell named, and the cell's build.log is copied here
as NAME.log. The expected diagnostics (NAME.expected.json) are written by hand-checking, not by this
script: after regenerating, compare with `python3 tests/data/logs/make_corpus.py --show NAME`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[2]
sys.path.insert(0, str(PROJECT / "tests"))
sys.path.insert(0, str(PROJECT))

from conftest import commit_change  # noqa: E402

DUP = "void orchestrator_dup(void) { }\n"
MISSING = "extern void orchestrator_missing_symbol(void);\nvoid orchestrator_calls_missing(void) { orchestrator_missing_symbol(); }\n"
MISMATCH = "static noinline void __init kernel_init_freeable(void);\nvoid orchestrator_mismatch(void) { kernel_init_freeable(); }\n"
VGIC = "#include <asm/kvm_mmu.h>\n"  # vgic.h: included by 14 KVM files, but not by asm-offsets.c
TINY = "static noinline void __init kernel_init_freeable(void);\n"

# name: (cell spec for matrix.yaml, [(path, old, new)])
SCENARIOS = {
    "riscv-gcc-missing-member": (
        "{arch: riscv, toolchain: gcc, fragments: [kvm]}",
        [("arch/riscv/kvm/vcpu_sbi.c", "run->system_event.ndata = 1;", "run->system_event.flags = 1;")],
    ),
    "riscv-gcc-latin1-source": (  # a Latin-1 byte in the line gcc echoes: the log is not valid UTF-8
        "{arch: riscv, toolchain: gcc, fragments: [kvm]}",
        [("arch/riscv/kvm/vcpu_sbi.c", "run->system_event.ndata = 1;", "run->system_event.flags = 1; /* caf\udce9 */")],
    ),
    "riscv-clang-missing-member": (
        "{arch: riscv, toolchain: clang, fragments: [kvm]}",
        [("arch/riscv/kvm/vcpu_sbi.c", "run->system_event.ndata = 1;", "run->system_event.flags = 1;")],
    ),
    "arm64-gcc-header-unknown-type": (
        "{arch: arm64, toolchain: gcc, fragments: [kvm]}",
        [("arch/arm64/kvm/vgic/vgic.h", VGIC, VGIC + "extern orchestrator_undefined_t orchestrator_bogus;\n")],
    ),
    "arm64-clang-header-unknown-type": (
        "{arch: arm64, toolchain: clang, fragments: [kvm]}",
        [("arch/arm64/kvm/vgic/vgic.h", VGIC, VGIC + "extern orchestrator_undefined_t orchestrator_bogus;\n")],
    ),
    "x86_64-gcc-unused-variable": (  # x86 KVM builds with -Werror (CONFIG_KVM_WERROR): an error
        "{arch: x86_64, toolchain: gcc, fragments: [kvm]}",
        [("arch/x86/kvm/x86.c", "\tstruct kvm_run *kvm_run = vcpu->run;\n\tint r;\n",
          "\tstruct kvm_run *kvm_run = vcpu->run;\n\tint r;\n\tint orchestrator_unused;\n")],
    ),
    "x86_64-clang-unused-variable": (
        "{arch: x86_64, toolchain: clang, fragments: [kvm]}",
        [("arch/x86/kvm/x86.c", "\tstruct kvm_run *kvm_run = vcpu->run;\n\tint r;\n",
          "\tstruct kvm_run *kvm_run = vcpu->run;\n\tint r;\n\tint orchestrator_unused;\n")],
    ),
    "arm64-gcc-unused-variable": (  # arm64 KVM has no -Werror: a plain warning, and the cell passes
        "{arch: arm64, toolchain: gcc, fragments: [kvm]}",
        [("arch/arm64/kvm/psci.c", "\tunsigned long val;\n\n\tval = kvm_psci_check_allowed_function(vcpu, psci_fn);",
          "\tunsigned long val;\n\tint orchestrator_unused;\n\n\tval = kvm_psci_check_allowed_function(vcpu, psci_fn);")],
    ),
    "arm64-gcc-implicit-declaration": (
        "{arch: arm64, toolchain: gcc, fragments: [kvm]}",
        [("arch/arm64/kvm/psci.c", "\tunsigned long val;\n\n\tval = kvm_psci_check_allowed_function(vcpu, psci_fn);",
          "\tunsigned long val;\n\n\torchestrator_undeclared(vcpu);\n\tval = kvm_psci_check_allowed_function(vcpu, psci_fn);")],
    ),
    "arm64-clang-implicit-declaration": (
        "{arch: arm64, toolchain: clang, fragments: [kvm]}",
        [("arch/arm64/kvm/psci.c", "\tunsigned long val;\n\n\tval = kvm_psci_check_allowed_function(vcpu, psci_fn);",
          "\tunsigned long val;\n\n\torchestrator_undeclared(vcpu);\n\tval = kvm_psci_check_allowed_function(vcpu, psci_fn);")],
    ),
    # Whole kernels of a small config: the link step. ld stops at the first kind of error it meets in
    # vmlinux.o, so each link error gets its own build.
    "x86_64-gcc-tinyconfig-undefined-reference": (
        "{arch: x86_64, toolchain: gcc, kconfig: tinyconfig, targets: kernel}",
        [("init/main.c", TINY, TINY + MISSING)],
    ),
    "x86_64-clang-tinyconfig-undefined-reference": (
        "{arch: x86_64, toolchain: clang, kconfig: tinyconfig, targets: kernel}",
        [("init/main.c", TINY, TINY + MISSING)],
    ),
    "x86_64-gcc-tinyconfig-multiple-definition": (
        "{arch: x86_64, toolchain: gcc, kconfig: tinyconfig, targets: kernel}",
        [("init/main.c", TINY, TINY + DUP), ("kernel/panic.c", "int panic_on_oops", DUP + "int panic_on_oops")],
    ),
    "x86_64-clang-tinyconfig-multiple-definition": (
        "{arch: x86_64, toolchain: clang, kconfig: tinyconfig, targets: kernel}",
        [("init/main.c", TINY, TINY + DUP), ("kernel/panic.c", "int panic_on_oops", DUP + "int panic_on_oops")],
    ),
    "x86_64-gcc-tinyconfig-section-mismatch": (
        "{arch: x86_64, toolchain: gcc, kconfig: tinyconfig, targets: kernel}",
        [("init/main.c", TINY, MISMATCH)],
    ),
    "x86_64-gcc-assembler-error": (
        "{arch: x86_64, toolchain: gcc, fragments: [kvm]}",
        [("arch/x86/kvm/x86.c", "\tstruct kvm_run *kvm_run = vcpu->run;\n\tint r;\n",
          "\tstruct kvm_run *kvm_run = vcpu->run;\n\tint r;\n\n\tasm volatile(\"orchestrator_bogus_insn\");\n")],
    ),
    "riscv-gcc-pipe-assembler-error": (  # KCFLAGS=-pipe: gcc pipes into gas, which then reads {standard input}
        "{arch: riscv, toolchain: gcc, fragments: [kvm], make_variables: {KCFLAGS: -pipe}}",
        [("arch/riscv/kvm/vcpu.c", "int kvm_arch_vcpu_precreate(struct kvm *kvm, unsigned int id)\n{\n",
          "int kvm_arch_vcpu_precreate(struct kvm *kvm, unsigned int id)\n{\n\tasm volatile(\"orchestrator_bogus_insn\");\n")],
    ),
    "riscv-gcc-kconfig-unmet": (
        "{arch: riscv, toolchain: gcc, fragments: [kvm]}",
        [("arch/riscv/kvm/Kconfig", "\tselect SRCU\n", "\tselect SRCU\n\tselect CRYPTO_DEV_CCP_DD\n")],
    ),
    "x86_64-gcc-no-such-defconfig": (  # make's own explanation: *** Can't find default configuration "..."!
        "{arch: x86_64, toolchain: gcc, kconfig: orchestrator_defconfig}",
        [],
    ),
    "riscv-gcc-no-rule": (
        "{arch: riscv, toolchain: gcc, fragments: [kvm]}",
        [("arch/riscv/kvm/Makefile", "kvm-y += vcpu.o\n", "kvm-y += vcpu.o\nkvm-y += orchestrator_missing.o\n")],
    ),
}


# Logs written without tuxmake, as other CIs write them: plain make in a worktree of the scenario's commit,
# its output (stdout and stderr) piped through `ts` (moreutils) where a CI prefixes each line with a time.
# name: ([(path, old, new)], [command, ...], the filter every line goes through, or None)
SELFTEST_CALL = (
    "tools/testing/selftests/kvm/kvm_create_max_vcpus.c",
    "int main(int argc, char *argv[])\n{\n",
    "void orchestrator_missing_helper(void);\n\nint main(int argc, char *argv[])\n{\n\torchestrator_missing_helper();\n",
)
# BUILD_BUG_ON fails after parsing (gcc's middle end), so only in a file with no other error; and once
# a function (what follows the failed assertion's call is unreachable)
MACROS = """
void orchestrator_corpus_asserts(void)
{
\tBUILD_BUG_ON(sizeof(int) != 8);
}

void orchestrator_corpus_asserts_again(void)
{
\tBUILD_BUG_ON(sizeof(int) != 8);
}
"""
HEADER_NOTE = """
void orchestrator_corpus_calls(int *out)
{
\tpr_info("orchestrator %d\\n", 1UL);
\tif (kstrtoint(42, 10, out))
\t\treturn;
\torchestrator_undeclared = 1;
}
"""
PANIC_END = 'early_param("panic_on_taint", panic_on_taint_setup);\n'
MACRO_EDITS = [
    ("kernel/panic.c", PANIC_END, PANIC_END + HEADER_NOTE),
    ("kernel/exit.c", "EXPORT_SYMBOL(abort);\n", "EXPORT_SYMBOL(abort);\n" + MACROS),
    ("kernel/fork.c", "#include <linux/slab.h>\n", "#include <linux/slab.h>\n#include <linux/orchestrator_missing.h>\n"),
]
DRIVER_FLAG = ("kernel/Makefile", "KMSAN_SANITIZE_kcov.o := n\n", "KMSAN_SANITIZE_kcov.o := n\nCFLAGS_panic.o += -morchestrator-no-such-option\n")
RISCV_FLAGS = ("arch/riscv/kvm/vcpu_sbi.c", "run->system_event.ndata = 1;", "run->system_event.flags = 1;")
SELFTESTS = ["make", "-C", "tools/testing/selftests/kvm", "-j2", "-k"]  # -k: every broken test, as tuxmake keeps going
RISCV_KVM = [
    ["make", "-s", "-j2", "O={build}", "ARCH=riscv", "CROSS_COMPILE=riscv64-linux-gnu-", "defconfig"],
    ["scripts/config", "--file", "{build}/.config", "--enable", "KVM"],
    ["make", "-s", "-j2", "O={build}", "ARCH=riscv", "CROSS_COMPILE=riscv64-linux-gnu-", "olddefconfig"],
    ["make", "-j2", "O={build}", "ARCH=riscv", "CROSS_COMPILE=riscv64-linux-gnu-", "arch/riscv/kvm/"],
]
PLAIN = {
    "x86_64-gcc-selftests-undefined-reference": (  # compiled and linked in one step: ld names /tmp/ccXXXXXX.o
        [SELFTEST_CALL], [["make", "-s", "headers_install"], SELFTESTS], None,
    ),
    "arm64-gcc-selftests-undefined-reference": (
        [SELFTEST_CALL],
        [["make", "-s", "ARCH=arm64", "headers_install"], [*SELFTESTS, "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"]],
        None,
    ),
    "x86_64-gcc-selftests-m32-system-header": (  # 32-bit userspace without gcc-multilib's headers
        [], [["make", "-s", "headers_install"], [*SELFTESTS, "CC=gcc -m32"]], None,
    ),
    # A subdirectory's own Makefile fails (nvhe/Makefile:44 compiles hyp objects): not the tree's root
    "arm64-gcc-nvhe-subdir-makefile": (
        [
            ("arch/arm64/kvm/hyp/nvhe/hyp-main.c", "\tfpsimd_lazy_switch_to_guest(kern_hyp_va(vcpu));\n",
             "\tfpsimd_lazy_switch_to_guest(kern_hyp_va(vcpu));\n\tvcpu->arch.no_such_member = 1;\n"),
            ("arch/arm64/kvm/hyp/exception.c", "static void __vcpu_write_spsr(struct kvm_vcpu *vcpu, u64 val)\n{\n",
             "static void __vcpu_write_spsr(struct kvm_vcpu *vcpu, u64 val)\n{\n\tundeclared_in_exception = 1;\n"),
        ],
        [
            ["make", "-s", "-j2", "O={build}", "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "defconfig"],
            ["make", "-k", "-j2", "O={build}", "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "arch/arm64/kvm/"],
        ],
        None,
    ),
    # A commit makes a Kconfig symbol depend on what it selects: conf stops
    "riscv-gcc-kconfig-recursive-dependency": (
        [("arch/riscv/kvm/Kconfig", "\tdepends on RISCV_SBI && MMU\n", "\tdepends on RISCV_SBI && MMU && KVM_XFER_TO_GUEST_WORK\n")],
        [["make", "-s", "-j2", "O={build}", "ARCH=riscv", "CROSS_COMPILE=riscv64-linux-gnu-", "defconfig"]],
        None,
    ),
    # A commit links a selftest with a library the machine does not have
    "x86_64-gcc-selftests-cannot-find-library": (
        [("tools/testing/selftests/size/Makefile", "TEST_GEN_PROGS := get_size\n", "TEST_GEN_PROGS := get_size\nLDLIBS += -lorchestrator_missing\n")],
        [["make", "-C", "tools/testing/selftests/size"]],
        None,
    ),
    # Errors inside macros (a printk format; BUILD_BUG_ON twice, in a second file), a note on a header's line
    # printed after its include chain and before the next error, and a fatal error in a third file (make -k)
    "x86_64-gcc-macros-and-header-note": (
        MACRO_EDITS,
        [
            ["make", "-s", "-j2", "O={build}", "defconfig"],
            ["make", "-k", "-j2", "O={build}", "kernel/panic.o", "kernel/exit.o", "kernel/fork.o"],
        ],
        None,
    ),
    "x86_64-clang-macros-and-header-note": (
        MACRO_EDITS,
        [
            ["make", "-s", "-j2", "O={build}", "LLVM=1", "defconfig"],
            ["make", "-k", "-j2", "O={build}", "LLVM=1", "kernel/panic.o", "kernel/exit.o", "kernel/fork.o"],
        ],
        None,
    ),
    # A commit gives one file a flag the compiler does not know: the driver's error names no file
    "x86_64-gcc-driver-unknown-option": (
        [DRIVER_FLAG],
        [["make", "-s", "-j2", "O={build}", "defconfig"], ["make", "-j2", "O={build}", "kernel/panic.o"]],
        None,
    ),
    "x86_64-clang-driver-unknown-option": (
        [DRIVER_FLAG],
        [["make", "-s", "-j2", "O={build}", "LLVM=1", "defconfig"], ["make", "-j2", "O={build}", "LLVM=1", "kernel/panic.o"]],
        None,
    ),
    "riscv-gcc-missing-member-ts-clock": ([RISCV_FLAGS], RISCV_KVM, ["ts", "%H:%M:%S"]),  # ts, LAVA
    "riscv-gcc-missing-member-ts-iso": ([RISCV_FLAGS], RISCV_KVM, ["ts", "%Y-%m-%dT%H:%M:%.SZ"]),  # GitHub Actions
    "riscv-gcc-missing-member-ts-uptime": ([RISCV_FLAGS], RISCV_KVM, ["ts", "-s", "[%.s]"]),  # seconds since the start
}

# The same plain-make log as other CI systems write it: the ts-clock log with its clock cut (exactly what
# make printed), then through the tool each CI prefixes lines with. name: the filter.
PREFIXED_FROM = "riscv-gcc-missing-member-ts-clock"
BUILDKITE = r'{printf "\033_bk;t=%d%03d\007%s\n", systime(), NR % 1000, $0; fflush()}'
PREFIXED = {
    "riscv-gcc-missing-member-tagged": ["sed", "-u", "s/^/[build] /"],  # a script's own tag
    "riscv-gcc-missing-member-jenkins": ["ts", "[%Y-%m-%d %H:%M:%S]"],  # Jenkins' timestamper plugin
    "riscv-gcc-missing-member-compose": ["sed", "-u", "s/^/kernel-build_1  | /"],  # docker-compose logs
    "riscv-gcc-missing-member-ts-seconds": ["ts", "-s", "%.s"],  # seconds since the start, bare
    "riscv-gcc-missing-member-syslog": ["ts", "%b %d %H:%M:%.S"],  # syslog's time with fractions
    "riscv-gcc-missing-member-gitlab": ["ts", "%Y-%m-%dT%H:%M:%.SZ 00O"],  # GitLab's raw job log
    "riscv-gcc-missing-member-buildkite": ["awk", BUILDKITE],  # Buildkite's timestamp escape
    "riscv-gcc-missing-member-constant": ["sed", "-u", "s/^/kernel: /"],  # any constant prefix
    "riscv-gcc-missing-member-unknown-prefix": ["awk", '{print "L" NR ": " $0}'],  # one no rule detects: the failure is still said
}


def make_prefixed(name: str) -> Path:
    raw = re.sub(rb"(?m)^\d{2}:\d{2}:\d{2} ", b"", (HERE / f"{PREFIXED_FROM}.log").read_bytes())
    with open(HERE / f"{name}.log", "wb") as log:
        subprocess.run(PREFIXED[name], input=raw, stdout=log, check=True, env={**os.environ, "LANG": "C", "TZ": "UTC"})
    if name != "riscv-gcc-missing-member-unknown-prefix":
        shutil.copy(HERE / f"{PREFIXED_FROM}.expected.json", HERE / f"{name}.expected.json")  # the same records
    return HERE / f"{name}.log"
def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(name: str, tree: Path, work: Path, edits: list) -> tuple[Path, str]:
    """The scenario's commit on top of the demo tree's HEAD, in a shared clone under `work`."""
    clone = work / "linux"
    if not clone.exists():
        subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(tree), str(clone)], check=True)
    git(clone, "update-ref", "HEAD", git(tree, "rev-parse", "HEAD"))  # every scenario starts from the base
    sha = git(clone, "rev-parse", "HEAD")
    for path, old, new in edits:
        sha = commit_change(clone, path, old, new, f"corpus: {name}")
    return clone, sha


def make_plain(name: str, tree: Path, work: Path) -> Path:
    """A PLAIN scenario: its commands in a worktree of its commit, each announced by a `$` line, all of
    it (through the filter, if any) into NAME.log."""
    edits, steps, through = PLAIN[name]
    clone, sha = commit(name, tree, work, edits)
    source, build = work / name / "src", work / name / "build"
    git(clone, "worktree", "add", "--quiet", "--detach", str(source), sha)
    env = {**os.environ, "LANG": "C", "TZ": "UTC"}
    with open(HERE / f"{name}.log", "wb") as log:
        sink = subprocess.Popen(through, stdin=subprocess.PIPE, stdout=log, env=env) if through else None
        out = sink.stdin if sink is not None else log
        assert out is not None
        for step in steps:
            argv = [word.replace("{build}", str(build)) for word in step]
            out.write(("$ " + " ".join(argv) + "\n").encode())
            out.flush()
            done = subprocess.run(argv, cwd=source, stdout=out, stderr=subprocess.STDOUT, env=env)
        if sink is not None:
            out.close()
            sink.wait()
    assert done.returncode != 0, f"{name}: the last step did not fail"
    return HERE / f"{name}.log"


def make(name: str, tree: Path, work: Path) -> Path:
    if name in PREFIXED:
        return make_prefixed(name)
    if name in PLAIN:
        return make_plain(name, tree, work)
    spec, edits = SCENARIOS[name]
    clone, sha = commit(name, tree, work, edits)
    matrix = work / name / "matrix.yaml"
    matrix.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT / "configs", matrix.parent / "configs")
    matrix.write_text(f"include:\n  - {spec}\n")
    results = work / name / "results"
    command = [sys.executable, "-m", "orchestrator", "--commit", sha, "--tree", str(clone),
               "--matrix", str(matrix), "--results", str(results)]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=PROJECT)
    (log,) = results.glob(f"{sha}/*/build.log")
    shutil.copy(log, HERE / f"{name}.log")
    if name == "riscv-gcc-latin1-source":
        plain_make(clone, work)
    return HERE / f"{name}.log"


def plain_make(clone: Path, work: Path) -> None:
    """The same breakage built by plain make, output redirected to a file: tuxmake re-encodes what the
    compiler prints, plain make does not, so this log keeps the raw 0xe9 byte (not valid UTF-8)."""
    from orchestrator import tree, workroot

    source = tree.worktree_dir(workroot.default_work_root(), clone)  # checked out at the sha by orchestrate
    build = work / "plain-make-build"
    make = ["make", "-s", "-j2", f"O={build}", "ARCH=riscv", "CROSS_COMPILE=riscv64-linux-gnu-"]
    steps = [
        make + ["defconfig"],
        ["scripts/config", "--file", str(build / ".config"), "--enable", "KVM"],
        make + ["olddefconfig"],
        make + ["arch/riscv/kvm/"],
    ]
    print(f"plain make in {source} at {git(source, 'rev-parse', 'HEAD')}", flush=True)
    with open(HERE / "riscv-gcc-latin1-plain-make.log", "wb") as log:
        for step in steps:
            log.write(("$ " + " ".join(step) + "\n").encode())
            log.flush()
            done = subprocess.run(step, cwd=source, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "LANG": "C"})
    assert done.returncode != 0, "the broken commit built: plain make did not build the scenario's commit"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=PROJECT / "build" / "linux")
    parser.add_argument("--only", nargs="*", default=[*SCENARIOS, *PLAIN, *PREFIXED])
    parser.add_argument("--show", metavar="NAME", help="print what the parser finds in NAME.log, to compare")
    args = parser.parse_args()
    if args.show:
        from orchestrator import logparse

        with open(HERE / f"{args.show}.log", "rb") as log:
            records = [d.to_dict() for d in logparse.parse(log)]
        unset = {"known": False, "label": "", "program": ""}  # left out when unset, as the expected files have them
        print(json.dumps([{k: v for k, v in r.items() if unset.get(k, ...) != v} for r in records], indent=1))
        return
    work = Path(tempfile.mkdtemp(prefix="orch-corpus-"))
    try:
        for name in args.only:
            print(make(name, args.tree.resolve(), work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "200")
    main()
