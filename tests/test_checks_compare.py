"""The uapi-abi classifier, on layouts read from the DWARF of small headers compiled here for real by
each ABI's own compiler (gcc -m64/-m32/-mx32, clang for riscv32)."""

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.checks import compare, layouts
from orchestrator.checks.compare import Kind
from orchestrator.checks.records import Layouts

ABIS = layouts.abis()
TYPES = """typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef unsigned char __u8;
typedef long __kernel_long_t;
typedef __u64 __aligned_u64 __attribute__((aligned(8)));
"""
SEED = """struct kvm_run {
	__u32 exit_reason;
	__u32 padding1;
	union {
		struct {
			__u32 type;
			__u64 flags;
		} system_event;
		char padding[256];
	};
};
"""


def compiled(tmp_path: Path, text: str, *abis: str) -> list[Layouts]:
    """Each ABI's layouts of one header, include/linux/t.h."""
    header = tmp_path / "include" / "linux" / "t.h"
    header.parent.mkdir(parents=True, exist_ok=True)
    header.write_text(TYPES + text)
    for name in abis:
        if shutil.which(ABIS[name].cc[0]) is None:
            pytest.skip(f"{ABIS[name].cc[0]} is not installed (scripts/setup installs it)")
    return [layouts.layouts(ABIS[name], tmp_path / "include", ["linux/t.h"], tmp_path / "work") for name in abis]


def differences(tmp_path: Path, text: str, wide: str = "x86_64", narrow: str = "i386") -> list[compare.Difference]:
    return compare.compare(*compiled(tmp_path, text, wide, narrow))


def test_the_seed_trap_is_an_alignment_error_at_the_member_where_the_shift_starts(tmp_path):
    found = differences(tmp_path, SEED)
    assert [(d.where, d.kind, d.severity, d.detail) for d in found] == [
        ("struct kvm_run.system_event.flags", Kind.ALIGNMENT, "error", "offset 16 on x86_64, 12 on i386")
    ]
    assert found[0].fingerprint == "x86_64-i386|struct kvm_run|system_event.flags|alignment"
    assert found[0].file == "linux/t.h" and found[0].line == 12  # the member's own line, after 5 of typedefs
    assert "__u64 is aligned to 8 bytes on x86_64, 4 on i386" in found[0].message


def test_x32_aligns_u64_like_x86_64_so_the_seed_struct_is_alike(tmp_path):
    assert differences(tmp_path, SEED, narrow="x32") == []


def test_explicit_alignment_or_padding_removes_the_difference(tmp_path):
    text = "struct a { __u32 type; __aligned_u64 flags; };\nstruct b { __u32 type; __u32 pad; __u64 flags; };\n"
    assert differences(tmp_path, text) == []


def test_a_size_that_differs_only_at_the_end_is_tail_padding(tmp_path):
    found = differences(tmp_path, "struct t { __u64 a; __u32 b; };\n")
    assert [(d.where, d.kind, d.detail) for d in found] == [("struct t", Kind.TAIL_PADDING, "size 16 on x86_64, 12 on i386")]


def test_a_member_whose_own_struct_differs_inherits_it(tmp_path):
    found = differences(tmp_path, "struct t { __u64 a; __u32 b; };\nstruct user { __u32 x; struct t inner[2]; };\n")
    kinds = {d.where: d.kind for d in found}
    assert kinds == {"struct t": Kind.TAIL_PADDING, "struct user.inner": Kind.INHERITED}


def test_a_long_or_pointer_at_or_before_a_member_is_a_word_warning_and_explains_what_follows(tmp_path):
    found = differences(tmp_path, "struct w { __u32 a; __kernel_long_t b; __u32 c; __u64 d; void *p; };\n")
    # b is wider; c only follows it; d moves again (its alignment), but after a long: word too; p is wider
    assert [(d.where, d.kind, d.severity) for d in found] == [
        ("struct w.b", Kind.WORD, "warning"), ("struct w.d", Kind.WORD, "warning"), ("struct w.p", Kind.WORD, "warning")
    ]  # fmt: skip
    # a struct holding a pointer makes its users' shifts word-sized too, not alignment errors
    found = differences(tmp_path, "struct h { void *p; };\nstruct u { struct h h; __u32 x; __u64 y; };\n")
    assert {d.kind for d in found} == {Kind.WORD}


def test_a_scalar_type_the_arch_defines_differently_is_an_arch_type_note(tmp_path):
    text = "#ifdef __i386__\ntypedef unsigned short uid_like;\n#else\ntypedef unsigned int uid_like;\n#endif\n"
    text += "struct ids { uid_like uid; __u32 gid; };\n"
    found = differences(tmp_path, text)
    assert [(d.where, d.kind, d.severity) for d in found] == [("struct ids.uid", Kind.ARCH_TYPE, "note")]
    assert "uid_like is unsigned int on x86_64, short unsigned int on i386" in found[0].message  # gid did not move


