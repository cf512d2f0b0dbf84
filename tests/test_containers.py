"""containers: how cells run in podman here, and that a cell built in a container and on the host
agree (real podman, real builds of the demo tree)."""

import os
import shutil
import subprocess
import time

import pytest
from conftest import commit_changes, orchestrate, start

from orchestrator import containers
from orchestrator.store import Store


def test_root_keeps_host_ids_and_limits_never_exceed_the_hosts():
    assert containers.run_options(0, 20000, 96365) == [
        "--userns=host", "--ulimit=nofile=1024:1024", "--ulimit=nproc=4096:4096", "--network=none"
    ]
    assert containers.run_options(1000, 512, 100) == ["--ulimit=nofile=512:512", "--ulimit=nproc=100:100", "--network=none"]


def test_the_users_own_podman_options_come_last_so_they_win(monkeypatch):
    monkeypatch.setattr(containers, "USER_OPTIONS", "--network=host")
    options = containers.environment("podman")["TUXMAKE_PODMAN_RUN"]
    assert options.endswith("--network=none --network=host")
    assert containers.environment("null") == {}


def test_engines():
    assert [containers.engine(r) for r in ("podman", "podman-local", "docker", "null")] == ["podman", "podman", "docker", None]


@pytest.fixture(scope="module")
def podman_ready():
    """The riscv and arm64 gcc images scripts/setup made: used, never made or replaced here."""
    missing = [why for arch in ("riscv", "arm64") if (why := containers.why_not("podman", arch, "gcc")) is not None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing[0]}: run scripts/setup")
        pytest.skip(f"{missing[0]}: run scripts/setup")


CELLS = ["--cells", "riscv-gcc-defconfig+kvm", "--cells", "arm64-gcc-defconfig+kvm"]
BREAK = ("arch/riscv/kvm/vcpu_sbi.c", "\trun->system_event.ndata = 1;\n", "\trun->system_event.flags = 1;\n")
UNUSED = ("arch/arm64/kvm/psci.c", "\tint i;\n", "\tint i;\n\tint orchestrator_unused;\n")


@pytest.mark.e2e
def test_a_cell_built_in_podman_and_on_the_host_agree(demo_tree, tmp_path, podman_ready):
    """riscv fails with the seed error, arm64 passes with a warning: in a container and on the host."""
    clone = tmp_path / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(clone)], check=True)
    sha = commit_changes(clone, [BREAK, UNUSED], "riscv breaks, arm64 warns")
    stores = {}
    for runtime in ("podman", "null"):
        results = tmp_path / f"results-{runtime}"
        run = orchestrate("--commit", sha, "--tree", str(clone), "--results", str(results), "--runtime", runtime, *CELLS)
        assert run.returncode == 1, run.stdout + run.stderr  # riscv's failure has no baseline: a regression
        stores[runtime] = {r.cell_id: r for r in Store(results).builds(sha)}
    podman, host = stores["podman"], stores["null"]
    assert {c: r.status for c, r in podman.items()} == {c: r.status for c, r in host.items()} == {
        "riscv-gcc-defconfig+kvm": "fail",
        "arm64-gcc-defconfig+kvm": "pass",
    }
    for cell in podman:
        assert [d.fingerprint for d in podman[cell].diagnostics] == [d.fingerprint for d in host[cell].diagnostics]
        assert [(d.file, d.line, d.message) for d in podman[cell].diagnostics] == [
            (d.file, d.line, d.message) for d in host[cell].diagnostics
        ]
    assert any("has no member named 'flags'" in d.message for d in podman["riscv-gcc-defconfig+kvm"].diagnostics)
    assert any("orchestrator_unused" in d.message for d in podman["arm64-gcc-defconfig+kvm"].diagnostics)
    # The runtime and the image digest are stored, and shown.
    riscv = podman["riscv-gcc-defconfig+kvm"]
    assert riscv.runtime == "podman" and riscv.image.startswith("docker.io/tuxmake/riscv_gcc@sha256:")
    assert host["riscv-gcc-defconfig+kvm"].runtime == "null" and host["riscv-gcc-defconfig+kvm"].image == ""
    shown = orchestrate("show", sha, "--results", str(tmp_path / "results-podman"))
    assert f"podman runtime (image {riscv.image})" in shown.stdout


