"""demotree: Debian's linux-source-6.1 as a git tree, the same commit on every machine."""

import subprocess

from orchestrator.demotree import DEBIAN_BLOCK_MARKER, strip_debian_ignore_block

DEMO_SHA = "50a4808780bcdabf6a6276e60c949c870344efc7"  # linux-source-6.1 6.1.192, Debian 12


def git(tree, *args):
    return subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True, text=True).stdout


def test_the_demo_tree_is_one_reproducible_commit_of_the_whole_kernel(demo_tree):
    assert git(demo_tree, "rev-parse", "HEAD").strip() == DEMO_SHA
    tracked = git(demo_tree, "ls-files", "Makefile", "include/uapi/linux/kvm.h", "arch/riscv/kvm/vcpu_sbi.c").split()
    assert tracked == ["Makefile", "arch/riscv/kvm/vcpu_sbi.c", "include/uapi/linux/kvm.h"]
    assert DEBIAN_BLOCK_MARKER not in (demo_tree / ".gitignore").read_text()


def test_stripping_debians_block_keeps_the_kernels_own_rules(demo_tree):
    kernel_rules = (demo_tree / ".gitignore").read_text()
    debian = kernel_rules + "\n#\n" + DEBIAN_BLOCK_MARKER + ", since it isn't\n# included in our repository\n#\n/*\n!/debian/\n"
    assert strip_debian_ignore_block(debian).rstrip("\n") == kernel_rules.rstrip("\n")
    assert strip_debian_ignore_block(kernel_rules) == kernel_rules
