"""images: one Debian image with the toolchains asked for, under tuxmake's names; reused when it covers them."""

import os
import shutil

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


def test_building_again_with_nothing_changed_reuses_the_image():
    if shutil.which("podman") is None or shutil.which("mmdebstrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("podman or mmdebstrap missing: run scripts/setup")
        pytest.skip("podman or mmdebstrap missing: run scripts/setup")
    spec = images.spec_for(PAIRS)
    images.build(spec)  # scripts/setup made it already; if not, this makes it (about a minute)
    before = {name: images.inspect(name) for name in spec.names}
    said = []
    assert images.build(spec, say=said.append) is False
    assert {name: images.inspect(name) for name in spec.names} == before
    assert said == [f"{name}: up to date (image {before[name][0][:12]})" for name in spec.names]
