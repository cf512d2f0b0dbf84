"""The Dask executor, end to end with real processes: a `dask scheduler` and two `dask worker`s on
127.0.0.1 (each with its own work root and ccache), the tree served by `git daemon`, real builds.

The cells build the one object the seed scenario breaks (arm64's psci.o, riscv's vcpu_sbi.o): the
same error as the whole KVM directory, in less time.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROJECT, certificates, commit_changes, descendants, free_port, orchestrate, start, still_running
from test_seed_scenario import HEADER, OTHERS, SEED_A, SEV_ES, X86, undo

from orchestrator.store import Store

pytestmark = pytest.mark.e2e

ARM64, RISCV = "arm64-gcc-defconfig+kvm@arch_arm64_kvm_psci.o", "riscv-gcc-defconfig+kvm@arch_riscv_kvm_vcpu_sbi.o"
CELLS = """include:
  - {arch: arm64, fragments: [kvm], targets: [arch/arm64/kvm/psci.o]}
  - {arch: riscv, fragments: [kvm], targets: [arch/riscv/kvm/vcpu_sbi.o]}
"""


def dask(*args: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    """A `dask` command of the installed distributed, in a process group of its own (a worker's nanny
    and worker die together), its output in `log`."""
    command = [sys.executable, "-m", "distributed.cli.dask_" + args[0].replace("-", "_"), *args[1:]]
    with log.open("w") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True)


def wait_for_workers(address: str, count: int, security=None) -> None:
    from distributed import Client

    with Client(address, timeout="30s", security=security, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=120)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def serve(demo_tree: Path, root: Path) -> tuple[Path, subprocess.Popen, str]:
    """A bare copy of the demo tree served by git daemon on 127.0.0.1: (its path, the daemon, its URL)."""
    served = root / "served" / "linux.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(demo_tree), str(served)], check=True)
    # The demo tree's objects are loose: packed (with a bitmap), serving a clone takes seconds, not a minute.
    subprocess.run(["git", "-C", str(served), "repack", "-a", "-d", "-b", "-q", "--window=0"], check=True)
    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served.parent}", "--listen=127.0.0.1", f"--port={port}",
         str(served.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return served, daemon, f"git://127.0.0.1:{port}/linux.git"


def start_cluster(root: Path, names: tuple[str, ...] = ("w1", "w2")) -> tuple[str, dict[str, subprocess.Popen], list[subprocess.Popen]]:
    """A scheduler and workers (one thread, a work root `root/<name>` each) on 127.0.0.1, registered:
    (the scheduler's address, the workers by name, every process to stop)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", log=root / "scheduler.log")]
    workers = {}
    for name in names:
        (root / name).mkdir()
        workers[name] = dask(
            "worker", address, "--nthreads", "1", "--no-dashboard", "--name", name, "--local-directory", str(root / name / "dask"),
            log=root / f"{name}.log", env={"ORCHESTRATOR_WORK": str(root / name)},
        )  # fmt: skip
        processes.append(workers[name])
    try:
        wait_for_workers(address, len(names))
    except BaseException:
        stop(processes)
        raise
    return address, workers, processes


@pytest.fixture(scope="module")
def cluster(demo_tree, tmp_path_factory):
    """The seed's A and B on a bare copy of the demo tree served by git daemon, a scheduler and two
    workers; the client's tree is a clone of it (the workers never see it)."""
    root = tmp_path_factory.mktemp("cluster")
    served, daemon, url = serve(demo_tree, root)
    shas = {"A": commit_changes(served, HEADER + X86 + OTHERS, SEED_A)}
    shas["B"] = commit_changes(served, undo(HEADER + X86), SEV_ES)
    clone = root / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(served), str(clone)], check=True)
    try:
        address, workers, processes = start_cluster(root)
    except BaseException:
        stop([daemon])
        raise
    shutil.copytree(PROJECT / "configs", root / "configs")
    executor = f"executor: {{address: '{address.replace('tcp://', 'dask://')}', source_url: '{url}'}}\n"
    (root / "matrix.yaml").write_text("tree: {path: linux}\n" + executor + CELLS)
    try:
        yield {"root": root, "clone": clone, "shas": shas, "address": address, "url": url, "workers": workers}
    finally:
        stop([daemon, *processes])


