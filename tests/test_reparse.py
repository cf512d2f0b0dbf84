"""reparse: results an older log parser made are parsed again, once, before anything judges them."""

from dataclasses import replace
from pathlib import Path

from conftest import SEED

from orchestrator import logparse, regress, reparse
from orchestrator.models import BuildResult, Commit, Status, VerdictKind
from orchestrator.store import Store

LOGS = Path(__file__).resolve().parent / "data" / "logs"
LD_CELL = "x86_64-gcc-tinyconfig"


def test_results_of_an_older_parser_are_parsed_again_so_an_unchanged_error_stays_unchanged(tmp_path):
    """Parser 1 named GNU ld's undefined reference by its object (init/main.o); today's names the source
    file (init/main.c), with another fingerprint. The same error at the next commit is not new."""
    store = Store(tmp_path)
    a, b = "a" * 40, "b" * 40
    store.add_commit(Commit(a, "a", "2022-12-11T14:15:00+00:00"))
    log = (LOGS / "x86_64-gcc-tinyconfig-undefined-reference.log").read_bytes()
    (tmp_path / a / LD_CELL).mkdir(parents=True)
    (tmp_path / a / LD_CELL / "build.log").write_bytes(log)
    today = logparse.parse(log.splitlines())
    [error] = [d for d in today if d.tool == "linker"]
    old = replace(error, file="init/main.o", root_cause=False)
    old.fingerprint = logparse.fingerprint(old)
    store.add_build(BuildResult(LD_CELL, a, Status.FAIL, definition="d", artifacts_dir=f"{a}/{LD_CELL}", diagnostics=[old], parser=1))
    gone = replace(old)  # a result whose artifacts were pruned: nothing to parse again
    store.add_build(BuildResult("pruned", a, Status.FAIL, definition="d", diagnostics=[gone], parser=1))
    store.add_build(BuildResult("uapi-abi-x86_64-i386", a, Status.FAIL, definition="d", diagnostics=[SEED], parser=1))

    assert reparse.stale(store) == 1
    assert reparse.stale(store) == 0  # once

    results = {r.cell_id: r for r in store.builds(a)}
    assert results[LD_CELL].diagnostics == today and results[LD_CELL].parser == logparse.VERSION
    assert results["pruned"].diagnostics == [gone] and results["pruned"].parser == logparse.VERSION
    assert results["uapi-abi-x86_64-i386"].diagnostics == [SEED] and results["uapi-abi-x86_64-i386"].parser == 0  # a check's own
    verdict = regress.compare(BuildResult(LD_CELL, b, Status.FAIL, definition="d", diagnostics=today), results[LD_CELL])
    assert verdict.kind == VerdictKind.STILL_FAILING and verdict.new_errors == [] and not verdict.is_regression()
