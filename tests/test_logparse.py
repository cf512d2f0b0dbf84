"""logparse: real build logs (tests/data/logs/, see README.md there) into exactly the expected records.

Each NAME.log was captured from a real tuxmake build of the demo tree with a breakage injected;
NAME.expected.json holds its diagnostics, checked by hand against the log.
"""

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator import logparse
from orchestrator.models import Diagnostic

LOGS = Path(__file__).resolve().parent / "data" / "logs"
CORPUS = sorted(p.stem for p in LOGS.glob("*.log"))


def parsed(name: str, roots=()) -> list[Diagnostic]:
    with open(LOGS / f"{name}.log", "rb") as log:
        return logparse.parse(log, roots)


def expected(name: str) -> list[Diagnostic]:
    return [Diagnostic.from_dict(d) for d in json.loads((LOGS / f"{name}.expected.json").read_text())]


def test_the_corpus_is_there():
    assert len(CORPUS) >= 12, CORPUS
    for name in CORPUS:
        assert (LOGS / f"{name}.expected.json").exists(), f"{name}.log has no expected records"


@pytest.mark.parametrize("name", CORPUS)
def test_each_real_log_parses_to_exactly_its_expected_records(name):
    assert parsed(name) == expected(name)


@pytest.mark.parametrize("name", CORPUS)
def test_paths_are_tree_relative_whatever_root_the_build_used(name):
    """The same log written under a container mount point and another build directory parses the same."""
    text = (LOGS / f"{name}.log").read_bytes()
    roots = sorted(set(_roots(text)), key=len, reverse=True)
    moved = text
    for index, root in enumerate(roots):
        moved = moved.replace(root.encode(), f"/mnt/container{index}/src".encode())
    records = logparse.parse(moved.splitlines())
    assert records == expected(name)
    for record in records:
        assert not record.file.startswith("/") or record.file.startswith("/usr/include/"), record  # system headers stay
        assert "/root/" not in record.message and "/mnt/" not in record.message and "/tmp/" not in record.message, record


def _roots(text: bytes):
    """The build's own directories: tuxmake's build and worktree directories, make_corpus.py's for plain make."""
    yield from re.findall(r"/tmp/orch-corpus-\w+/[\w.+-]+/(?:src|build)", text.decode("utf-8", "replace"))
    for line in text.decode("utf-8", "replace").splitlines():
        if line.startswith("make --silent") and " O=" in line:
            yield line.split(" O=")[1].split()[0]
        if "/worktrees/" in line:
            start = line.index("/root/") if "/root/" in line else line.index("/")
            end = line.index("/", line.index("/worktrees/") + len("/worktrees/"))
            yield line[start:end]


def test_non_utf8_bytes_never_crash_and_survive_as_replacement_characters():
    # Plain make passes the compiler's bytes through: this log is not valid UTF-8.
    raw = (LOGS / "riscv-gcc-latin1-plain-make.log").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    (error,) = [d for d in parsed("riscv-gcc-latin1-plain-make") if d.severity == "error"]
    assert "caf\ufffd" in error.excerpt[0]
    # tuxmake (with the build's lenient pipes) writes the same line with U+FFFD already in it.
    (error,) = [d for d in parsed("riscv-gcc-latin1-source") if d.severity == "error"]
    assert "caf\ufffd" in error.excerpt[0]


def test_a_header_error_reached_from_many_files_is_one_record_with_a_count():
    for name in ("arm64-gcc-header-unknown-type", "arm64-clang-header-unknown-type"):
        (header,) = parsed(name)
        assert header.file == "arch/arm64/kvm/vgic/vgic.h"
        assert header.count == 14  # the log prints it once for each of the 14 files including vgic.h
        assert header.include_chain == ["arch/arm64/kvm/sys_regs.c:33"]


def test_fingerprint_ignores_line_and_column_but_not_the_file():
    (error,) = [d for d in parsed("riscv-gcc-missing-member") if d.severity == "error"]
    moved = replace(error, line=error.line + 3, column=1)
    assert logparse.fingerprint(moved) == error.fingerprint
    elsewhere = replace(error, file="arch/arm64/kvm/psci.c")
    assert logparse.fingerprint(elsewhere) != error.fingerprint


