"""The seed thread (../shared/seed/kvm-system-event-thread.txt), end to end, with real builds.

On top of Linux 6.1 (the demo tree):
  A  system_event is the pre-5.18 `__u32 type; __u64 flags;`, and every user writes .flags;
  B  "KVM: x86: Add KVM_EXIT_SHUTDOWN metadata for SEV-ES": the struct becomes type/ndata/data[16]
     (6.1's own) and only the x86 users are converted: arm64 and riscv no longer build;
  C  arm64 and riscv are converted too: the tree is Linux 6.1 again;
  D  riscv gains an unused variable (a warning: riscv KVM builds without -Werror);
  E  a comment moves that warning down three lines.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

import jsonschema
import kcidb_io
import pytest
from conftest import commit_changes, orchestrate
from test_views_html import grid

from orchestrator.store import Store
from orchestrator.views import export

pytestmark = pytest.mark.e2e

CELLS = ["x86_64-gcc-defconfig+kvm", "arm64-gcc-defconfig+kvm", "riscv-gcc-defconfig+kvm"]
NEW_STRUCT = """			__u32 type;
			__u32 ndata;
			union {
#ifndef __KERNEL__
				__u64 flags;
#endif
				__u64 data[16];
			};
		} system_event;"""
OLD_STRUCT = """			__u32 type;
			__u64 flags;
		} system_event;"""
ARM64_NEW = "\tvcpu->run->system_event.ndata = 1;\n\tvcpu->run->system_event.data[0] = flags;\n"
ARM64_OLD = "\tvcpu->run->system_event.flags = flags;\n"
RISCV_NEW = "\trun->system_event.ndata = 1;\n\trun->system_event.data[0] = reason;\n"
RISCV_OLD = "\trun->system_event.flags = reason;\n"
X86_CRASH_NEW = "KVM_SYSTEM_EVENT_CRASH;\n\t\t\tvcpu->run->system_event.ndata = 0;"
X86_CRASH_OLD = "KVM_SYSTEM_EVENT_CRASH;\n\t\t\tvcpu->run->system_event.flags = 0;"
X86_RESET_NEW = "KVM_SYSTEM_EVENT_RESET;\n\t\t\tvcpu->run->system_event.ndata = 0;"
X86_RESET_OLD = "KVM_SYSTEM_EVENT_RESET;\n\t\t\tvcpu->run->system_event.flags = 0;"
SEV_NEW = "\t\tvcpu->run->system_event.ndata = 1;\n\t\tvcpu->run->system_event.data[0] = control->ghcb_gpa;\n"
SEV_OLD = "\t\tvcpu->run->system_event.flags = control->ghcb_gpa;\n"
RESET_FUNCTION = "void kvm_riscv_vcpu_sbi_system_reset(struct kvm_vcpu *vcpu,"
UNUSED = "\tunsigned long i;\n"  # the first declaration of kvm_riscv_vcpu_sbi_system_reset

# The seed's edits, each (path, what 6.1 has, what A has): A applies them; B undoes HEADER and X86
# (the SEV-ES change), C undoes OTHERS.
HEADER = [("include/uapi/linux/kvm.h", NEW_STRUCT, OLD_STRUCT)]
X86 = [
    ("arch/x86/kvm/x86.c", X86_CRASH_NEW, X86_CRASH_OLD),
    ("arch/x86/kvm/x86.c", X86_RESET_NEW, X86_RESET_OLD),
    ("arch/x86/kvm/svm/sev.c", SEV_NEW, SEV_OLD),
]
OTHERS = [("arch/arm64/kvm/psci.c", ARM64_NEW, ARM64_OLD), ("arch/riscv/kvm/vcpu_sbi.c", RISCV_NEW, RISCV_OLD)]
SEED_A = "KVM: system_event as before 5.18: type and flags"
SEV_ES = "KVM: x86: Add KVM_EXIT_SHUTDOWN metadata for SEV-ES"


def undo(edits: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [(path, old, new) for path, new, old in edits]


@pytest.fixture(scope="module")
def history(demo_tree, tmp_path_factory):
    """A clone of the demo tree with commits A..E, built, in a results directory of its own."""
    root = tmp_path_factory.mktemp("seed")
    clone = root / "linux"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(demo_tree), str(clone)], check=True)
    shas = {
        "A": commit_changes(clone, HEADER + X86 + OTHERS, SEED_A),
        "B": commit_changes(clone, undo(HEADER + X86), SEV_ES),
        "C": commit_changes(clone, undo(OTHERS), "KVM: arm64, riscv: use system_event.ndata and data[0]"),
    }
    shas["D"] = commit_changes(
        clone,
        [("arch/riscv/kvm/vcpu_sbi.c", UNUSED, UNUSED + "\tint orchestrator_unused;\n")],
        "riscv: an unused variable",
    )
    shas["E"] = commit_changes(
        clone,
        [("arch/riscv/kvm/vcpu_sbi.c", RESET_FUNCTION, "/*\n * Moves what follows down three lines.\n */\n" + RESET_FUNCTION)],
        "riscv: a comment above kvm_riscv_vcpu_sbi_system_reset",
    )
    results = root / "results"
    common = ["--tree", str(clone), "--results", str(results)]
    seed_run = orchestrate("--commit", f"{shas['A']}..{shas['C']}", *common, *sum((["--cells", c] for c in CELLS), []))
    warning_run = orchestrate("--commit", f"{shas['C']}..{shas['E']}", *common, "--cells", "riscv-gcc-defconfig+kvm")
    return {"clone": clone, "results": results, "shas": shas, "common": common, "seed": seed_run, "warning": warning_run}


def report(history, spec: str, *extra: str):
    run = orchestrate("report", spec, *history["common"], *extra)
    assert run.returncode == 0, run.stderr
    return run


def verdicts(history, spec: str) -> dict:
    """{commit letter: {cell: verdict JSON}} from `orchestrate report --format json`."""
    document = json.loads(report(history, spec, "--format", "json").stdout)
    jsonschema.validate(document, export.schema("report"))  # every real report keeps the contract
    letter = {sha: name for name, sha in history["shas"].items()}
    return {letter[c["sha"]]: {v["cell"]: v for v in c["verdicts"]} for c in document["commits"]}


def seed_table(history) -> dict:
    return verdicts(history, f"{history['shas']['A']}..{history['shas']['C']}")


def test_building_the_range_exits_1_for_the_regression_at_b(history):
    run = history["seed"]
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr


def test_all_cells_pass_at_a(history):
    at_a = seed_table(history)["A"]
    assert sorted(at_a) == sorted(CELLS)
    assert {cell: v["status"] for cell, v in at_a.items()} == dict.fromkeys(CELLS, "pass")


def test_b_breaks_arm64_and_riscv_with_the_error_of_the_thread_and_x86_still_passes(history):
    at_b = seed_table(history)["B"]
    assert {cell: v["verdict"] for cell, v in at_b.items()} == {
        "x86_64-gcc-defconfig+kvm": "PASS",
        "arm64-gcc-defconfig+kvm": "NEW FAIL",
        "riscv-gcc-defconfig+kvm": "NEW FAIL",
    }
    for cell, path in (("arm64-gcc-defconfig+kvm", "arch/arm64/kvm/psci.c"), ("riscv-gcc-defconfig+kvm", "arch/riscv/kvm/vcpu_sbi.c")):
        (error,) = at_b[cell]["new_errors"]
        assert (error["file"], error["severity"]) == (path, "error")
        assert error["message"] == "'struct <anonymous>' has no member named 'flags'"
        assert at_b[cell]["baseline"] == history["shas"]["A"]


def test_c_fixes_arm64_and_riscv(history):
    at_c = seed_table(history)["C"]
    assert {cell: v["verdict"] for cell, v in at_c.items()} == {
        "x86_64-gcc-defconfig+kvm": "PASS",
        "arm64-gcc-defconfig+kvm": "FIXED",
        "riscv-gcc-defconfig+kvm": "FIXED",
    }


def test_a_new_warning_is_reported_and_a_moved_warning_is_neither_new_nor_fixed(history):
    assert history["warning"].returncode == 0, history["warning"].stdout[-3000:]  # warnings are no regression
    table = verdicts(history, f"{history['shas']['C']}..{history['shas']['E']}")
    riscv = "riscv-gcc-defconfig+kvm"
    (warning,) = table["D"][riscv]["new_warnings"]
    assert table["D"][riscv]["verdict"] == "NEW WARNINGS"
    assert (warning["file"], warning["message"], warning["option"]) == (
        "arch/riscv/kvm/vcpu_sbi.c",
        "unused variable 'orchestrator_unused'",
        "-Wunused-variable",
    )
    assert table["E"][riscv]["verdict"] == "PASS"
    assert table["E"][riscv]["new_warnings"] == [] and table["E"][riscv]["gone_warnings"] == []
    assert table["E"][riscv]["warnings"] == 1


def test_fail_on_warnings_makes_the_new_warning_a_regression(history):
    shas = history["shas"]
    run = orchestrate("--commit", shas["D"], *history["common"], "--cells", "riscv-gcc-defconfig+kvm", "--fail-on", "warnings")
    assert run.returncode == 1  # stored: nothing is built again
    assert "(stored)" in run.stdout


def test_the_terminal_report_shows_the_table_and_how_to_reproduce(history):
    shas = history["shas"]
    run = report(history, f"{shas['A']}..{shas['C']}")
    assert "NEW FAIL" in run.stdout and "FIXED" in run.stdout
    assert "arch/riscv/kvm/vcpu_sbi.c:" in run.stdout and "has no member named 'flags'" in run.stdout
    assert f"orchestrate --commit {shas['B'][:12]} --cells riscv-gcc-defconfig+kvm --rebuild" in run.stdout
    lines = run.stdout.splitlines()
    rows = [next(i for i, line in enumerate(lines) if shas[x][:12] in line) for x in "ABC"]
    assert rows == sorted(rows)  # oldest first


def test_markdown_and_junit(history, tmp_path):
    shas = history["shas"]
    spec = f"{shas['A']}..{shas['C']}"
    markdown = report(history, spec, "--format", "markdown").stdout
    assert markdown.startswith("| commit | subject | x86_64-gcc-defconfig+kvm | arm64-gcc-defconfig+kvm | riscv-gcc-defconfig+kvm |")
    assert f"### NEW FAIL: arm64-gcc-defconfig+kvm at `{shas['B'][:12]}`" in markdown
    assert "- `arch/arm64/kvm/psci.c:" in markdown
    report(history, spec, "--format", "junit", "-o", str(tmp_path / "junit.xml"))
    suites = ElementTree.parse(tmp_path / "junit.xml").getroot()
    cases = suites.findall("./testsuite/testcase")
    assert len(cases) == 9  # one per cell per commit
    failed = {(c.get("classname"), c.get("name")): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {(shas["B"], "arm64-gcc-defconfig+kvm"), (shas["B"], "riscv-gcc-defconfig+kvm")}
    assert "has no member named 'flags'" in failed[(shas["B"], "riscv-gcc-defconfig+kvm")].text


def test_the_html_report_in_a_browser_shows_b_breaking_arm64_and_riscv_and_c_fixing_them(history, tmp_path, browser):
    shas = history["shas"]
    page = tmp_path / "pages" / "seed.html"
    page.parent.mkdir()
    report(history, f"{shas['A']}..{shas['C']}", "--format", "html", "-o", str(page))
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", page.read_text())  # nothing from a network
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.goto(page.as_uri())
    found = grid(tab)
    b, c = shas["B"][:12], shas["C"][:12]
    for cell in ("arm64-gcc-defconfig+kvm", "riscv-gcc-defconfig+kvm"):
        assert found[(b, cell)][:2] == ("✗new +1e", "new-fail") and found[(c, cell)][:2] == ("✓fix -1e", "fixed")
    assert found[(b, "x86_64-gcc-defconfig+kvm")][:2] == ("✓", "ok")
    causes = "\n".join(tab.locator("section.cause").all_inner_texts())
    assert "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'" in causes
    assert "arch/arm64/kvm/psci.c:187:32: error: 'struct <anonymous>' has no member named 'flags'" in causes
    links = tab.locator("section.cause ul.links a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(links) == 6 and all((page.parent / unquote(href)).is_file() for href in links)  # relative, and they reach the artifacts
    shot = Path(os.environ.get("ORCHESTRATOR_SCREENSHOT") or tmp_path / "seed.png")  # README's screenshot was made so
    tab.screenshot(path=shot, full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    tab.close()


def test_the_kcidb_export_validates_with_kcidbs_own_schema(history, tmp_path):
    shas = history["shas"]
    spec = f"{shas['A']}..{shas['C']}"
    run = orchestrate("export", "kcidb", spec, *history["common"], "-o", str(tmp_path / "kcidb.json"))
    assert run.returncode == 0, run.stderr
    document = json.loads((tmp_path / "kcidb.json").read_text())
    kcidb_io.schema.LATEST.validate(document)
    assert report(history, spec, "--format", "kcidb").stdout == (tmp_path / "kcidb.json").read_text()
    assert [c["git_commit_hash"] for c in document["checkouts"]] == [shas[x] for x in "ABC"]
    builds = {(b["checkout_id"].split(":")[1], b["misc"]["cell"]): b for b in document["builds"]}
    assert len(builds) == 9
    statuses = {(sha, cell): b["status"] for (sha, cell), b in builds.items() if sha == shas["B"]}
    assert statuses == {(shas["B"], "x86_64-gcc-defconfig+kvm"): "PASS", (shas["B"], "arm64-gcc-defconfig+kvm"): "FAIL",
                        (shas["B"], "riscv-gcc-defconfig+kvm"): "FAIL"}  # fmt: skip
    riscv = builds[(shas["B"], "riscv-gcc-defconfig+kvm")]
    assert riscv["id"] == f"orchestrator:{shas['B']}:riscv-gcc-defconfig+kvm" and riscv["architecture"] == "riscv"
    assert "gcc" in riscv["compiler"]
    assert "has no member named 'flags'" in riscv["log_excerpt"] and len(riscv["log_excerpt"]) <= 16384
    assert Path(unquote(riscv["log_url"].removeprefix("file://"))).is_file()


def test_a_result_never_depends_on_cache_state(history, tmp_path):
    """D's riscv cell again with an empty ccache: the same status and the same diagnostics."""
    sha = history["shas"]["D"]
    cold = orchestrate(
        "--commit", sha, "--tree", str(history["clone"]), "--results", str(tmp_path), "--cells", "riscv-gcc-defconfig+kvm",
        env={"CCACHE_DIR": str(tmp_path / "empty-ccache")},
    )
    assert cold.returncode == 0, cold.stdout[-2000:]
    (warm,) = Store(history["results"]).builds(sha)
    (cold_result,) = Store(tmp_path).builds(sha)
    assert cold_result.status == warm.status == "pass"
    assert cold_result.diagnostics == warm.diagnostics


