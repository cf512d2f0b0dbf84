"""The terminal views, on constructed reports and records (no build): what a maintainer reads."""

import io
from pathlib import Path

from conftest import SEED, A, B, C, bisected, every_kind
from rich.console import Console

from orchestrator import pipeline
from orchestrator.models import Attempt, BuildResult, Cell, Commit, FirstBad, Outcome, Row, Status, Verdict, VerdictKind
from orchestrator.store import Store
from orchestrator.views import console


def rendered(width: int = 300, fail_on_warnings: bool = False, **options) -> str:
    out = Console(file=io.StringIO(), width=width, color_system=None)
    console.report(out, every_kind(fail_on_warnings), fail_on_warnings, **options)
    return out.file.getvalue()


def test_a_wide_console_shows_cell_ids_and_verdict_words():
    text = rendered()
    header = text.splitlines()[1]
    assert header.split()[:2] == ["commit", "subject"] and "fails" in header and "cut" in header
    for words in ("✗ NEW FAIL +1e", "✓ FIXED -1e", "✗ STILL FAILING 1e +1w", "! NEW WARNINGS +1w", "✓ WARNINGS FIXED -1w",
                  "? INFRA", "⚠ MATRIX ERROR", "✗ baseline unknown 1e"):
        assert words in text, words
    assert "cells: " not in text  # no legend needed


def test_a_narrow_console_keeps_every_cell_id_readable_wrapping_them_and_grouping_the_columns():
    text = rendered(width=60)
    tables = text.split("\n\n")
    assert [t.splitlines()[0 if i else 1].split()[2:] for i, t in enumerate(tables[:2])] == [["fails", "still", "warns", "host"], ["same", "cut"]]
    assert all(len(line) <= 60 for table in tables[:2] for line in table.splitlines()[:5])
    assert "✗new +1e" in text and "✓fix -1e" in text and "✓°" in text  # compact words, explained by the legend
    assert "Ne, Nw: errors, warnings, the same as the baseline's" in text


def test_long_cell_ids_wrap_at_their_dashes_and_fragments():
    assert console._wrapped("x86_64-gcc-defconfig+kvm+nocompat", 10) == ["x86_64-", "gcc-", "defconfig", "+kvm", "+nocompat"]
    assert console._wrapped("uapi-abi-riscv64-riscv32", 9) == ["uapi-abi-", "riscv64-", "riscv32"]


def test_each_regression_is_detailed_with_its_errors_and_a_command_that_reproduces_it():
    text = rendered()
    detail = text[text.index(" NEW FAIL  fails at bbbbbbbbbbbb b"):]
    assert "arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'" in detail
    assert "reproduce: orchestrate --commit bbbbbbbbbbbb --cells fails --rebuild --tree /src/linux" in detail
    assert " FIXED  fails at cccccccccccc c" in text  # fixes are listed after the regressions


def test_a_regression_names_its_first_bad_commit_when_bisection_found_it():
    out = Console(file=io.StringIO(), width=300, color_system=None)
    console.report(out, bisected(every_kind()))
    lines = out.file.getvalue().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(" NEW FAIL  fails at bbbbbbbbbbbb b"))
    assert lines[header + 1] == "  first bad commit: bbbbbbbbbbbb b (Au Thor <au@thor.invalid>), found in 2 builds"


def test_new_warnings_are_listed_always_and_a_regression_only_with_fail_on_warnings():
    text = rendered()
    assert "2 regressions (2 cells)" in text and " NEW WARNINGS  warns at" not in text
    # listed all the same, with the warning itself
    listed = text[text.index("new warnings in warns at bbbbbbbbbbbb b  (a regression with --fail-on warnings)"):]
    assert listed.splitlines()[1] == "  arch/riscv/kvm/vcpu_sbi.c:97:13: warning: unused variable 'x' [-Wunused-variable]"
    # with it, B's new unused variable in "still" and "warns" is one root cause listing both cells
    text = rendered(fail_on_warnings=True)
    assert "3 regressions (4 cells)" in text and " STILL FAILING  still, warns at bbbbbbbbbbbb b" in text
    assert "new warnings in" not in text


