"""demotree: Debian's linux-source-6.1 as a git tree, the same commit for the same tarball on every machine.

The sha itself follows Debian's package (6.1.192-3, a security update of 2026-11-26, moved it from
50a4808780bc to 1451fda175bf): what is pinned is how the commit is made, not which tarball was current."""

import shutil
import subprocess

from orchestrator.demotree import DEBIAN_BLOCK_MARKER, FIXED_IDENTITY, make_demo_tree, strip_debian_ignore_block


def git(tree, *args):
    return subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True, text=True).stdout


def test_the_demo_tree_is_one_commit_of_the_whole_kernel_with_a_fixed_identity_and_date(demo_tree):
    fields = git(demo_tree, "log", "-1", "--format=%P|%an <%ae>|%aI|%cn <%ce>|%cI|%s").strip().split("|")
    identity = f"{FIXED_IDENTITY['GIT_AUTHOR_NAME']} <{FIXED_IDENTITY['GIT_AUTHOR_EMAIL']}>"
    date = FIXED_IDENTITY["GIT_AUTHOR_DATE"]
    assert fields == ["", identity, date, identity, date, "Linux from linux-source-6.1.tar.xz"]  # no parent
    tracked = git(demo_tree, "ls-files", "Makefile", "include/uapi/linux/kvm.h", "arch/riscv/kvm/vcpu_sbi.c").split()
    assert tracked == ["Makefile", "arch/riscv/kvm/vcpu_sbi.c", "include/uapi/linux/kvm.h"]
    assert DEBIAN_BLOCK_MARKER not in (demo_tree / ".gitignore").read_text()


def test_the_same_tarball_gives_the_same_commit_whenever_and_wherever_it_is_unpacked(demo_tree, tmp_path):
    """A tarball of a few of the kernel's own files, with Debian's ignore-everything block: unpacked
    twice, in two places, a second apart, it is the same commit."""
    top = tmp_path / "src" / "linux-source-6.1"
    for path in ("Makefile", "include/uapi/linux/kvm.h", "arch/riscv/kvm/vcpu_sbi.c"):
        (top / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(demo_tree / path, top / path)
    block = f"\n#\n{DEBIAN_BLOCK_MARKER}, since it isn't\n# included in our repository\n#\n/*\n!/debian/\n"
    (top / ".gitignore").write_text((demo_tree / ".gitignore").read_text() + block)
    tarball = tmp_path / "linux-source-6.1.tar.xz"
    subprocess.run(["tar", "-cJf", str(tarball), "-C", str(top.parent), top.name], check=True)

    first = make_demo_tree(tmp_path / "one", tarball)
    subprocess.run(["sleep", "1.1"], check=True)  # a later clock: commit dates must not follow it
    second = make_demo_tree(tmp_path / "elsewhere" / "two", tarball)

    assert first == second
    assert git(tmp_path / "one", "ls-files").split() == ["Makefile", "arch/riscv/kvm/vcpu_sbi.c", "include/uapi/linux/kvm.h"]
    assert make_demo_tree(tmp_path / "one", tarball) == first  # an existing demo tree is reused as it is


def test_stripping_debians_block_keeps_the_kernels_own_rules(demo_tree):
    kernel_rules = (demo_tree / ".gitignore").read_text()
    debian = kernel_rules + "\n#\n" + DEBIAN_BLOCK_MARKER + ", since it isn't\n# included in our repository\n#\n/*\n!/debian/\n"
    assert strip_debian_ignore_block(debian).rstrip("\n") == kernel_rules.rstrip("\n")
    assert strip_debian_ignore_block(kernel_rules) == kernel_rules
