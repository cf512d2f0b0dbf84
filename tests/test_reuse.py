"""The reuse rule (pure): a result holds for a later commit only when no changed path could reach it."""

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from conftest import PROJECT, commit_changes, orchestrate

from orchestrator.reuse import Change, parse_name_status, proof
from orchestrator.store import Store
from orchestrator.views import export

X86_INPUTS = frozenset({"arch/x86/kvm/x86.c", "include/uapi/linux/kvm.h", "include/linux/kvm_host.h", "arch/x86/kvm/Kconfig"})
ARM64_INPUTS = frozenset({"arch/arm64/kvm/psci.c", "include/uapi/linux/kvm.h", "include/linux/kvm_host.h", "arch/arm64/kvm/Kconfig"})


def modified(*paths: str) -> list[Change]:
    return [Change("M", (path,)) for path in paths]


def test_a_change_no_build_read_is_reused_and_says_so():
    assert proof(modified("Documentation/virt/kvm/api.rst"), X86_INPUTS) == proof(modified("Documentation/virt/kvm/api.rst"), ARM64_INPUTS)
    assert proof(modified("Documentation/virt/kvm/api.rst"), X86_INPUTS).reason == "no input changed (1 file changed, none read by this cell)"
    assert proof(modified("arch/x86/kvm/x86.c"), ARM64_INPUTS).reusable  # an x86 file: arm64 never reads it


def test_a_file_the_cell_read_is_built():
    said = proof(modified("arch/x86/kvm/x86.c"), X86_INPUTS)
    assert not said.reusable and said.reason == "arch/x86/kvm/x86.c: read by this cell's build"
    assert not proof(modified("include/uapi/linux/kvm.h"), ARM64_INPUTS).reusable


@pytest.mark.parametrize(
    "path, why",
    [
        ("arch/riscv/kvm/Makefile", "a build-system or generator file"),
        ("arch/x86/Kconfig.debug", "a build-system or generator file"),
        ("arch/x86/entry/syscalls/syscall_64.tbl", "a build-system or generator file"),
        ("arch/x86/kernel/vmlinux.lds.S", "a build-system or generator file"),
        ("arch/arm64/tools/gen-cpucaps.awk", "a build-system or generator file"),
        ("scripts/kconfig/conf.c", "under scripts/ or tools/, where the build's own programs live"),
        ("tools/testing/selftests/kvm/x86_64/cpuid_test.c", "under scripts/ or tools/, where the build's own programs live"),
        ("Makefile", "a file at the top of the tree"),
        ("MAINTAINERS", "a file at the top of the tree"),
        ("arch/arm64/boot/dts/apple/t8103.dts", "not a plain source or document"),
    ],
)
def test_build_files_generators_and_anything_not_plain_are_built_whoever_read_them(path, why):
    assert proof(modified(path), frozenset()) == proof(modified(path), X86_INPUTS)
    assert proof(modified(path), frozenset()).reason == f"{path}: {why}"


def test_a_new_header_no_one_includes_is_reused_but_a_new_c_file_comes_with_a_makefile_line():
    assert proof([Change("A", ("include/linux/orchestrator_unused.h",))], X86_INPUTS).reusable
    added = [Change("A", ("arch/x86/kvm/orchestrator.c",)), Change("M", ("arch/x86/kvm/Makefile",))]
    assert not proof(added, X86_INPUTS).reusable


def test_both_sides_of_a_rename_count():
    renamed = parse_name_status("R100\0arch/x86/kvm/x86.c\0arch/x86/kvm/x86_main.c\0")
    assert renamed == [Change("R100", ("arch/x86/kvm/x86.c", "arch/x86/kvm/x86_main.c"))]
    assert not proof(renamed, X86_INPUTS).reusable and proof(renamed, ARM64_INPUTS).reusable