def test_what_one_abi_ifdefs_out_is_a_one_side_note(tmp_path):
    text = "struct s { __u32 a;\n#ifdef __i386__\n__u32 high;\n#endif\n};\n#ifndef __i386__\nstruct only64 { int x; };\n#endif\n"
    found = differences(tmp_path, text)
    assert sorted((d.where, d.kind, d.severity) for d in found) == [
        ("struct only64", Kind.ONE_SIDE, "note"),
        ("struct s.high", Kind.ONE_SIDE, "note"),
    ]


SIGCONTEXT = """typedef unsigned short __u16;
#ifdef __i386__
struct sigcontext { __u16 gs, __gsh; __u16 fs, __fsh; __u32 di; __u16 cs, __csh; };
#else
struct sigcontext { __u64 r8; __u64 di; __u16 cs; __u16 gs; __u16 fs; __u16 ss; };
#endif
"""
EQUAL = re.compile(r"(?<![\w.])(\S+) (?:bytes )?on x86_64, \1 on i386")  # "2 on x86_64, 2 on i386": no difference at all


def test_a_struct_each_abi_defines_on_its_own_lines_is_one_arch_type_note(tmp_path):
    """arch/x86/include/uapi/asm/sigcontext.h: its members only share names; once three false
    alignment errors, "__u16 is aligned to 2 bytes on x86_64, 2 on i386"."""
    found = differences(tmp_path, SIGCONTEXT)
    assert [(d.where, d.kind, d.severity) for d in found] == [("struct sigcontext", Kind.ARCH_TYPE, "note")]
    assert "defined separately for each ABI (linux/t.h:10 on x86_64, linux/t.h:8 on i386)" in found[0].message


def test_a_member_each_abi_declares_on_its_own_line_is_an_arch_type_note(tmp_path):
    text = "struct m { __u32 a;\n#ifdef __x86_64__\n__u32 pad; __u64 b;\n#else\n__u64 b;\n#endif\n__u32 c; };\n"
    found = {d.where: (d.kind, d.severity) for d in differences(tmp_path, text)}
    assert found == {"struct m.pad": (Kind.ONE_SIDE, "note"), "struct m.b": (Kind.ARCH_TYPE, "note")}


def test_a_shift_alignment_does_not_explain_is_never_called_alignment(tmp_path):
    text = "struct e { __u32 a;\n#ifdef __x86_64__\n__u32 extra;\n#endif\n__u32 c; };\n"
    found = differences(tmp_path, text)
    assert sorted((d.where, d.kind, d.severity) for d in found) == [
        ("struct e.c", Kind.ONE_SIDE, "note"),
        ("struct e.extra", Kind.ONE_SIDE, "note"),
    ]
    assert "moved by a member before it that one ABI leaves out" in next(d.message for d in found if d.where == "struct e.c")
    assert not [d.message for d in found if EQUAL.search(d.message)]


def test_bit_fields_are_placed_alike_by_gcc_and_clang(tmp_path):
    """clang 14 describes bit-field offsets the DWARF 2 way, gcc the DWARF 4 way: both read the same."""
    text = "struct bits { __u8 a; __u8 b : 2, c : 1; __u32 d : 5; __u64 e; };\n"
    wide, narrow = compiled(tmp_path, text, "riscv64", "riscv32")
    assert [(m.name, m.offset, m.size) for m in wide.types["struct bits"].members] == [
        ("a", 0, 8), ("b", 8, 2), ("c", 10, 1), ("d", 11, 5), ("e", 64, 64)
    ]  # fmt: skip
    assert [(m.offset, m.size) for m in wide.types["struct bits"].members] == [(m.offset, m.size) for m in narrow.types["struct bits"].members]
    assert compare.compare(wide, narrow) == []


def test_a_struct_that_moves_in_its_header_keeps_its_fingerprints(tmp_path):
    before = differences(tmp_path / "before", SEED)
    after = differences(tmp_path / "after", "/*\n * ten\n * lines\n * of\n * comment\n * that\n * push\n * it\n * down\n */\n" + SEED)
    assert [d.fingerprint for d in before] == [d.fingerprint for d in after]
    assert [d.line + 10 for d in before] == [d.line for d in after]