def test_fingerprints_are_the_same_in_gcc_and_clang_only_when_the_message_is():
    gcc = [d for d in parsed("riscv-gcc-missing-member") if d.severity == "error"]
    clang = [d for d in parsed("riscv-clang-missing-member") if d.severity == "error"]
    assert gcc[0].file == clang[0].file and gcc[0].fingerprint != clang[0].fingerprint


def test_streaming_keeps_one_record_per_distinct_problem():
    with open(LOGS / "arm64-gcc-header-unknown-type.log", "rb") as log:
        lines = log.readlines()
    parser = logparse.LogParser()
    for _ in range(50):
        for line in lines:
            parser.feed(line)
    once = parsed("arm64-gcc-header-unknown-type")
    fifty = parser.finish()
    assert [d.fingerprint for d in fifty] == [d.fingerprint for d in once]
    assert [d.count for d in fifty] == [50 * d.count for d in once]


# --- logs as other CIs write them -------------------------------------------------------------------

TIMESTAMPED = ["riscv-gcc-missing-member-ts-clock", "riscv-gcc-missing-member-ts-iso", "riscv-gcc-missing-member-ts-uptime"]
# The same log as other CI systems prefix it (tests/data/logs/make_corpus.py: PREFIXED)
PREFIXED = [f"riscv-gcc-missing-member-{how}" for how in ("tagged", "jenkins", "compose", "ts-seconds", "syslog", "gitlab", "buildkite", "constant")]
SEED_ERROR = ("arch/riscv/kvm/vcpu_sbi.c", 87, 26, "'struct <anonymous>' has no member named 'flags'")


def test_a_log_whose_lines_a_ci_prefixed_with_times_parses_as_if_they_were_not():
    """The same plain-make build piped through `ts` three ways: clock time, ISO (GitHub Actions), seconds."""
    found = {name: parsed(name) for name in TIMESTAMPED}
    assert found[TIMESTAMPED[0]] == found[TIMESTAMPED[1]] == found[TIMESTAMPED[2]]
    [error] = [d for d in found[TIMESTAMPED[0]] if d.severity == "error"]
    assert (error.file, error.line, error.column, error.message, error.root_cause) == (*SEED_ERROR, True)
    assert error.function == "kvm_riscv_vcpu_sbi_system_reset" and error.excerpt[0].lstrip().startswith("87 |")


@pytest.mark.parametrize("name", PREFIXED)
def test_a_log_any_ci_prefixed_parses_as_the_plain_one(name):
    """[build], Jenkins, docker-compose, ts -s, syslog with fractions, GitLab, Buildkite, a constant
    `kernel: `: each once put the prefix in the file field, or found no error at all in a failed build."""
    assert parsed(name) == parsed(TIMESTAMPED[0])


@pytest.mark.parametrize("name", [n for n in CORPUS if n not in TIMESTAMPED + PREFIXED])
def test_a_log_without_prefixes_is_never_taken_for_one(name):
    parser = logparse.LogParser()
    parser.detect_prefix((LOGS / f"{name}.log").read_text(errors="replace").splitlines())
    assert parser.prefix is None


def test_no_record_names_a_temporary_object_or_a_system_header_as_a_tree_path():
    """`/usr/include/stdio.h` is the system's; `<tree>/usr/include/asm/kvm.h` (headers_install's) is the tree's."""
    for name in CORPUS:
        text = (LOGS / f"{name}.log").read_text(errors="replace")
        system = set(re.findall(r"(?m)(?:^|from )/(usr/include/[\w/.-]+\.h)", text))
        for record in parsed(name):
            said = " ".join([record.file, record.message, *record.notes, *record.include_chain])
            assert "/tmp/cc" not in said, (name, record)
            assert record.file not in system and not any(loc.rsplit(":", 1)[0] in system for loc in record.include_chain), (name, record)


