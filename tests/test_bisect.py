"""The bisection's search, on results made here: where a regression's fingerprints first appear."""

import json
import math
import os
import subprocess

import jsonschema
import pytest
from conftest import PROJECT, commit_changes, orchestrate
from test_seed_scenario import HEADER, OTHERS, SEED_A, SEV_ES, X86, undo

from orchestrator import bisect
from orchestrator.bisect import Judgement
from orchestrator.models import BuildResult, Diagnostic, Status
from orchestrator.store import Store
from orchestrator.views import export

SEED = "error|arch/riscv/kvm/vcpu_sbi.c||'struct <anonymous>' has no member named 'flags'"
OTHER = "error|arch/riscv/kvm/vcpu.c||implicit declaration of function 'x'"


def result(sha: str, status: Status = Status.PASS, *fingerprints: str, cell: str = "riscv-gcc-defconfig+kvm") -> BuildResult:
    found = [Diagnostic(severity="error", file="f.c", line=1, column=1, message=f, fingerprint=f) for f in fingerprints]
    return BuildResult(cell_id=cell, sha=sha, status=status, diagnostics=found)


class History:
    """Commits c0..cN: each a result; counts the builds the search asks for."""

    def __init__(self, results: list[BuildResult]):
        self.results = {r.sha: r for r in results}
        self.commits = [r.sha for r in results]
        self.built: list[str] = []

    def build(self, sha: str) -> tuple[BuildResult | None, bool]:
        fresh = sha not in (self.commits[0], self.commits[-1])  # the ends are stored already
        if fresh:
            self.built.append(sha)
        return self.results[sha], fresh


def seed_history(length: int, first_bad: int, **broken: Status) -> History:
    results = []
    for i in range(length):
        status = broken.get(f"c{i}", Status.FAIL if i >= first_bad else Status.PASS)
        results.append(result(f"c{i}", status, *([SEED] if i >= first_bad and status == Status.FAIL else [])))
    return History(results)


def test_the_first_bad_commit_is_found_in_at_most_log2_n_plus_1_builds():
    for length in (2, 3, 8, 20, 33):
        for bad in range(1, length):
            history = seed_history(length, bad)
            [found] = bisect.first_bad(history.commits, ["riscv-gcc-defconfig+kvm"], frozenset({SEED}), history.build)
            assert found.candidates == [f"c{bad}"] and found.good == f"c{bad - 1}" and found.found
            assert found.builds == len(history.built) <= math.ceil(math.log2(length)) + 1
            assert found.fingerprints == [SEED]


def test_a_commit_that_cannot_be_judged_is_skipped_and_the_answer_is_a_range():
    history = seed_history(8, 5, c4=Status.INFRA)
    [found] = bisect.first_bad(history.commits, ["riscv"], frozenset({SEED}), history.build)
    assert found.candidates == ["c4", "c5"] and not found.found and found.good == "c3"


def test_a_build_failing_for_another_reason_is_skipped_but_a_checks_result_is_judged():
    other = result("x", Status.FAIL, OTHER)
    assert bisect.judge(other, frozenset({SEED})) == Judgement.SKIP
    check = result("x", Status.FAIL, OTHER, cell="uapi-abi-x86_64-i386")
    assert bisect.judge(check, frozenset({SEED})) == Judgement.GOOD
    assert bisect.judge(result("x", Status.INFRA), frozenset({SEED})) == Judgement.SKIP
    assert bisect.judge(result("x", Status.FAIL), frozenset()) == Judgement.BAD  # a failure without diagnostics


def test_two_new_errors_from_two_commits_are_two_first_bad_commits():
    results = [result("c0"), result("c1"), result("c2", Status.FAIL, SEED), result("c3", Status.FAIL, SEED)]
    results += [result("c4", Status.FAIL, SEED, OTHER), result("c5", Status.FAIL, SEED, OTHER)]
    history = History(results)
    found = bisect.first_bad(history.commits, ["riscv"], frozenset({SEED, OTHER}), history.build)
    # c3 fails with the first error alone: that failure may hide the second, so c3 cannot be judged for it
    assert [(f.candidates, f.fingerprints) for f in found] == [(["c2"], [SEED]), (["c3", "c4"], [OTHER])]


# --- end to end: the seed scenario stretched over a series, with real builds -------------------------

ARM64, RISCV = "arm64-gcc-defconfig+kvm", "riscv-gcc-defconfig+kvm"
README_TOP = "Linux kernel\n============\n"
MARKER = "ORCHESTRATOR-TEST: the arm64 linker dies at this commit"
# The arm64 linker of this test's PATH dies of SIGKILL (as under the OOM killer) when the tree being
# built holds the marker: a host fault at that one commit. Kbuild exports abs_srctree to its commands.
KILLED_LD = f"""#!/bin/sh
case "$1" in --version|-v) ;; *) grep -qs '{MARKER}' "$abs_srctree/README" && kill -9 $$ ;; esac
exec /usr/bin/aarch64-linux-gnu-ld "$@"
"""