def common(cluster, results: str) -> list[str]:
    return ["--tree", str(cluster["clone"]), "--matrix", str(cluster["root"] / "matrix.yaml"), "--results", str(cluster["root"] / results)]


def stored(results: Path, sha: str) -> dict:
    """cell → (status, the fingerprints of its diagnostics), as the store holds them."""
    store = Store(results)
    try:
        return {r.cell_id: (r.status, sorted(d.fingerprint for d in r.diagnostics)) for r in store.builds(sha)}
    finally:
        store.close()


def test_the_seed_regression_built_on_two_workers_is_what_the_local_executor_finds(cluster):
    b = cluster["shas"]["B"]
    on_cluster = orchestrate("--commit", b, *common(cluster, "dask"))
    assert on_cluster.returncode == 1, on_cluster.stdout[-3000:] + on_cluster.stderr  # a new failure, nothing else
    for cell in (ARM64, RISCV):
        assert f"  {cell}: building on tcp://127.0.0.1:" in on_cluster.stdout
        assert f"  {cell}: FAIL in " in on_cluster.stdout
        for artifact in ("build.log", "metadata.json", "config"):  # come back from the worker, unpacked here
            assert (cluster["root"] / "dask" / b / cell / artifact).is_file(), artifact
    local = orchestrate("--commit", b, *common(cluster, "local"), "--executor", "local")
    assert local.returncode == 1, local.stdout[-3000:] + local.stderr
    found, expected = stored(cluster["root"] / "dask", b), stored(cluster["root"] / "local", b)
    assert found == expected and {status for status, _ in found.values()} == {"fail"}
    assert "has no member named 'flags'" in (cluster["root"] / "dask" / b / RISCV / "build.log").read_text()


def test_a_worker_killed_mid_build_costs_the_cell_nothing(cluster):
    """SIGKILL a worker (nanny and all) while it builds: the scheduler gives the task to the other worker,
    and the killed worker's build stops with it."""
    a = cluster["shas"]["A"]
    run = start("--commit", a, *common(cluster, "killed"))
    victim, building = None, {}
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        for name, worker in cluster["workers"].items():
            if list((cluster["root"] / name / "outgoing").glob("*.exchange")):  # a build process is running there
                victim, building = name, descendants(worker.pid)
                break
        time.sleep(0.1)
    assert victim is not None, "no worker started a build"
    os.killpg(cluster["workers"][victim].pid, signal.SIGKILL)
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output[-3000:]
    assert {cell: status for cell, (status, _) in stored(cluster["root"] / "killed", a).items()} == {ARM64: "pass", RISCV: "pass"}
    assert still_running(building) == []  # make and the compilers of the killed worker's build are gone too


def test_interrupting_the_client_stops_its_builds_on_the_workers_and_exits_130(cluster):
    a = cluster["shas"]["A"]
    alive = {name: worker for name, worker in cluster["workers"].items() if worker.poll() is None}
    run = start("--commit", a, "--rebuild", *common(cluster, "interrupted"))
    building: dict[int, str] = {}
    deadline = time.monotonic() + 300
    while not building and time.monotonic() < deadline and run.poll() is None:
        building = {pid: started for worker in alive.values() for pid, started in build_processes(worker.pid).items()}
        time.sleep(0.1)
    assert building, "no worker started a build"
    time.sleep(1)  # make is running
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 130, output[-3000:]
    assert "interrupted; every build that finished is stored" in output
    assert still_running(building) == []  # the build processes on the workers, make and compilers too
    assert all(worker.poll() is None for worker in alive.values())  # the workers serve on


def build_processes(worker: int) -> dict[int, str]:
    """The build a worker (its nanny's pid) runs: the child process and everything it started."""
    found = {}
    for pid, started in descendants(worker).items():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"orchestrator.executors.child" in command:
            found[pid] = started
            found.update(descendants(pid))
    return found


