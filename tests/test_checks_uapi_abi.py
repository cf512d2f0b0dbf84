"""The seed thread's second bug, end to end: the uapi-abi check on real headers of the demo tree, with
real compilers, judged by the same baseline machinery as builds.

On top of Linux 6.1 (whose linux/kvm.h already has differences between x86_64 and i386):
  A  system_event is the pre-5.18 `{ __u32 type; __u64 flags; }` again (users adjusted, as the seed
     scenario's commit A does): flags lies at offset 40 on x86_64 and 36 on i386;
  B  6.1's form is back;
  C  struct kvm_run moves down ten lines;
  D  a change to arch/x86/kvm/x86.c alone: no uapi file touched.
"""

import json
import subprocess

import jsonschema
import pytest
from conftest import commit_changes, orchestrate
from test_faults import path_without
from test_seed_scenario import HEADER, OTHERS, SEED_A, X86, undo

from orchestrator.store import Store
from orchestrator.views import export

pytestmark = pytest.mark.e2e

I386, X32 = "uapi-abi-x86_64-i386", "uapi-abi-x86_64-x32"
TRAP = "x86_64-i386|struct kvm_run|system_event.flags|alignment"
MATRIX = """tree: {path: linux}
checks:
  uapi-abi: {headers: [linux/kvm.h], pairs: [x86_64-i386, x86_64-x32]}
"""


@pytest.fixture(scope="module")
def checked(demo_tree, tmp_path_factory):
    """Commits A..D on a clone of the demo tree, each checked by `orchestrate --commit`, with a work
    root (the check's cache) of their own."""
    root = tmp_path_factory.mktemp("uapi")
    clone = root / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(clone)], check=True)
    base = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    trap = HEADER + X86 + OTHERS
    shas = {"base": base, "A": commit_changes(clone, trap, SEED_A)}
    shas["B"] = commit_changes(clone, undo(trap), "KVM: system_event.ndata and data[] again")
    shas["C"] = commit_changes(
        clone, [("include/uapi/linux/kvm.h", "struct kvm_run {", "/*\n" + " *\n" * 8 + " */\nstruct kvm_run {")], "KVM: a comment"
    )
    shas["D"] = commit_changes(clone, [("arch/x86/kvm/x86.c", "#include", "/* no uapi here */\n#include")], "KVM: x86: a comment")
    (root / "matrix.yaml").write_text(MATRIX)
    env = {"ORCHESTRATOR_WORK": str(root / "work"), "ORCHESTRATOR_RESULTS": str(root / "results")}
    runs = {}
    for name in ("base", "A", "B", "C"):
        runs[name] = orchestrate("--commit", shas[name], cwd=root, env=env)
    layouts = root / "work" / "uapi-abi" / "layouts"
    compiled_before_d = sorted(p.name for p in layouts.iterdir())
    runs["D"] = orchestrate("--commit", shas["D"], "--no-reuse", cwd=root, env=env)  # run: its own cache answers
    shas["E"] = commit_changes(clone, [("arch/x86/kvm/x86.c", "#include", "/* nor here */\n#include")], "KVM: x86: another comment")
    runs["E"] = orchestrate("--commit", shas["E"], cwd=root, env=env)  # reused: nothing under the uapi dirs changed
    report = orchestrate("report", f"{base}..{shas['D']}", "--format", "json", cwd=root, env=env)
    assert report.returncode == 0, report.stderr
    rows = {row["sha"]: {v["cell"]: v for v in row["verdicts"]} for row in json.loads(report.stdout)["commits"]}
    return {
        "root": root,
        "shas": shas,
        "runs": runs,
        "verdicts": {name: rows[sha] for name, sha in shas.items() if sha in rows},
        "document": report.stdout,
        "layouts": (compiled_before_d, sorted(p.name for p in layouts.iterdir())),
    }


def fingerprints(diagnostics: list[dict]) -> list[str]:
    return [d["fingerprint"] for d in diagnostics]


def test_linux_6_1_already_differs_on_i386_and_that_is_the_baseline(checked):
    base = checked["verdicts"]["base"]
    assert base[I386]["status"] == "fail" and base[I386]["errors"] > 10  # e.g. struct kvm_debug_guest's tail padding
    assert TRAP not in fingerprints(base[I386]["new_errors"])
    assert base[X32]["status"] == "pass" and base[X32]["errors"] == 0