def test_a_system_header_stays_absolute_and_the_tree_file_that_included_it_is_resolved_from_makes_directory():
    [header] = [d for d in parsed("x86_64-gcc-selftests-m32-system-header") if d.root_cause]
    assert (header.file, header.line, header.column) == ("/usr/include/stdlib.h", 26, 10)  # the first error printed
    assert header.message == "bits/libc-header-start.h: No such file or directory"
    # gcc wrote `In file included from include/test_util.h:11,` inside tools/testing/selftests/kvm
    assert header.include_chain[0] == "tools/testing/selftests/kvm/include/test_util.h:11"
    assert header.include_chain[-1] == "tools/testing/selftests/kvm/lib/guest_modes.c:5"


@pytest.mark.parametrize("name", ["x86_64-gcc-selftests-undefined-reference", "arm64-gcc-selftests-undefined-reference"])
def test_lds_source_line_form_names_the_tree_file_and_line_and_the_temporary_object_is_gone(name):
    linker = [d for d in parsed(name) if d.tool == "linker"]
    ours = [d for d in linker if "orchestrator_missing_helper" in d.message]
    assert [(d.file, d.function) for d in ours] == [("tools/testing/selftests/kvm/kvm_create_max_vcpus.c", "main")]
    assert ours[0].line is not None and not ours[0].root_cause  # another test failed to link first
    assert all(d.file.startswith("tools/testing/selftests/kvm/") for d in linker)
    assert not any("returned 1 exit status" in d.message for d in linker)  # collect2's echo says nothing more


def test_the_root_cause_is_the_first_error_before_makes_first_failure():
    roots = {name: [d for d in parsed(name) if d.root_cause] for name in CORPUS}
    for name, found in roots.items():
        errors = [d for d in parsed(name) if d.severity == "error"]
        assert len(found) == (1 if errors else 0), name


def test_a_subdirectory_makefile_that_fails_is_never_taken_for_the_trees_root():
    """`make[6]: *** [<tree>/arch/arm64/kvm/hyp/nvhe/Makefile:44: ...]` once made nvhe the root: the
    next error became `../exception.c`, a second record of the same error under another fingerprint."""
    errors = [d for d in parsed("arm64-gcc-nvhe-subdir-makefile") if d.severity == "error"]
    assert [(d.file, d.line, d.count, d.root_cause) for d in errors] == [
        ("arch/arm64/kvm/hyp/exception.c", 42, 2, False),  # compiled for vhe and for nvhe (nvhe/../exception.c)
        ("arch/arm64/kvm/hyp/nvhe/hyp-main.c", 30, 1, True),
    ]


def test_kconfigs_recursive_dependency_keeps_its_cycle_and_lds_cannot_find_is_the_root_cause():
    [cycle] = parsed("riscv-gcc-kconfig-recursive-dependency")
    assert (cycle.file, cycle.line, cycle.message, cycle.root_cause) == ("arch/riscv/kvm/Kconfig", 20, "recursive dependency detected!", True)
    assert cycle.notes[:2] == ["arch/riscv/kvm/Kconfig:20: symbol KVM depends on KVM_XFER_TO_GUEST_WORK",
                               "virt/kvm/Kconfig:84: symbol KVM_XFER_TO_GUEST_WORK is selected by KVM"]  # fmt: skip
    [missing] = parsed("x86_64-gcc-selftests-cannot-find-library")  # once: "ld returned 1 exit status"
    assert (missing.tool, missing.message, missing.root_cause) == ("linker", "cannot find -lorchestrator_missing: No such file or directory", True)


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_an_error_inside_a_shared_headers_macro_is_placed_at_the_line_its_author_wrote(compiler):
    """gcc places BUILD_BUG_ON at compiler_types.h:387 and a printk format at kern_levels.h:5: the line
    the developer wrote is the outermost expansion in the tree's own file, and gcc's place stays a note.
    clang places them there itself: both compilers name the same lines."""
    found = {(d.file, d.line): d for d in parsed(f"x86_64-{compiler}-macros-and-header-note")}
    asserts = [found[("kernel/exit.c", 1941)], found[("kernel/exit.c", 1946)]]
    assert all("BUILD_BUG_ON failed" in d.message and not d.include_chain for d in asserts)
    if compiler == "gcc":
        assert asserts[0].notes[0] == "include/linux/compiler_types.h:387:45: where the compiler points, inside the macro"
        assert asserts[0].excerpt[0].strip() == "1941 |         BUILD_BUG_ON(sizeof(int) != 8);"  # the author's line, not the macro's
        assert [d.function for d in asserts] == ["orchestrator_corpus_asserts", "orchestrator_corpus_asserts_again"]
        printk = found[("kernel/panic.c", 820)]
        assert printk.option == "-Werror=format="
        assert printk.notes[0] == "include/linux/kern_levels.h:5:25: where the compiler points, inside the macro"
    assert not any(d.file.startswith("include/") for d in found.values())


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_build_bug_ons_fingerprint_carries_no_counter(compiler):
    """`__compiletime_assert_759` and `_760`: gcc's __COUNTER__ moves with every unrelated use before it,
    so two equal assertions are one problem, wherever they are and whatever was compiled before."""
    first, again = (d for d in parsed(f"x86_64-{compiler}-macros-and-header-note") if "BUILD_BUG_ON" in d.message)
    assert "__compiletime_assert_759" in first.message and "__compiletime_assert_760" in again.message  # as the compiler wrote it
    assert first.fingerprint == again.fingerprint