def test_an_unreachable_scheduler_is_one_line_exit_2_and_nothing_is_stored(cluster):
    port = free_port()  # nothing listens there
    run = orchestrate("--commit", cluster["shas"]["A"], *common(cluster, "unreachable"), "--executor", f"dask://127.0.0.1:{port}")
    assert run.returncode == 2
    assert run.stderr.startswith(f"orchestrate: error: Dask scheduler tcp://127.0.0.1:{port}: cannot be reached") and run.stderr.count("\n") == 1
    assert stored(cluster["root"] / "unreachable", cluster["shas"]["A"]) == {}


def test_a_tls_cluster_builds_with_the_certificates_the_matrix_names(cluster, tmp_path):
    files = certificates(tmp_path)
    tls = ["--tls-ca-file", str(files["ca"]), "--tls-cert", str(files["cert"]), "--tls-key", str(files["key"])]
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    scheduler = dask("scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", *tls, log=tmp_path / "s.log")
    # The worker reuses w2's work root (its mirror and ccache): builds there take turns.
    worker = dask("worker", address, "--nthreads", "1", "--no-dashboard", "--local-directory", str(tmp_path / "dask"), *tls,
                  log=tmp_path / "w.log", env={"ORCHESTRATOR_WORK": str(cluster["root"] / "w2")})  # fmt: skip
    try:
        from distributed.security import Security

        wait_for_workers(address, 1, Security(tls_ca_file=str(files["ca"]), tls_client_cert=str(files["cert"]),
                                              tls_client_key=str(files["key"]), require_encryption=True))  # fmt: skip
        matrix = tmp_path / "matrix.yaml"
        shutil.copytree(PROJECT / "configs", tmp_path / "configs")
        matrix.write_text(
            f"tree: {{path: {cluster['clone']}}}\nexecutor:\n  address: {address}\n  source_url: '{cluster['url']}'\n"
            "  tls: {ca_file: ca.pem, cert: node.pem, key: node.key}\n" + CELLS
        )
        a = cluster["shas"]["A"]
        run = orchestrate("--commit", a, "--matrix", str(matrix), "--results", str(tmp_path / "results"), "--cells", RISCV)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert stored(tmp_path / "results", a)[RISCV][0] == "pass" and f"{RISCV}: building on tls://127.0.0.1:" in run.stdout
        plain = orchestrate("--commit", a, "--matrix", str(matrix), "--results", str(tmp_path / "plain"), "--executor", f"dask://127.0.0.1:{port}")
        assert plain.returncode == 2 and "cannot be reached" in plain.stderr  # no certificate, no cluster
    finally:
        stop([worker, scheduler])


def test_artifacts_built_elsewhere_import_as_the_result_that_build_gave(cluster, tmp_path):
    """TuxSuite's or another CI's tuxmake artifacts: here, the local executor's, copied out and imported."""
    b = cluster["shas"]["B"]
    elsewhere = tmp_path / "download"
    for cell in (ARM64, RISCV):  # a directory of artifacts per cell, named by cell id
        shutil.copytree(cluster["root"] / "local" / b / cell, elsewhere / cell)
    run = orchestrate("import", str(elsewhere), "--commit", b, "--origin", "tuxsuite", *common(cluster, "imported"))
    assert run.returncode == 0, run.stderr
    assert f"{RISCV}: FAIL imported for {b[:12]} from tuxsuite (arch/riscv/kvm/vcpu_sbi.c:" in run.stdout
    assert stored(cluster["root"] / "imported", b) == stored(cluster["root"] / "local", b)
    store = Store(cluster["root"] / "imported")
    try:
        assert {r.runtime for r in store.builds(b)} == {"imported:tuxsuite"}
    finally:
        store.close()
    report = json.loads(orchestrate("report", b, *common(cluster, "imported"), "--format", "json").stdout)
    assert {v["cell"]: v["status"] for v in report["commits"][-1]["verdicts"]} == {ARM64: "fail", RISCV: "fail"}  # judged as any result
    wrong = orchestrate("import", str(elsewhere / RISCV), "--commit", b, "--cell", ARM64, *common(cluster, "wrong"))
    assert wrong.returncode == 2 and "metadata.json says target_arch riscv, but the cell" in wrong.stderr
