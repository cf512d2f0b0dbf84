"""Container images tuxmake accepts, built from Debian packages where no registry can be reached.

An image is a Debian root filesystem made by mmdebstrap with the toolchains a set of cells needs,
imported into podman under the names tuxmake would pull (docker.io/tuxmake/<arch>_<toolchain>), so
tuxmake's podman runtime finds it locally. The suite and package list are labels of the image: an
image whose packages cover what is asked is reused, so building again with nothing changed is free.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuxmake.arch import Architecture
from tuxmake.toolchain import Toolchain

from .errors import ToolError, UserError

SUITE = "bookworm"
REGISTRY = "docker.io"
RECIPE_LABEL = "org.orchestrator.recipe"  # suite and packages, as "bookworm:bc,bison,..."
# What tuxmake runs in a container besides the compiler: make and the kernel's build tools, the
# offline wrapper (socat, unshare, ip), ccache, and the metadata script (perl).
BASE_PACKAGES = [
    "bc", "bison", "ccache", "cpio", "flex", "gcc", "git", "iproute2", "kmod", "libc6-dev", "libelf-dev",
    "libssl-dev", "lz4", "make", "openssl", "perl", "python3", "rsync", "socat", "util-linux", "xz-utils", "zstd",
]
CLANG_PACKAGES = ("clang", "lld", "llvm")
# Cross compilers by the Debian triplet of tuxmake's CROSS_COMPILE (x86_64-linux-gnu- is the native gcc here).
CROSS_GCC = {"aarch64-linux-gnu": "gcc-aarch64-linux-gnu", "riscv64-linux-gnu": "gcc-riscv64-linux-gnu", "i686-linux-gnu": "gcc-i686-linux-gnu"}


@dataclass
class ImageSpec:
    names: list[str]  # full names, docker.io/tuxmake/riscv_gcc
    packages: list[str]

    @property
    def recipe(self) -> str:
        return f"{SUITE}:{','.join(self.packages)}"

    def satisfied_by(self, recipe: str | None) -> bool:
        """Whether an image made from `recipe` has everything this one needs."""
        suite, _, packages = (recipe or "").partition(":")
        return suite == SUITE and set(self.packages) <= set(packages.split(","))


def image_name(arch: str, toolchain: str, registry: str = REGISTRY) -> str:
    """The image tuxmake's container runtimes use for a cell: docker.io/tuxmake/riscv_gcc. Tests name
    another registry, so that they never replace the user's images."""
    target, chain = Architecture(arch), Toolchain(toolchain)
    return f"{registry}/{target.get_image(chain) or chain.get_image(target)}"


def packages_for(arch: str, toolchain: str) -> list[str]:
    if toolchain == "clang":
        return list(CLANG_PACKAGES)
    if toolchain != "gcc":
        raise UserError(f"toolchain '{toolchain}': images are built for gcc and clang only")
    triplet = Architecture(arch).makevars.get("CROSS_COMPILE", "").rstrip("-")
    if triplet == f"{os.uname().machine}-linux-gnu":
        return []  # the native gcc of the base
    if triplet not in CROSS_GCC:
        raise UserError(f"arch '{arch}': no Debian cross compiler known for {triplet or 'it'}")
    return [CROSS_GCC[triplet]]


def spec_for(pairs: list[tuple[str, str]], registry: str = REGISTRY) -> ImageSpec:
    """One image for every (arch, toolchain) pair, named once per pair: the toolchains share a base."""
    packages = sorted(set(BASE_PACKAGES).union(*(packages_for(a, t) for a, t in pairs)))
    return ImageSpec(names=sorted({image_name(a, t, registry) for a, t in pairs}), packages=packages)


def podman() -> str:
    path = shutil.which("podman")
    if path is None:
        raise ToolError("podman is not installed: run scripts/setup (or apt-get install podman runc catatonit uidmap)")
    return path


def inspect(name: str) -> tuple[str, str] | None:
    """(image id, recipe label) of a local image, or None when there is no such image."""
    result = subprocess.run(
        [podman(), "image", "inspect", "--format", f'{{{{.Id}}}} {{{{index .Labels "{RECIPE_LABEL}"}}}}', name],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return None
    image_id, _, recipe = result.stdout.strip().partition(" ")
    return image_id, recipe


def mmdebstrap_rootfs(spec: ImageSpec, rootfs: Path, say: Callable[[str], None]) -> None:
    """A Debian root filesystem with the spec's packages, as a tar file."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ToolError("mmdebstrap is not installed: run scripts/setup (or apt-get install mmdebstrap)")
    say(f"mmdebstrap {SUITE} with {len(spec.packages)} packages: {' '.join(spec.packages)}")
    _run([mmdebstrap, "--variant=apt", "--quiet", f"--include={','.join(spec.packages)}", SUITE, str(rootfs)], "mmdebstrap")


RootfsMaker = Callable[[ImageSpec, Path, Callable[[str], None]], None]


def build(spec: ImageSpec, say: Callable[[str], None] = lambda message: None, make_rootfs: RootfsMaker = mmdebstrap_rootfs) -> bool:
    """Make the image unless every name has one whose packages cover the spec's; True when it was built."""
    found = {name: inspect(name) for name in spec.names}
    current = {name: image[0] for name, image in found.items() if image and spec.satisfied_by(image[1])}
    if len(current) == len(found):
        for name, image_id in current.items():
            say(f"{name}: up to date (image {image_id[:12]})")
        return False
    with tempfile.TemporaryDirectory(prefix="orchestrator-image-", dir=os.environ.get("TMPDIR")) as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        make_rootfs(spec, rootfs, say)
        first, *others = spec.names
        _run(
            [podman(), "import", "--quiet", "--change", f"LABEL {RECIPE_LABEL}={spec.recipe}", "--change", 'CMD ["/bin/bash"]', str(rootfs), first],
            "podman import",
        )
        for name in others:
            _run([podman(), "tag", first, name], "podman tag")
    made = inspect(first)
    if made is None:
        raise ToolError(f"podman import made no image {first}")
    image_id = made[0]
    for name in spec.names:
        say(f"{name}: built (image {image_id[:12]})")
    for old in {image[0] for image in found.values() if image and image[0] != image_id}:
        # An image left without names by this build; one still named (or in use) stays.
        subprocess.run([podman(), "image", "rm", old], capture_output=True)
    return True


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise ToolError(f"{what} failed: {lines[-1] if lines else f'exit {result.returncode}'}")