def test_the_seed_trap_is_a_new_error_on_i386_only(checked):
    run, verdict = checked["runs"]["A"], checked["verdicts"]["A"]
    assert run.returncode == 1, run.stdout + run.stderr
    assert verdict[I386]["verdict"] == "STILL FAILING" and verdict[I386]["regression"]
    [new] = verdict[I386]["new_errors"]
    assert new["fingerprint"] == TRAP and new["tool"] == "uapi-abi" and new["option"] == "alignment"
    assert new["file"] == "include/uapi/linux/kvm.h" and new["excerpt"] == ["__u64 flags;"]
    assert new["message"].startswith("struct kvm_run.system_event.flags: offset 40 on x86_64, 36 on i386:")
    # sizeof(struct kvm_run) is the same on both: a size check would have missed it
    assert not [d for d in verdict[I386]["new_errors"] + verdict[I386]["new_warnings"] if "|struct kvm_run||" in d["fingerprint"]]
    # u64 is 8-byte aligned on x32: nothing new there
    assert verdict[X32]["verdict"] == "PASS" and verdict[X32]["new_errors"] == verdict[X32]["new_warnings"] == []
    assert "system_event.flags: offset 40 on x86_64, 36 on i386" in run.stdout


def test_the_line_of_a_finding_is_the_trees_not_the_installed_copys(checked):
    """headers_install drops #ifdef __KERNEL__ blocks: the installed line numbers are not the tree's."""
    [new] = checked["verdicts"]["A"][I386]["new_errors"]
    header = subprocess.run(
        ["git", "-C", str(checked["root"] / "linux"), "show", f"{checked['shas']['A']}:include/uapi/linux/kvm.h"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert header[new["line"] - 1].strip() == "__u64 flags;" and "system_event" in header[new["line"]]


def test_restoring_the_struct_fixes_it(checked):
    verdict = checked["verdicts"]["B"][I386]
    assert checked["runs"]["B"].returncode == 0
    assert fingerprints(verdict["gone_errors"]) == [TRAP] and verdict["new_errors"] == []


def test_a_struct_that_only_moved_brings_nothing_new(checked):
    for cell in (I386, X32):
        verdict = checked["verdicts"]["C"][cell]
        assert verdict["new_errors"] == verdict["gone_errors"] == verdict["new_warnings"] == verdict["gone_warnings"] == []
    assert checked["runs"]["C"].returncode == 0


def test_a_commit_that_touches_no_uapi_file_compiles_nothing(checked):
    run = checked["runs"]["D"]
    assert run.returncode == 0, run.stdout + run.stderr
    before, after = checked["layouts"]
    assert before == after  # no layouts were made for D
    sha = checked["shas"]["D"]
    log = (checked["root"] / "results" / sha / I386 / "build.log").read_text()
    assert "findings reused, nothing compiled" in log
    assert checked["verdicts"]["D"][I386]["new_errors"] == []


def test_a_commit_that_touches_no_uapi_file_is_not_checked_again_its_result_is_reused(checked):
    run = checked["runs"]["E"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{I386}: reused from {checked['shas']['D'][:12]} (no input changed)" in run.stdout
    store = Store(checked["root"] / "results")
    (reused,) = [r for r in store.builds(checked["shas"]["E"]) if r.cell_id == I386]
    (built,) = [r for r in store.builds(checked["shas"]["D"]) if r.cell_id == I386]
    assert (reused.reused_from, reused.status, reused.diagnostics) == (checked["shas"]["D"], built.status, built.diagnostics)
    assert store.inputs_of(checked["shas"]["D"], I386, built.definition) == {"include/uapi/", "arch/x86/include/uapi/"}


def test_the_report_of_a_check_is_valid_json_output(checked):
    jsonschema.validate(json.loads(checked["document"]), export.schema("report"))


def test_show_and_the_markdown_report_name_the_finding(checked):
    root, env = checked["root"], {"ORCHESTRATOR_RESULTS": str(checked["root"] / "results")}
    shown = orchestrate("show", checked["shas"]["A"], cwd=root, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "include/uapi/linux/kvm.h:" in shown.stdout and "[alignment]" in shown.stdout
    markdown = orchestrate("report", checked["shas"]["A"], "--format", "markdown", cwd=root, env=env)
    assert "struct kvm_run.system_event.flags: offset 40 on x86_64, 36 on i386" in markdown.stdout


def test_a_missing_compiler_makes_its_pair_infra_and_the_other_pairs_still_run(checked, tmp_path):
    root = checked["root"]
    (tmp_path / "matrix.yaml").write_text(
        f"tree: {{path: {root / 'linux'}}}\nchecks:\n  uapi-abi: {{headers: [linux/fs.h], pairs: [x86_64-x32, arm64-arm]}}\n"
    )
    farm = path_without("arm-linux-gnueabihf-gcc", into=tmp_path / "bin")
    env = {"ORCHESTRATOR_WORK": str(root / "work"), "ORCHESTRATOR_RESULTS": str(tmp_path / "results"), "PATH": farm}
    run = orchestrate("--commit", checked["shas"]["B"], cwd=tmp_path, env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    results = {r.cell_id: r for r in Store(tmp_path / "results").builds(checked["shas"]["B"])}
    assert results["uapi-abi-arm64-arm"].status == "infra"
    assert results["uapi-abi-arm64-arm"].reason == "arm64-arm: arm-linux-gnueabihf-gcc not found on the host (install gcc-arm-linux-gnueabihf)"
    assert results["uapi-abi-x86_64-x32"].status == "pass"


def test_the_nightly_runs_the_check_like_a_cell_and_reports_it(checked, tmp_path):
    root = checked["root"]
    branch = subprocess.run(["git", "-C", str(root / "linux"), "branch", "--show-current"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "matrix.yaml").write_text(
        f"trees:\n  - {{name: demo, url: '{root / 'linux'}', branches: [{branch}]}}\n"
        "checks:\n  uapi-abi: {headers: [linux/kvm.h], pairs: [x86_64-i386, x86_64-x32]}\n"
    )
    env = {"ORCHESTRATOR_WORK": str(root / "work")}
    run = orchestrate("nightly", "--matrix", str(tmp_path / "matrix.yaml"), "--results", str(tmp_path / "results"), cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr  # the first nightly: the tree's starting point, no regression
    [report] = (tmp_path / "results" / "nightly").glob("*/report.md")
    text = report.read_text()
    assert I386 in text and X32 in text and "no regressions" in text
    tip = Store(tmp_path / "results").builds(checked["shas"]["E"])  # the branch tip
    assert {r.cell_id: r.status for r in tip} == {I386: "fail", X32: "pass"}


def test_a_result_from_the_cache_is_the_result_computed_afresh(checked, tmp_path):
    """D's findings came from the cache (its uapi is C's); built again with an empty cache, they are the same."""
    root, sha = checked["root"], checked["shas"]["D"]
    results = root / "results"
    before = {r.cell_id: [d.to_dict() for d in r.diagnostics] for r in Store(results).builds(sha)}
    env = {"ORCHESTRATOR_WORK": str(tmp_path / "work"), "ORCHESTRATOR_RESULTS": str(results)}
    run = orchestrate("--commit", sha, "--rebuild", cwd=root, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "findings reused" not in (results / sha / I386 / "build.log").read_text()
    after = {r.cell_id: [d.to_dict() for d in r.diagnostics] for r in Store(results).builds(sha)}
    assert after == before and len(after[I386]) > 20


def test_accepting_6_1s_findings_makes_it_green_and_the_seed_trap_still_turns_it_red(checked, tmp_path):
    """`orchestrate accept`: what Linux 6.1 already lays out differently is known, counted and shown,
    never a FAIL; the seed's trap, one commit later, is exactly one new error and exit 1."""
    root, shas = checked["root"], checked["shas"]
    (tmp_path / "configs").mkdir()
    (tmp_path / "matrix.yaml").write_text(f"tree: {{path: {root / 'linux'}}}\naccepted: configs/accepted.txt\n" + MATRIX.split("\n", 1)[1])
    env = {"ORCHESTRATOR_WORK": str(root / "work"), "ORCHESTRATOR_RESULTS": str(tmp_path / "results")}
    first = orchestrate("--commit", shas["base"], cwd=tmp_path, env=env)
    assert first.returncode == 0 and " FAIL " in first.stdout  # a check with no baseline is no regression, but red

    accepted = orchestrate("accept", shas["base"], "--cells", "uapi-abi-*", cwd=tmp_path, env=env)

    assert accepted.returncode == 0, accepted.stderr
    text = (tmp_path / "configs" / "accepted.txt").read_text()
    base_errors = checked["verdicts"]["base"][I386]["errors"]
    assert f"findings accepted as known in configs/accepted.txt ({I386} " in accepted.stdout
    assert text.count(f"{I386}\t") >= base_errors and f"# orchestrate accept {shas['base'][:12]} --cells 'uapi-abi-*'" in text
    green = orchestrate("--commit", shas["base"], cwd=tmp_path, env=env)  # judged with the accepted set: run again
    assert green.returncode == 0 and " FAIL " not in green.stdout and "known" in green.stdout, green.stdout
    (result,) = [r for r in Store(tmp_path / "results").builds(shas["base"]) if r.cell_id == I386 and r.status == "pass"]
    assert result.errors == 0 and sum(d.known for d in result.diagnostics) >= base_errors

    trap = orchestrate("--commit", shas["A"], "--cells", I386, cwd=tmp_path, env=env)

    assert trap.returncode == 1, trap.stdout + trap.stderr
    report = orchestrate("report", shas["A"], "--format", "json", cwd=tmp_path, env=env)
    [verdict] = [v for v in json.loads(report.stdout)["commits"][-1]["verdicts"] if v["cell"] == I386]
    assert verdict["verdict"] == "NEW FAIL" and fingerprints(verdict["new_errors"]) == [TRAP] and verdict["errors"] == 1
    assert verdict["known"] >= base_errors