@pytest.fixture(scope="module")
def series(demo_tree, tmp_path_factory):
    """A (system_event as before 5.18), two harmless commits, h3, B (the SEV-ES change that breaks arm64
    and riscv), and three harmless commits. At h3 nothing can say whether B's errors are there yet: the
    arm64 build is INFRA (its linker killed) and the riscv build fails for another reason (an unrelated
    slip, fixed by B's author in B)."""
    root = tmp_path_factory.mktemp("bisect")
    clone = root / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(clone)], check=True)
    harmless = lambda n: [("README", README_TOP, f"{README_TOP}\nharmless {n}\n")]  # noqa: E731
    shas = {"A": commit_changes(clone, HEADER + X86 + OTHERS, SEED_A)}
    for n in (1, 2):
        shas[f"h{n}"] = commit_changes(clone, harmless(n), f"docs: harmless {n}")
    slip = [
        ("arch/riscv/kvm/vcpu.c", "#include <linux/bitops.h>\n", "#include <linux/bitops.h>\nint orchestrator_unrelated = ;\n"),
        ("README", README_TOP, f"{README_TOP}\n{MARKER}\n"),
    ]
    shas["h3"] = commit_changes(clone, slip, "riscv: an unrelated slip")
    shas["B"] = commit_changes(clone, undo(HEADER + X86 + slip), SEV_ES, author=("Peter Gonda", "pgonda@google.com"))
    for n in (4, 5, 6):
        shas[f"h{n}"] = commit_changes(clone, harmless(n), f"docs: harmless {n}")
    (root / "configs").symlink_to(PROJECT / "configs")
    wrappers = root / "bin"
    wrappers.mkdir()
    (wrappers / "aarch64-linux-gnu-ld").write_text(KILLED_LD)
    (wrappers / "aarch64-linux-gnu-ld").chmod(0o755)
    env = {"ORCHESTRATOR_RESULTS": str(root / "results"), "PATH": f"{wrappers}:{os.environ['PATH']}"}
    args = ["bisect", f"{shas['A']}..{shas['h6']}", "--tree", str(clone), "--matrix", str(PROJECT / "matrix.yaml")]
    run = orchestrate(*args, "--cells", ARM64, "--cells", RISCV, cwd=root, env=env)
    return {"shas": shas, "run": run, "results": root / "results", "clone": clone}


@pytest.mark.e2e
def test_commits_that_cannot_be_judged_make_the_answer_a_range(series):
    run, shas = series["run"], series["shas"]
    assert run.returncode == 1, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("first bad commit")]
    range_ = f"first bad commit is one of: {shas['h3'][:12]} riscv: an unrelated slip (t <t@t.invalid>); {shas['B'][:12]} {SEV_ES}"
    assert len(lines) == 2 and all(line.startswith(range_) for line in lines), run.stdout  # arm64, then riscv
    reproduce = [line for line in run.stdout.splitlines() if line.strip().startswith("reproduce: ")]
    assert reproduce and all(all(f" {option} " in line for option in ("--tree", "--matrix", "--results")) for line in reproduce), run.stdout
    for line in lines:
        assert int(line.split("found in ")[1].split()[0]) <= math.ceil(math.log2(7)) + 1
    # why h3 could not be judged: arm64 was INFRA there (stored as such), riscv failed for another reason
    store = Store(series["results"])
    at_h3 = {r.cell_id: r for r in store.builds(shas["h3"])}
    assert (at_h3[ARM64].status, at_h3[ARM64].reason) == ("infra", "a build command was killed (SIGKILL, out of memory?)")
    assert at_h3[RISCV].status == "fail" and at_h3[RISCV].reason.startswith("arch/riscv/kvm/vcpu.c:10:30: error: ")


@pytest.mark.e2e
def test_every_bisection_build_is_stored_like_any_other(series):
    store = Store(series["results"])
    probed = {sha for sha in series["shas"].values() if store.builds(sha)}
    assert {series["shas"]["A"], series["shas"]["h6"], series["shas"]["B"]} <= probed
    assert len(probed) <= 2 + 2 * (math.ceil(math.log2(7)) + 1)


@pytest.mark.e2e
def test_a_report_of_the_range_names_what_bisection_found_under_the_regression_it_explains(series):
    shas = series["shas"]
    args = ["report", f"{shas['A']}..{shas['h6']}", "--tree", str(series["clone"]), "--results", str(series["results"])]
    document = json.loads(orchestrate(*args, "--format", "json").stdout)
    jsonschema.validate(document, export.schema("report"))
    # the table shows B's errors first at B (h3 could not be judged): there, each names the range found
    at_b = {cell: cause for cause in document["root_causes"] if cause["sha"] == shas["B"] for cell in cause["cells"]}
    assert sorted(at_b) == [ARM64, RISCV]
    for cause in at_b.values():
        [found] = cause["first_bad"]
        assert ([c["sha"] for c in found["candidates"]], found["tip"]) == ([shas["h3"], shas["B"]], shas["h6"])
    [slip] = [cause for cause in document["root_causes"] if cause["sha"] == shas["h3"]]  # riscv's unrelated error
    assert slip["first_bad"] == []
    said = f"first bad commit is one of: {shas['h3'][:12]} riscv: an unrelated slip"
    markdown = orchestrate(*args, "--format", "markdown").stdout
    arm64 = markdown[markdown.index(f"### NEW FAIL: {ARM64} at `{shas['B'][:12]}`") :]
    assert said in arm64[: arm64.index("Reproduce:")]
    assert orchestrate(*args).stdout.count(said) == 2  # the terminal: under arm64's entry and riscv's
