"""Results built elsewhere: a directory of tuxmake artifacts (a TuxSuite download, a CI job of a
GitHub or GitLab matrix) read into the BuildResult a build here would have made.

The same parsing and classification as a local build: the log is parsed by logparse, the status
comes from classify with tuxmake's own target statuses (metadata.json). What ran it is recorded in
`runtime` as `imported:<origin>`, so such a result is never reused for a later commit (no input set).

The directory comes from someone else: only regular files are taken (a symlink, a device or a FIFO is
refused, whatever it points at), within size limits, and every field of metadata.json is checked for
its type before it is used.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import classify, logparse, safefile
from .build import ARTIFACTS_LIMIT
from .errors import UserError
from .models import BuildResult, Cell, Status

PREFIX_MAP = re.compile(r"-ffile-prefix-map=([^=\s]+)=")  # tuxmake's KCFLAGS: the build directory it used
METADATA_LIMIT = 16 * 1024**2  # bytes of metadata.json and of config: tuxmake's are a few hundred KiB
MAX_FILES = 10_000  # in one cell's artifacts (tuxmake writes a handful, kselftest a few hundred)


class ArtifactsError(UserError):
    """A directory to import is not tuxmake's artifacts of the cell named."""

    template = "{path}: {detail}"


@dataclass(frozen=True)
class Artifacts:
    """A directory of artifacts whose every entry was checked: `files` relative to it, regular files only."""

    directory: Path
    files: tuple[str, ...]


def read_result(directory: Path, cell: Cell, sha: str, origin: str) -> BuildResult:
    """The result the artifacts in `directory` give for `cell` at `sha`; ArtifactsError when they are
    missing or belong to another arch, toolchain or config."""
    scan(directory)
    log, metadata = directory / "build.log", _metadata(directory)
    if not log.is_file():
        raise ArtifactsError("has no build.log; give a directory of tuxmake artifacts (build.log, metadata.json, config)", path=directory)
    build = _mapping(metadata, "build", directory)
    asked = {"target_arch": cell.arch, "toolchain": cell.toolchain, "kconfig": cell.kconfig}
    for field, wanted in asked.items():
        found = build.get(field)
        if isinstance(found, list):  # tuxmake writes kconfig as given: a name, or a list
            found = found[0] if found else None
        if found is not None and found != wanted:
            raise ArtifactsError(
                f"metadata.json says {field} {found}, but the cell {cell.id} builds {wanted}; import it as a cell that matches", path=directory
            )
    results = _mapping(metadata, "results", directory)
    targets = _mapping(results, "targets", directory, "results.")
    durations = _mapping(results, "duration", directory, "results.")
    compiler = _mapping(metadata, "compiler", directory)
    environment = _mapping(build, "environment", directory, "build.")
    config = safefile.read_bytes(directory / "config", METADATA_LIMIT).decode("utf-8", "replace") if (directory / "config").is_file() else ""
    roots = PREFIX_MAP.findall(_typed(environment, "KCFLAGS", str, "", directory, "build.environment."))
    result = BuildResult(
        cell_id=cell.id,
        sha=sha,
        status=Status.INFRA,
        definition=cell.definition,
        targets={name: _typed(_mapping(targets, name, directory, "results.targets."), "status", str, "", directory) for name in targets},
        duration=float(sum(_typed(durations, name, float, 0.0, directory, "results.duration.") for name in durations)),
        runtime=f"imported:{origin}",
        compiler=_typed(compiler, "version_full", str, "", directory, "compiler."),
        errors=_typed(results, "errors", int, 0, directory, "results."),
        warnings=_typed(results, "warnings", int, 0, directory, "results."),
    )
    with safefile.open_binary(log) as stream:  # streamed: a log of gigabytes is never held whole
        result.diagnostics = logparse.parse(stream, roots)
    result.parser = logparse.VERSION
    lines = functools.partial(safefile.read_lines, log)  # classify reads the log again only when the build failed
    version = _typed(compiler, "version", str, "", directory, "compiler.")
    result.status, result.reason = classify.classify(cell, result.targets, lines, config, roots, result.diagnostics, (), version)
    return result


def scan(directory: Path) -> Artifacts:
    """Every entry under `directory`, refused with one line unless it is a directory or a regular file,
    and unless all of them together stay within the limits."""
    files, total = [], 0
    for top, directories, names in os.walk(directory, onerror=_unreadable(directory)):
        for name in directories + names:
            path = Path(top, name)
            entry = os.lstat(path)
            if stat.S_ISDIR(entry.st_mode):
                continue
            relative = str(path.relative_to(directory))
            if not stat.S_ISREG(entry.st_mode):
                kind = "a symbolic link" if stat.S_ISLNK(entry.st_mode) else "not a regular file"
                raise ArtifactsError(f"{relative} is {kind}; only regular files are imported", path=directory)
            files.append(relative)
            total += entry.st_size
            if len(files) > MAX_FILES or total > ARTIFACTS_LIMIT:
                limits = f"{MAX_FILES} files or {ARTIFACTS_LIMIT // 1024**3} GiB"
                raise ArtifactsError(f"holds more than {limits}; import one build's artifacts only", path=directory)
    return Artifacts(directory, tuple(sorted(files)))


def copy(artifacts: Artifacts, into: Path) -> None:
    """The scanned files into a fresh directory `into`: read without following a link (a file replaced
    by one since the scan is refused), written new."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for relative in artifacts.files:
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        writing_to = safefile.open_regular(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with safefile.open_binary(artifacts.directory / relative) as reading, os.fdopen(writing_to, "wb") as writing:
            shutil.copyfileobj(reading, writing, 1 << 20)
            os.fchmod(writing.fileno(), stat.S_IMODE(os.fstat(reading.fileno()).st_mode) & 0o755)


def _unreadable(directory: Path) -> Callable[[OSError], None]:
    def refuse(error: OSError) -> None:
        raise ArtifactsError(f"cannot be read ({error.strerror}: {error.filename})", path=directory)

    return refuse


def _metadata(directory: Path) -> dict[str, Any]:
    path = directory / "metadata.json"
    try:
        if path.stat().st_size > METADATA_LIMIT:
            raise ArtifactsError(f"metadata.json is larger than {METADATA_LIMIT // 1024**2} MiB: not tuxmake's", path=directory)
        document = json.loads(safefile.read_bytes(path, METADATA_LIMIT))
    except FileNotFoundError:
        raise ArtifactsError("has no metadata.json: tuxmake writes it beside build.log, with each target's status", path=directory) from None
    except (OSError, ValueError, RecursionError) as error:
        raise ArtifactsError(f"metadata.json cannot be read ({error})", path=directory) from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise ArtifactsError("metadata.json has no `results`: is it tuxmake's?", path=directory)
    return document


def _mapping(document: dict, key: str, directory: Path, where: str = "") -> dict:
    """document[key] when it is a mapping, {} when it is missing; ArtifactsError for anything else."""
    return _typed(document, key, dict, {}, directory, where)


def _typed(document: dict, key: str, kind: type, default: Any, directory: Path, where: str = "") -> Any:
    """document[key] when it is of `kind` (an int for a float), `default` when missing or null."""
    value = document.get(key)
    if value is None:
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = {dict: "a mapping", str: "a string", int: "a whole number", float: "a number"}
        raise ArtifactsError(f"metadata.json: {where}{key} is {json.dumps(value)[:40]}, not {names[kind]}: is it tuxmake's?", path=directory)
    return value