def test_an_include_chain_printed_before_a_note_is_the_notes_never_the_next_errors():
    """gcc prints `In file included from ... panic.c:14` for the note on kstrtox.h:72; the error after
    it, in panic.c itself, was once shown as included from panic.c."""
    found = {(d.file, d.line): d for d in parsed("x86_64-gcc-macros-and-header-note")}
    assert found[("kernel/panic.c", 821)].notes == ["include/linux/kstrtox.h:72:40: expected 'const char *' but argument is of type 'int'"]
    assert found[("kernel/panic.c", 823)].include_chain == []


def test_an_option_is_kept_as_the_compiler_wrote_it_and_fingerprints_as_the_warning():
    """`[-Werror=unused-variable]`, `[-Werror,-Wunused-variable]`: shown as written, one identity."""
    [gcc], [clang] = parsed("x86_64-gcc-unused-variable"), parsed("x86_64-clang-unused-variable")
    assert (gcc.option, clang.option) == ("-Werror=unused-variable", "-Werror,-Wunused-variable")
    assert logparse.fingerprint(gcc) == logparse.fingerprint(replace(gcc, option="-Wunused-variable"))


def test_each_record_reads_as_its_tool_wrote_it():
    """`fatal error`, gas's `Error`, the program when no file is named: what a developer greps the log for."""
    fatal = next(d for d in parsed("x86_64-gcc-macros-and-header-note") if d.file == "kernel/fork.c")
    assert fatal.headline == "kernel/fork.c:17:10: fatal error: linux/orchestrator_missing.h: No such file or directory"
    [gas] = parsed("x86_64-gcc-assembler-error")
    assert gas.said == "Error" and gas.severity == "error"
    [lld] = [d for d in parsed("x86_64-clang-tinyconfig-undefined-reference") if d.tool == "linker"]
    assert lld.headline.startswith("init/main.o: error: undefined symbol")  # ld.lld's >>> line named the object
    [ld] = parsed("x86_64-gcc-selftests-cannot-find-library")
    assert ld.headline == "ld: error: cannot find -lorchestrator_missing: No such file or directory"


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_a_drivers_error_names_its_program_and_the_target_make_failed(compiler):
    [driver] = parsed(f"x86_64-{compiler}-driver-unknown-option")
    assert driver.location == compiler and driver.file == "" and driver.root_cause
    assert driver.message.endswith("'-morchestrator-no-such-option'") and not driver.message.startswith(compiler)
    assert driver.notes == ["target: kernel/panic.o (scripts/Makefile.build)"]


def test_a_make_target_is_never_taken_for_a_file_of_the_tree():
    """`No rule to make target 'x.o'`: x.o does not exist; the record is make's, as make printed it."""
    [no_rule] = parsed("riscv-gcc-no-rule")
    assert no_rule.file == "" and no_rule.headline.startswith("make: error: No rule to make target 'arch/riscv/kvm/orchestrator_missing.o'")
    failed = logparse.parse([b"make[1]: *** [/src/Makefile:1234: vmlinux] Error 2"])
    assert [(d.file, d.headline) for d in failed] == [("", "make: error: target 'vmlinux' failed: Error 2")]
