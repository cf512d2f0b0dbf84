"""The reuse rule (pure): a result holds for a later commit only when no changed path could reach it."""

import pytest

from orchestrator.reuse import Change, parse_name_status, proof

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