def test_git_name_status_is_read_with_its_nul_separators():
    text = "M\0Documentation/a b.rst\0A\0include/linux/new.h\0C75\0arch/x86/kvm/x86.c\0arch/x86/kvm/y.c\0D\0lib/gone.c\0"
    assert [(c.status, c.paths) for c in parse_name_status(text)] == [
        ("M", ("Documentation/a b.rst",)),
        ("A", ("include/linux/new.h",)),
        ("C75", ("arch/x86/kvm/x86.c", "arch/x86/kvm/y.c")),
        ("D", ("lib/gone.c",)),
    ]
    assert parse_name_status("") == [] and proof([], X86_INPUTS).reason == "no file changed"


def test_a_directory_read_whole_covers_every_file_under_it_old_or_new():
    headers_cell = ARM64_INPUTS | {"include/uapi/", "arch/arm64/include/uapi/"}
    assert not proof([Change("A", ("include/uapi/linux/orchestrator_new.h",))], headers_cell).reusable
    assert not proof(modified("arch/arm64/include/uapi/asm/kvm.h"), headers_cell).reusable
    assert proof(modified("arch/x86/include/uapi/asm/kvm.h"), headers_cell).reusable  # another arch's
    assert proof([Change("A", ("include/uapi/linux/orchestrator_new.h",))], ARM64_INPUTS).reusable  # no headers target


# --- a series of real commits on the demo tree, built with reuse (end to end) ---------------------

# The shipped KVM cells, each building the one object the series edits (a whole KVM directory would
# make the same decisions, slower), and the uapi check of kvm.h.
MATRIX = """tree: {path: linux}
include:
  - {arch: x86_64, fragments: [kvm], targets: [arch/x86/kvm/x86.o]}
  - {arch: i386, fragments: [kvm], targets: [arch/x86/kvm/x86.o]}
  - {arch: arm64, fragments: [kvm], targets: [arch/arm64/kvm/psci.o]}
  - {arch: riscv, fragments: [kvm], targets: [arch/riscv/kvm/vcpu_sbi.o]}
checks:
  uapi-abi: {headers: [linux/kvm.h], pairs: [x86_64-i386]}
"""
X86, I386 = "x86_64-gcc-defconfig+kvm@arch_x86_kvm_x86.o", "i386-gcc-defconfig+kvm@arch_x86_kvm_x86.o"
ARM64, RISCV = "arm64-gcc-defconfig+kvm@arch_arm64_kvm_psci.o", "riscv-gcc-defconfig+kvm@arch_riscv_kvm_vcpu_sbi.o"
UAPI = "uapi-abi-x86_64-i386"
UNITS = [X86, I386, ARM64, RISCV, UAPI]
# Each edit keeps the line count, so ccache still hits: a comment's words change, no line moves.
# (subject, edits, the units the commit can change: built; the rest are reused)
X86_COMMENT = (" * Kernel-based Virtual Machine driver for Linux", " * Kernel-based Virtual Machine driver for Linux, a comment")
UAPI_COMMENT = (" * Note: you must update KVM_API_VERSION", " * Note, a comment: you must update KVM_API_VERSION")
NEW_FILE = "int orchestrator_answer(void);\nint orchestrator_answer(void) { return 42; }\n"
NEW_FILE_LINE = ("+= x86.o", "+= orchestrator.o x86.o")  # in arch/x86/kvm/Makefile
SERIES = [
    ("Documentation: KVM API, a comment", [("Documentation/virt/kvm/api.rst", "General description", "General description, a comment")], set()),
    ("KVM: x86: a comment", [("arch/x86/kvm/x86.c", *X86_COMMENT)], {X86, I386}),
    ("KVM: arm64: a comment", [("arch/arm64/kvm/psci.c", " * Copyright (C) 2012 - ARM Ltd", " * Copyright (C) 2012 - ARM Ltd, a comment")], {ARM64}),
    ("KVM: uapi: a comment", [("include/uapi/linux/kvm.h", *UAPI_COMMENT)], set(UNITS)),
    ("RISC-V: KVM: a Makefile comment", [("arch/riscv/kvm/Makefile", "RISC-V KVM support\n", "RISC-V KVM support, a comment\n")], set(UNITS)),
    ("linux: a header no one includes", [("include/linux/orchestrator_unused.h", "", "#define ORCHESTRATOR_UNUSED 1\n")], set()),
    ("KVM: x86: a new file", [("arch/x86/kvm/orchestrator.c", "", NEW_FILE), ("arch/x86/kvm/Makefile", *NEW_FILE_LINE)], set(UNITS)),
]  # fmt: skip


