"""runs: the one road, driven by a fake executor (the Executor protocol, answering with recorded
results) on a real git history and a real store: what is built, stored, kept and judged, in milliseconds."""

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from conftest import SEED

from orchestrator import executors, runs
from orchestrator.build import BuildRequest, Finished
from orchestrator.lock import Lock
from orchestrator.matrix import ExecutorSettings, load
from orchestrator.models import BuildResult, Status, VerdictKind
from orchestrator.store import Store

CELL = "riscv-gcc-defconfig+kvm"
ANSWERS: dict[tuple[str, str], list[BuildResult]] = {}  # (sha, cell) → the attempts the fake answers with, in turn
ASKED: list[tuple[str, str]] = []


class FakeExecutor:
    """Answers each request with the next recorded attempt for its commit and cell; builds nothing."""

    def __enter__(self) -> "FakeExecutor":
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        pass

    def stop(self) -> None:
        pass

    def submit(self, requests: list[BuildRequest]) -> Iterator[Finished]:
        for request in requests:
            ASKED.append((request.sha, request.cell.id))
            answer = ANSWERS[(request.sha, request.cell.id)].pop(0)
            yield Finished(request, replace(answer, definition=request.cell.definition), None)


def start(where: executors.Where) -> executors.Started:
    return executors.Started(FakeExecutor(), str(where.source), 1)


@pytest.fixture
def road(tmp_path, monkeypatch) -> runs.Road:
    """Commits A..D of a real repository, one cell, a real store, and the fake executor."""
    repo = tmp_path / "linux"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    for subject in "ABCD":
        subprocess.run([*git, "commit", "--quiet", "--allow-empty", "-m", subject], check=True)
    (tmp_path / "matrix.yaml").write_text(f"tree: {{path: {repo}}}\ninclude:\n  - {{arch: riscv, toolchain: gcc, fragments: [kvm], targets: kvm}}\n")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "kvm.config").write_text("CONFIG_VIRTUALIZATION=y\nCONFIG_KVM=y\n")
    matrix = load(tmp_path / "matrix.yaml")
    monkeypatch.setitem(executors.OPENERS, "fake", "test_runs:start")
    ANSWERS.clear()
    ASKED.clear()
    fake = ExecutorSettings(address="fake://recorded:0", source_url=str(repo))
    return runs.Road(matrix, matrix.units, repo, Store(tmp_path / "results"), executor=fake, work_root=tmp_path / "work", reuse=False)