def test_a_header_that_conflicts_with_one_before_it_is_compiled_in_a_unit_of_its_own(tmp_path):
    """b.h redefines a.h's struct (as linux/time.h and libc's <sys/time.h> both define struct timeval):
    compiled apart, both are compared. d.h fails even alone, as patchkey.h does: left out, with why."""
    include = tmp_path / "include"
    (include / "linux").mkdir(parents=True)
    (include / "linux" / "a.h").write_text("struct clash { int x; };\n")
    (include / "linux" / "b.h").write_text("struct clash { int x; };\nstruct fine_b { int z; };\n")
    (include / "linux" / "c.h").write_text("struct fine_c { int z; };\n")
    (include / "linux" / "d.h").write_text('#error "d.h included directly"\n')
    found = layouts.layouts(ABIS["x86_64"], include, ["linux/a.h", "linux/b.h", "linux/c.h", "linux/d.h"], tmp_path / "work")
    assert set(found.types) == {"struct clash", "struct fine_b", "struct fine_c"}
    assert list(found.dropped) == ["linux/d.h"] and "d.h included directly" in found.dropped["linux/d.h"]


def test_the_abis_c_library_headers_are_part_of_what_is_compiled(tmp_path):
    """uapi headers include <sys/socket.h>, <sys/time.h>: each ABI compiles them against its own glibc,
    whose version is part of what the layouts depend on (the cache's identity)."""
    include = tmp_path / "include"
    (include / "linux").mkdir(parents=True)
    (include / "linux" / "uses_libc.h").write_text("#include <sys/time.h>\nstruct stamped { struct timeval tv; int x; };\n")
    for name in ("x86_64", "i386", "riscv32"):
        found = layouts.layouts(ABIS[name], include, ["linux/uses_libc.h"], tmp_path / name)
        assert not found.dropped and "struct stamped" in found.types, name
        assert re.search(r", glibc \d+\.\d+$", found.compiler), found.compiler
    again = {n: layouts.layouts(ABIS[n], include, ["linux/uses_libc.h"], tmp_path / f"{n}-2") for n in ("x86_64", "i386")}
    sizes = {n: found.types["struct stamped"].size for n, found in again.items()}
    assert sizes == {"x86_64": 24, "i386": 12}  # glibc's 32-bit time_t on i386


def test_an_abi_without_its_c_library_headers_names_the_package_that_has_them(tmp_path):
    absent = replace(ABIS["riscv32"], libc_flags=("-isystem", "/usr/riscv64-linux-gnu/include"))  # without the stand-in
    with pytest.raises(layouts.CompilerMissing, match=r"the C library headers for riscv32 are not on the host \(install libc6-dev-riscv64-cross\)"):
        layouts.compiler_version(absent)


def test_a_member_of_a_c_library_type_that_differs_is_an_arch_type_with_its_own_cause(tmp_path):
    """struct timeval is glibc's (<sys/time.h>), 16 bytes on x86_64 and 8 on i386: no installed header
    defines it, so the member says why, and never as two equal spellings."""
    found = differences(tmp_path, "#include <sys/time.h>\nstruct stamped { struct timeval tv; __u32 x; };\n")
    assert [(d.where, d.kind, d.detail) for d in found] == [("struct stamped.tv", Kind.ARCH_TYPE, "size 16 on x86_64, 8 on i386")]
    assert "its type struct timeval is the C library's" in found[0].message


def test_a_missing_compiler_names_the_package_that_has_it(tmp_path):
    absent = layouts.Abi("arm", "arm", ("orchestrator-no-such-gcc",), "gcc-arm-linux-gnueabihf")
    with pytest.raises(layouts.CompilerMissing, match=r"orchestrator-no-such-gcc not found on the host \(install gcc-arm-linux-gnueabihf\)"):
        layouts.layouts(absent, tmp_path, [], tmp_path / "work")


def test_a_size_difference_inside_a_union_of_fixed_size_changes_nothing_outside_it(tmp_path):
    """kvm_run's exit structs sit in a union padded to 256 bytes: their tail padding moves nothing."""
    text = "struct t { __u64 a; __u32 b; };\nstruct run { __u32 reason; __u32 pad;\n"
    text += "  union { struct { __u64 x; __u32 cpu; } fail_entry; struct t named; char padding[256]; };\n  __u64 after; };\n"
    assert [(d.where, d.kind) for d in differences(tmp_path, text)] == [("struct t", Kind.TAIL_PADDING)]
    # the same exit outside a padded union changes what follows it
    found = differences(tmp_path / "open", "struct t { __u64 a; __u32 b; };\nstruct run { struct t named; __u32 after; };\n")
    assert {d.where: d.kind for d in found} == {"struct t": Kind.TAIL_PADDING, "struct run.named": Kind.INHERITED}