def test_a_reference_row_shows_how_it_built_not_a_verdict():
    text = rendered(reference=A)
    row = next(line for line in text.splitlines() if line.startswith(A[:12]))
    assert "NO BASELINE" not in row and "no baseline" not in row and "✗ 1e" in row  # "still" failed at A
    assert f"at {A[:12]}" not in text  # nor is it listed among regressions or fixes


def test_no_regressions_is_said():
    out = Console(file=io.StringIO(), width=200, color_system=None)
    passing = Verdict("cell", C, VerdictKind.UNCHANGED, Status.PASS, base_sha=B)
    console.verdicts(out, Commit(C, "c", "d"), [passing], [])
    assert "no regressions" in out.file.getvalue()


def test_show_names_the_artifacts_where_they_are_now_and_the_attempts_that_did_not_become_the_result(tmp_path):
    (tmp_path / A / "kept").mkdir(parents=True)
    results = [
        BuildResult("kept", A, Status.PASS, artifacts_dir=f"{A}/kept", runtime="null", compiler="gcc 12"),
        BuildResult("pruned", A, Status.FAIL, artifacts_dir=f"{A}/pruned", diagnostics=[SEED], runtime="null"),
        BuildResult("none", A, Status.INFRA, reason="riscv64-linux-gnu-ld not found on the host", runtime="null"),
    ]
    attempts = {"kept": [Attempt(Status.INFRA, "no space left on device: x", Outcome.KEPT_FINISHED, "2026-11-25T12:00:00+00:00", "")]}
    out = Console(file=io.StringIO(), width=200, color_system=None)
    console.show(out, Commit(A, "a", "d"), results, Path(tmp_path), attempts)
    text = out.file.getvalue()
    assert f"artifacts: {tmp_path / A / 'kept'}\n" in text
    assert f"artifacts: {tmp_path / A / 'pruned'} (pruned by the nightly's retention" in text
    assert "artifacts: none kept" in text
    assert "attempt 2026-11-25T12:00:00+00:00: INFRA (no space left on device: x); kept the finished result" in text
    assert "arch/riscv/kvm/vcpu_sbi.c:87:26: error:" in text


def test_the_verdicts_of_a_commit_list_only_its_regressions_with_what_bisection_found(tmp_path):
    out = Console(file=io.StringIO(), width=200, color_system=None)
    rows = every_kind().rows
    found = list(rows[1].verdicts.values())  # B: a new failure, still failing, new warnings, a matrix error
    commit = Commit(B, "b", "d")
    store = Store(tmp_path)
    store.add_first_bad(FirstBad(["fails"], [SEED.fingerprint], A, [B], 2, tip=B))  # a nightly's, with B its tip
    console.verdicts(out, commit, found, pipeline.causes(store, commit, found), rerun=("--tree", "/src/linux"))
    text = out.file.getvalue()
    assert " NEW FAIL  fails at bbbbbbbbbbbb b" in text and " STILL FAILING  still at bbbbbbbbbbbb b" not in text
    assert "  first bad commit: bbbbbbbbbbbb, found in 2 builds" in text  # B itself: not in this store's commits
    assert isinstance(rows[1], Row)


def test_progress_and_the_summary_say_which_cells_were_reused_and_from_where():
    cells = [Cell("riscv", "riscv", "gcc", "defconfig", (), ("config",), ()), Cell("x86", "x86_64", "gcc", "defconfig", (), ("config",), ())]
    for terminal in (True, False):
        out = Console(file=io.StringIO(), width=200, color_system=None, force_terminal=terminal)
        with console.LiveProgress(out, cells, "building") as progress:
            progress.update("riscv", "reused", A)
            progress.update("x86", "building", "config")
            progress.update("x86", "done", "pass")
        if not terminal:
            assert f"  riscv: reused from {A[:12]} (no input changed)" in out.file.getvalue()
    out = Console(file=io.StringIO(), width=200, color_system=None)
    results = [BuildResult("riscv", C, Status.PASS, reused_from=A), BuildResult("x86", C, Status.PASS)]
    console.summary(out, Commit(C, "Documentation: a fix", "2022-12-11T14:15:00+00:00"), results, built=["x86"])
    assert f"riscv ↺ reused from {A[:12]} (no input changed)" in out.file.getvalue()