def shas(road: runs.Road) -> list[str]:
    """A, B, C, D: oldest first."""
    out = subprocess.run(["git", "-C", str(road.source), "rev-list", "--reverse", "HEAD"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def attempt(status: Status, *diagnostics, reason: str = "") -> BuildResult:
    return BuildResult(CELL, "", status, definition="", diagnostics=list(diagnostics), reason=reason, runtime="null")


def test_each_commit_is_built_stored_and_judged_against_the_one_before(road):
    a, b, *_ = shas(road)
    ANSWERS[(a, CELL)] = [replace(attempt(Status.PASS), sha=a)]
    ANSWERS[(b, CELL)] = [replace(attempt(Status.FAIL, SEED, reason="vcpu_sbi.c: error"), sha=b)]
    done = list(road.commits([a, b]))
    assert [run.commit.sha for run in done] == [a, b] and [run.built for run in done] == [[CELL], [CELL]]
    assert road.store.result(b, CELL, road.units[0].definition).status == Status.FAIL  # stored as it finished
    judged = runs.judge(road, done[1])
    assert [v.kind for v in judged.verdicts] == [VerdictKind.NEW_FAIL] and judged.exit_code == 1
    assert [(cause.cells, cause.diagnostics) for cause in judged.causes] == [([CELL], [SEED])]


def test_a_commit_with_a_result_is_not_built_again(road):
    a, *_ = shas(road)
    ANSWERS[(a, CELL)] = [replace(attempt(Status.PASS), sha=a)]
    list(road.commits([a]))
    [again] = road.commits([a])
    assert again.built == [] and [r.status for r in again.results] == [Status.PASS] and [(a, CELL)] == ASKED


def test_an_infrastructure_error_is_built_again_and_never_replaces_a_finished_result(road):
    a, *_ = shas(road)
    ANSWERS[(a, CELL)] = [replace(attempt(Status.INFRA, reason="podman: engine error"), sha=a), replace(attempt(Status.PASS), sha=a)]
    [run] = road.commits([a])
    assert [(a, CELL), (a, CELL)] == ASKED and [r.status for r in run.results] == [Status.PASS]  # retried once, then passed
    ANSWERS[(a, CELL)] = [replace(attempt(Status.INFRA, reason="disk full"), sha=a)] * (road.matrix.retries + 1)
    [rebuilt] = replace(road, rebuild=True).commits([a])
    assert [r.status for r in rebuilt.results] == [Status.PASS]  # the finished result stays
    assert [k.reason for k in rebuilt.kept] == ["disk full"] and runs.judge(road, rebuilt).exit_code == 2


def test_progress_is_shown_per_commit_and_closed_before_the_commit_is_given_back(road):
    a, b, *_ = shas(road)
    ANSWERS[(a, CELL)] = [replace(attempt(Status.PASS), sha=a)]
    ANSWERS[(b, CELL)] = [replace(attempt(Status.PASS), sha=b)]
    seen = []

    class Shown:
        def __init__(self, sha):
            self.sha = sha

        def __enter__(self):
            seen.append(("open", self.sha))
            return lambda cell, state, detail: seen.append((state, cell))

        def __exit__(self, *exc):
            seen.append(("closed", self.sha))

    for run in road.commits([a, b], Shown):
        seen.append(("given", run.commit.sha))
    assert seen[0] == ("open", a) and seen.index(("closed", a)) < seen.index(("given", a)) < seen.index(("open", b))
    assert ("done", CELL) in seen


def test_bisect_builds_on_the_road_only_what_it_needs_and_names_the_first_bad_commit(road):
    a, b, c, d = shas(road)
    for sha, status in ((a, Status.PASS), (b, Status.PASS), (c, Status.FAIL), (d, Status.FAIL)):
        ANSWERS[(sha, CELL)] = [replace(attempt(status, *([SEED] if status == Status.FAIL else [])), sha=sha)]
    good, bad = road.commits([a, d])
    found = runs.judge(road, bad, base=a).verdicts
    [answer] = runs.first_bad(road, [a, b, c, d], found)
    assert answer.candidates == [c] and answer.good == b and answer.cells == [CELL]  # the last good commit, the first bad
    assert ASKED[:2] == [(a, CELL), (d, CELL)] and (c, CELL) in ASKED and len(ASKED) <= 4  # the ends, then probes
    assert [stored.candidates for stored in road.store.first_bad([d])] == [[c]]  # `orchestrate report` names it too


def test_a_cell_another_run_is_building_is_waited_for_and_its_result_used(road):
    """Two runs of one commit: the second waits on the cell's lock, then takes what the first stored."""
    a, *_ = shas(road)
    said: list[str] = []
    done: list = []

    def second_run() -> None:  # a thread of its own, with its own connection to the store
        done.extend(replace(road, store=Store(road.store.root), say=said.append).commits([a]))

    with Lock(road.store.cell_lock(a, CELL), wait=False):  # the first run, building the cell
        waiting = threading.Thread(target=second_run)
        waiting.start()
        deadline = time.monotonic() + 60
        while not any("waiting for it" in message for message in said) and time.monotonic() < deadline:
            time.sleep(0.01)
        first = Store(road.store.root)
        first.add_build(BuildResult(CELL, a, Status.PASS, definition=road.units[0].definition, runtime="null"))
        first.close()
    waiting.join(60)
    [run] = done
    assert [r.status for r in run.results] == [Status.PASS] and run.built == [] and ASKED == []
    assert any("using the result the other run stored (PASS)" in message for message in said)


def test_a_cell_a_commit_cannot_change_takes_its_earlier_result_and_an_audit_says_when_it_differs(road):
    """B and C change no file the cell read: B takes A's result unbuilt; C, audited (every reusable cell
    built anyway), comes out another way, and that mismatch is an error of the reuse rule: exit 2."""
    a, b, c, _ = shas(road)
    reusing = replace(road, reuse=True)
    ANSWERS[(a, CELL)] = [replace(attempt(Status.PASS), sha=a, inputs=frozenset({"arch/riscv/kvm/vcpu.c"}))]
    first, second = reusing.commits([a, b])
    assert [(a, CELL)] == ASKED and second.reused == [CELL] and second.results[0].reused_from == a
    ANSWERS[(c, CELL)] = [replace(attempt(Status.FAIL, SEED), sha=c)]
    [audited] = replace(reusing, verify_reuse=1.0).commits([c])
    assert [(audit.cell_id, audit.mismatch) for audit in audited.audits] == [(CELL, True)]
    assert runs.judge(reusing, audited).exit_code == 2
