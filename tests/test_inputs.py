"""inputs: the files a build read, from Kbuild's records in its build directory.

The records below are excerpts of real ones, from `make O=... ARCH=riscv defconfig syncconfig` of the
demo tree (its path replaced by {tree}; the .cmd file's first line, the compiler command, left out); the
e2e test in test_cli.py reads those of real KVM builds.
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
