"""inputs: the files a build read, from Kbuild's records in its build directory.

The records below are excerpts of real ones, from `make O=... ARCH=riscv defconfig syncconfig` (and, for
the dependency file, `ARCH=x86_64 defconfig prepare`) of the demo tree (its path replaced by {tree};
the .cmd file's first line, the compiler command, left out); the e2e test in test_cli.py reads those
of real KVM builds.
"""

from orchestrator import inputs

PARSER_TAB_CMD = r"""source_scripts/kconfig/parser.tab.o := scripts/kconfig/parser.tab.c

deps_scripts/kconfig/parser.tab.o := \
  {tree}/scripts/kconfig/lkc.h \
    $(wildcard include/config/prefix) \
  {tree}/scripts/kconfig/expr.h \
  {tree}/scripts/kconfig/list.h \
  {tree}/scripts/kconfig/lkc_proto.h \
  {tree}/scripts/kconfig/internal.h \
  scripts/kconfig/parser.tab.h \

scripts/kconfig/parser.tab.o: $(deps_scripts/kconfig/parser.tab.o)

$(deps_scripts/kconfig/parser.tab.o):
"""

AUTO_CONF_CMD = r"""deps_config := \
	Documentation/Kconfig \
	lib/kunit/Kconfig \
	arch/riscv/Kconfig.debug \
	samples/rust/Kconfig

ifneq "$(SRCARCH)" "riscv"
include/config/auto.conf: FORCE
endif
ifneq "$(AR)" "riscv64-linux-gnu-ar"
include/config/auto.conf: FORCE
endif

$(deps_config): ;
"""

MISSING_SYSCALLS_D = r"""-: {tree}/include/linux/compiler-version.h \
 {tree}/include/linux/kconfig.h \
 include/generated/autoconf.h \
 {tree}/arch/x86/include/asm/unistd.h \
 {tree}/arch/x86/include/uapi/asm/unistd.h \
 arch/x86/include/generated/uapi/asm/unistd_64.h \
 arch/x86/include/generated/asm/unistd_32_ia32.h
"""


def test_sources_headers_and_kconfig_files_of_the_tree_are_read_and_the_builds_outputs_are_not(tmp_path):
    tree, build = tmp_path / "linux", tmp_path / "build"
    (build / "scripts" / "kconfig").mkdir(parents=True)
    (build / "include" / "config").mkdir(parents=True)
    (build / "scripts" / "kconfig" / ".parser.tab.o.cmd").write_text(PARSER_TAB_CMD.replace("{tree}", str(tree)))
    (build / "include" / "config" / "auto.conf.cmd").write_text(AUTO_CONF_CMD)
    assert inputs.read_inputs(build, tree) == {
        "scripts/kconfig/lkc.h", "scripts/kconfig/expr.h", "scripts/kconfig/list.h", "scripts/kconfig/lkc_proto.h",
        "scripts/kconfig/internal.h",  # not parser.tab.c or parser.tab.h: made in the build directory
        "Documentation/Kconfig", "lib/kunit/Kconfig", "arch/riscv/Kconfig.debug", "samples/rust/Kconfig",
    }  # fmt: skip


def test_a_build_directory_without_records_read_nothing(tmp_path):
    assert inputs.read_inputs(tmp_path, tmp_path / "linux") == frozenset()


def test_the_stored_form_is_compact_and_the_same_for_the_same_set():
    files = frozenset(f"include/linux/h{n}.h" for n in range(3000))
    packed = inputs.pack(files)
    assert inputs.unpack(packed) == files and inputs.pack(files) == packed
    assert len(packed) < 20_000 and inputs.unpack(b"") == frozenset()


def test_a_compiler_dependency_file_kbuild_left_unconverted_is_read_too(tmp_path):
    """The syscall check preprocesses unistd.h with no .cmd record: only its .d file says so."""
    tree, build = tmp_path / "linux", tmp_path / "build"
    build.mkdir()
    (build / ".missing-syscalls.d").write_text(MISSING_SYSCALLS_D.replace("{tree}", str(tree)))
    assert inputs.read_inputs(build, tree) == {
        "include/linux/compiler-version.h", "include/linux/kconfig.h", "arch/x86/include/asm/unistd.h",
        "arch/x86/include/uapi/asm/unistd.h",
    }  # fmt: skip


def test_headers_read_the_uapi_directories_whole_and_an_unrecorded_target_leaves_no_input_set(tmp_path):
    tree, build = tmp_path / "linux", tmp_path / "build"
    build.mkdir()
    (build / ".missing-syscalls.d").write_text(MISSING_SYSCALLS_D.replace("{tree}", str(tree)))
    recorded = inputs.read_inputs(build, tree)
    assert inputs.of_build(build, tree, ["config", "kernel", "modules"], "x86") == recorded
    assert inputs.of_build(build, tree, ["config", "headers"], "x86") == recorded | {"include/uapi/", "arch/x86/include/uapi/"}
    assert inputs.of_build(build, tree, ["config", "kselftest"], "x86") is None  # reads tools/ as it likes
