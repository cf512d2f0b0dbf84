"""Results built elsewhere: a directory of tuxmake artifacts (a TuxSuite download, a CI job of a
GitHub or GitLab matrix) read into the BuildResult a build here would have made.

The same parsing and classification as a local build: the log is parsed by logparse, the status
comes from classify with tuxmake's own target statuses (metadata.json). What ran it is recorded in
`runtime` as `imported:<origin>`, so such a result is never reused for a later commit (no input set).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import classify, logparse
from .errors import UserError
from .models import BuildResult, Cell, Status

PREFIX_MAP = re.compile(r"-ffile-prefix-map=([^=\s]+)=")  # tuxmake's KCFLAGS: the build directory it used


class ArtifactsError(UserError):
    """A directory to import is not tuxmake's artifacts of the cell named."""

    template = "{path}: {detail}"


def read_result(directory: Path, cell: Cell, sha: str, origin: str) -> BuildResult:
    """The result the artifacts in `directory` give for `cell` at `sha`; ArtifactsError when they are
    missing or belong to another arch, toolchain or config."""
    log, metadata = directory / "build.log", _metadata(directory)
    if not log.is_file():
        raise ArtifactsError("has no build.log; give a directory of tuxmake artifacts (build.log, metadata.json, config)", path=directory)
    build = metadata.get("build", {})
    asked = {"target_arch": cell.arch, "toolchain": cell.toolchain, "kconfig": cell.kconfig}
    for field, wanted in asked.items():
        found = build.get(field)
        if isinstance(found, list):  # tuxmake writes kconfig as given: a name, or a list
            found = found[0] if found else None
        if found is not None and found != wanted:
            raise ArtifactsError(
                f"metadata.json says {field} {found}, but the cell {cell.id} builds {wanted}; import it as a cell that matches", path=directory
            )
    results = metadata.get("results", {})
    text = log.read_text(errors="replace")
    config = _read(directory / "config")
    roots = PREFIX_MAP.findall(str(build.get("environment", {}).get("KCFLAGS", "")))
    compiler = metadata.get("compiler", {})
    result = BuildResult(
        cell_id=cell.id,
        sha=sha,
        status=Status.INFRA,
        definition=cell.definition,
        targets={name: str(info.get("status", "")) for name, info in results.get("targets", {}).items()},
        duration=float(sum(results.get("duration", {}).values()) or 0.0),
        runtime=f"imported:{origin}",
        compiler=str(compiler.get("version_full", "")),
        errors=int(results.get("errors", 0)),
        warnings=int(results.get("warnings", 0)),
    )
    result.diagnostics = logparse.parse(text.splitlines(), roots)
    result.parser = logparse.VERSION
    result.status, result.reason = classify.classify(
        cell, result.targets, text, config, roots, result.diagnostics, (), str(compiler.get("version", ""))
    )
    return result


def _metadata(directory: Path) -> dict[str, Any]:
    path = directory / "metadata.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactsError("has no metadata.json: tuxmake writes it beside build.log, with each target's status", path=directory) from None
    except (OSError, ValueError) as error:
        raise ArtifactsError(f"metadata.json cannot be read ({error})", path=directory) from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise ArtifactsError("metadata.json has no `results`: is it tuxmake's?", path=directory)
    return document


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