@pytest.mark.e2e
def test_auto_uses_podman_where_it_works_and_says_where_it_does_not(demo_tree, tmp_path, podman_ready):
    run = orchestrate(
        "--commit", "HEAD", "--tree", str(demo_tree), "--results", str(tmp_path / "r"), "--runtime", "auto",
        "--cells", "riscv-gcc-defconfig+kvm", "--cells", "s390-*", "--matrix", str(_matrix_with_s390(tmp_path)),
    )
    output = run.stdout + run.stderr
    assert "runtime auto: podman containers for riscv-gcc-defconfig+kvm" in output
    assert "runtime auto: the host toolchains for s390-gcc-defconfig@config, because no image docker.io/tuxmake/s390_gcc" in output
    built = {r.cell_id: r.runtime for r in Store(tmp_path / "r").builds(Store(tmp_path / "r").find_sha(_head(demo_tree)))}
    assert built["riscv-gcc-defconfig+kvm"] == "podman" and built["s390-gcc-defconfig@config"] == "null"


def _head(repo):
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def _matrix_with_s390(tmp_path):
    """The shipped riscv cell, and an s390 cell this machine has neither an image nor a compiler for."""
    from conftest import PROJECT

    shutil.copytree(PROJECT / "configs", tmp_path / "configs")
    path = tmp_path / "matrix.yaml"
    path.write_text("include:\n  - {arch: riscv, fragments: [kvm]}\n  - {arch: s390, targets: [config]}\n")
    return path


@pytest.mark.e2e
def test_a_container_killed_mid_build_is_infra_and_the_retry_builds_the_cell(demo_tree, tmp_path, podman_ready):
    """`podman kill` of the build's container (found by its mounts: only this test's work root), while make
    runs: the attempt is INFRA, and the retry in the same run passes. Nothing of it reaches the terminal."""
    work, results = tmp_path / "work", tmp_path / "results"
    args = ["--commit", "HEAD", "--tree", str(demo_tree), "--results", str(results), "--runtime", "podman", "--cells", "riscv-gcc-defconfig+kvm"]
    run = start(*args, env={"ORCHESTRATOR_WORK": str(work), "CCACHE_DISABLE": "1"})
    try:
        deadline = time.monotonic() + 300
        container = None
        while container is None:
            assert run.poll() is None and time.monotonic() < deadline
            logs = list(results.glob("*/riscv-gcc-defconfig+kvm.partial/build.log"))
            if logs and "arch/riscv/kvm/" in logs[0].read_text(errors="replace"):
                container = ours(work)
            time.sleep(0.5)
        subprocess.run(["podman", "kill", container], check=True, capture_output=True)
        output, _ = run.communicate(timeout=600)
    finally:
        run.kill()
    assert run.returncode == 0, output
    sha = subprocess.run(["git", "-C", str(demo_tree), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    attempts = Store(results).attempts(sha, "riscv-gcc-defconfig+kvm")
    assert [(a.status, a.outcome) for a in attempts] == [("infra", "retried"), ("pass", "stored")]
    # podman reports the kill as the container's SIGKILL (137), or on a loaded machine, where it meets
    # the container mid-exec, as its own failure (125): either is the machine's fault, retried
    assert attempts[0].reason in ("the container was killed from outside the build (SIGKILL)", "the container engine failed (podman exit 125)")
    assert "no such container" not in output and "W: " not in output  # podman's and tuxmake's own words
    assert (work / "workers.log").is_file()  # went to the workers' log


def ours(work) -> str | None:
    """The running container whose mounts include this test's work root."""
    listed = subprocess.run(["podman", "ps", "--format", "{{.ID}} {{.Mounts}}"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        container, _, mounts = line.partition(" ")
        if str(work) in mounts:
            return container
    return None
