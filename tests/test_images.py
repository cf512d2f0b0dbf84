"""images: one Debian image with the toolchains asked for, under tuxmake's names; reused when it covers them."""

import io
import os
import shutil
import subprocess
import tarfile
import uuid

import pytest

from orchestrator import images

PAIRS = [("riscv", "gcc"), ("arm64", "gcc")]


def test_names_are_the_ones_tuxmake_uses():
    assert images.image_name("riscv", "gcc") == "docker.io/tuxmake/riscv_gcc"
    assert images.image_name("x86_64", "clang") == "docker.io/tuxmake/x86_64_clang"


def test_one_image_holds_every_toolchain_asked_for():
    spec = images.spec_for([("riscv", "gcc"), ("arm64", "clang"), ("x86_64", "gcc")])
    assert spec.names == ["docker.io/tuxmake/arm64_clang", "docker.io/tuxmake/riscv_gcc", "docker.io/tuxmake/x86_64_gcc"]
    assert {"gcc-riscv64-linux-gnu", "clang", "lld", "llvm", "make", "bison", "flex", "socat", "ccache"} <= set(spec.packages)
    assert "gcc-x86-64-linux-gnu" not in spec.packages  # x86_64 is this machine's own gcc


def test_an_image_is_reused_when_its_packages_cover_the_request():
    small, large = images.spec_for([("riscv", "gcc")]), images.spec_for(PAIRS)
    assert small.satisfied_by(large.recipe) and large.satisfied_by(large.recipe)
    assert not large.satisfied_by(small.recipe)
    assert not small.satisfied_by("trixie:" + ",".join(small.packages))  # another suite
    assert not small.satisfied_by(None)  # no image at all


@pytest.fixture
def scratch_registry():
    """A registry name no one else uses: the images a test makes there are removed after it, and the
    user's (docker.io/tuxmake/*) are never touched."""
    if shutil.which("podman") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("podman missing: run scripts/setup")
        pytest.skip("podman missing: run scripts/setup")
    registry = f"localhost/orchestrator-test-{uuid.uuid4().hex[:12]}"
    yield registry
    listed = subprocess.run(["podman", "images", "--format", "{{.Repository}}"], capture_output=True, text=True).stdout.split()
    mine = sorted({name for name in listed if name.startswith(registry + "/")})
    if mine:
        subprocess.run(["podman", "image", "rm", "--force", *mine], capture_output=True)


def tiny_rootfs(spec, rootfs, say):
    """Stands in for mmdebstrap (a minute and 772 MB): the image's recipe label is what reuse reads."""
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("etc/orchestrator-test")
        data = spec.recipe.encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    say("tiny root filesystem")


@pytest.mark.e2e
def test_an_image_is_built_once_reused_while_it_covers_and_replaced_when_it_does_not(scratch_registry):
    spec = images.spec_for(PAIRS, registry=scratch_registry)
    assert all(name.startswith(scratch_registry + "/tuxmake/") for name in spec.names)
    assert images.build(spec, make_rootfs=tiny_rootfs) is True
    built = {name: images.inspect(name) for name in spec.names}
    assert len({image for image, _ in built.values()}) == 1 and {recipe for _, recipe in built.values()} == {spec.recipe}
    said = []
    assert images.build(spec, say=said.append, make_rootfs=tiny_rootfs) is False
    assert {name: images.inspect(name) for name in spec.names} == built
    assert said == [f"{name}: up to date (image {built[name][0][:12]})" for name in spec.names]
    smaller = images.spec_for(PAIRS[:1], registry=scratch_registry)
    assert images.build(smaller, make_rootfs=tiny_rootfs) is False  # covered by the larger image
    larger = images.spec_for([*PAIRS, ("x86_64", "clang")], registry=scratch_registry)
    assert images.build(larger, make_rootfs=tiny_rootfs) is True
    assert {images.inspect(name)[1] for name in larger.names} == {larger.recipe}