def test_the_report_is_the_same_without_reuse(history, tmp_path):
    """C changes only arm64 and riscv files: its x86 cell is reused from B, the only reuse of A..C. The
    store copied and that cell built instead (--rebuild never reuses), every verdict of A..C is the same."""
    shas = history["shas"]
    spec = f"{shas['A']}..{shas['C']}"
    reused = {(sha, r.cell_id) for sha in shas.values() for r in Store(history["results"]).builds(sha) if r.reused}
    assert reused == {(shas["C"], "x86_64-gcc-defconfig+kvm")}
    shutil.copytree(history["results"], tmp_path / "results")
    common = ["--tree", str(history["clone"]), "--results", str(tmp_path / "results"), *sum((["--cells", c] for c in CELLS), [])]
    built = orchestrate("--commit", shas["C"], *common[:4], "--cells", "x86_64-gcc-defconfig+kvm", "--rebuild")
    assert built.returncode == 0, built.stdout[-3000:]
    assert not any(r.reused for sha in shas.values() for r in Store(tmp_path / "results").builds(sha))

    def judged(document: dict) -> list:
        return [{v["cell"]: {k: x for k, x in v.items() if k != "reused_from"} for v in row["verdicts"]} for row in document["commits"]]

    without = json.loads(orchestrate("report", spec, *common, "--format", "json").stdout)
    with_reuse = json.loads(report(history, spec, "--format", "json").stdout)
    for document in (without, with_reuse):
        for row in document["commits"]:
            for verdict in row["verdicts"]:
                verdict["reproduce"] = verdict["reproduce"].split(" --results ")[0]  # names each store
        for cause in document["root_causes"]:
            cause["reproduce"] = cause["reproduce"].split(" --results ")[0]
    assert judged(without) == judged(with_reuse) and without["root_causes"] == with_reuse["root_causes"]
    assert without["regressions"] == with_reuse["regressions"]
