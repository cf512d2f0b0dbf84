"""The matrix as a TuxSuite plan (`version: 1`, `jobs:` of `builds:`, as TuxSuite's plan specification
says), for running the same cells on TuxSuite; its artifacts come back with `orchestrate import`.

A plan build names tuxmake targets only: a cell that builds plain Kbuild targets (the KVM cells'
arch/<arch>/kvm/) asks TuxSuite for the kernel and modules instead, which compile those directories
too. Checks (uapi-abi) are orchestrator's own code: they are left out. Both are said in the plan.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..models import Cell, Unit

WHOLE_KERNEL = ("kernel", "modules")  # what stands in for plain Kbuild targets


def plan(units: list[Unit], name: str) -> dict[str, Any]:
    """The plan document for the cells among `units`."""
    cells = [unit for unit in units if isinstance(unit, Cell)]
    return {
        "version": 1,
        "name": name,
        "description": f"orchestrator matrix {name}: {len(cells)} cells",
        "jobs": [{"name": name, "builds": [build(cell) for cell in cells]}],
    }


def build(cell: Cell) -> dict[str, Any]:
    """One plan build: the cell's arch, toolchain, config (its fragments inline, option by option),
    targets and make variables; named by the cell id, so imported artifacts find their cell."""
    targets = list(cell.targets) + [target for target in WHOLE_KERNEL if cell.make_targets and target not in cell.targets]
    entry: dict[str, Any] = {
        "build_name": cell.id,
        "target_arch": cell.arch,
        "toolchain": cell.toolchain,
        "kconfig": [cell.kconfig, *(f"{option}={value}" for option, value in cell.required_options.items())],
        "targets": targets,
    }
    if cell.make_variables:
        entry["make_variables"] = dict(cell.make_variables)
    return entry


def text(units: list[Unit], name: str) -> str:
    """The plan as YAML, headed by how to submit it and what it could not say."""
    document = plan(units, name)
    notes = [
        "# A TuxSuite plan of orchestrator's matrix, written by `orchestrate export tuxsuite-plan`.",
        "# Submit: tuxsuite plan --git-repo URL --git-sha SHA plan.yaml; then store each build's artifacts with",
        "#   orchestrate import DIR --commit SHA --cell BUILD_NAME",
    ]
    kbuild = [cell.id for cell in units if isinstance(cell, Cell) and cell.make_targets]
    if kbuild:
        notes.append(f"# Plans take tuxmake targets only: {', '.join(kbuild)} build the kernel and modules here, not just their Kbuild targets.")
    checks = [unit.id for unit in units if not isinstance(unit, Cell)]
    if checks:
        notes.append(f"# Not in the plan (orchestrator's own checks): {', '.join(checks)}.")
    return "\n".join(notes) + "\n" + yaml.safe_dump(document, sort_keys=False, width=1000)