@pytest.fixture(scope="module")
def series(demo_tree, tmp_path_factory):
    """A clone of the demo tree with SERIES on top, built base..tip (reuse on, the default)."""
    root = tmp_path_factory.mktemp("reuse")
    clone = root / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(clone)], check=True)
    base = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    shas = [commit_changes(clone, edits, subject) for subject, edits, _ in SERIES]
    shutil.copytree(PROJECT / "configs", root / "configs")
    (root / "matrix.yaml").write_text(MATRIX)
    common = ["--tree", str(clone), "--matrix", str(root / "matrix.yaml"), "--results", str(root / "results")]
    run = orchestrate("--commit", f"{base}..{shas[-1]}", *common)
    return {"clone": clone, "base": base, "shas": shas, "common": common, "run": run, "results": root / "results"}


def reused_cells(results: Path, sha: str) -> set[str]:
    store = Store(results)
    try:
        return {result.cell_id for result in store.builds(sha) if result.reused}
    finally:
        store.close()


@pytest.mark.e2e
def test_a_series_builds_exactly_the_cells_each_commit_can_change_and_reuses_the_rest(series):
    assert series["run"].returncode == 0, series["run"].stdout[-3000:] + series["run"].stderr
    assert reused_cells(series["results"], series["base"]) == set()  # nothing earlier to reuse
    for sha, (subject, _, changed) in zip(series["shas"], SERIES, strict=True):
        assert reused_cells(series["results"], sha) == set(UNITS) - changed, subject


@pytest.mark.e2e
def test_a_reused_result_is_marked_in_show_the_table_and_every_export(series):
    doc_only, x86_comment = series["shas"][0], series["shas"][1]
    show = orchestrate("show", doc_only, "--results", str(series["results"]))
    assert f"reused from {series['base'][:12]} (no input changed)" in show.stdout
    table = orchestrate("report", f"{series['base']}..{doc_only}", *series["common"])
    assert "✓↺" in table.stdout and "↺ reused: no input of the cell changed" in table.stdout
    document = json.loads(orchestrate("report", f"{doc_only}..{x86_comment}", *series["common"], "--format", "json").stdout)
    jsonschema.validate(document, export.schema("report"))
    at = {c["sha"]: {v["cell"]: v["reused_from"] for v in c["verdicts"]} for c in document["commits"]}
    assert at[x86_comment] == {X86: None, I386: None, ARM64: series["base"], RISCV: series["base"], UAPI: series["base"]}
    markdown = orchestrate("report", x86_comment, *series["common"], "--format", "markdown").stdout
    assert "✓↺" in markdown and "3 results reused, not built" in markdown
    junit = orchestrate("report", x86_comment, *series["common"], "--format", "junit").stdout
    assert junit.count(f"reused from {series['base'][:12]} (no input changed)") == 3


@pytest.mark.e2e
def test_verify_reuse_builds_every_reused_cell_of_the_series_and_finds_no_mismatch(series):
    run = orchestrate("--commit", f"{series['base']}..{series['shas'][-1]}", *series["common"], "--verify-reuse")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    reused = sum(len(set(UNITS) - changed) for _, _, changed in SERIES)
    audits = [line for line in run.stdout.splitlines() if line.startswith("reuse audit:")]
    assert [int(line.split()[2]) for line in audits] == [n for n in (len(set(UNITS) - c) for _, _, c in SERIES) if n]
    assert sum(int(line.split()[2]) for line in audits) == reused and all("0 mismatches" in line for line in audits)
    for sha in series["shas"]:  # what the audit built is stored: a built result replaces the reused one
        assert reused_cells(series["results"], sha) == set()


def test_verify_reuse_cannot_go_with_no_reuse(tmp_path):
    run = orchestrate("--commit", "HEAD", "--no-reuse", "--verify-reuse", "--results", str(tmp_path))
    assert (run.returncode, run.stderr.strip()) == (2, "orchestrate: error: --verify-reuse checks reused results: it cannot go with --no-reuse")
