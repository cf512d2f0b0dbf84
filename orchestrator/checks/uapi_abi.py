"""The uapi-abi check of one commit for one ABI pair: a request in, a result and its artifacts out.

Headers are installed per ARCH, laid out per ABI and compared per pair; each step is cached under
`<work root>/uapi-abi/` by what it depends on (the uapi trees' git objects, the headers in scope, the
compilers' versions), so a commit that touches no uapi file compiles nothing. The result is FAIL when
the pair has an error-class difference (alignment, tail padding, inherited); the verdict machinery then
tells the differences the commit brought from those already at its baseline.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from .. import accepted
from ..build import BuildRequest, Finished, partial_dir
from ..classify import one_line
from ..errors import InfraError
from ..inputs import UAPI_DIRECTORIES
from ..lock import Lock
from ..models import BuildResult, Check, Diagnostic, Status
from . import headers
from .cache import prune, touch
from .compare import Difference, compare
from .layouts import Abi, CompileFailed, CompilerMissing, abis, compiler_version, layouts
from .records import Layouts

CACHE_VERSION = "6"  # of the cached layouts and findings: bump when their contents change meaning


def run(request: BuildRequest) -> Finished:
    """Judge the request's check on its checkout; never raises for what the machine did wrong (INFRA)."""
    check = request.cell
    assert isinstance(check, Check)
    started = time.monotonic()
    partial = partial_dir(Path(request.output_dir))
    shutil.rmtree(partial, ignore_errors=True)
    result = BuildResult(cell_id=check.id, sha=request.sha, status=Status.INFRA, definition=check.definition, runtime="null")
    log: list[str] = []
    try:
        partial.mkdir(parents=True)
        found = judge(check, Path(request.source), Path(request.work_root) / "uapi-abi", request.jobs)
    except CompilerMissing as error:
        result.reason = f"{check.wide}-{check.narrow}: {error}"
    except headers.InstallFailed as error:
        result.status, result.reason = Status.FAIL, one_line(f"make headers_install failed: {error}")
        result.diagnostics = [Diagnostic(severity="error", file="", line=None, column=None, message=result.reason, tool="make",
                                         fingerprint=f"{check.wide}-{check.narrow}|headers_install|failed")]  # fmt: skip
        result.errors, result.inputs = 1, read_whole(check)
    except CompileFailed as error:
        result.reason = one_line(f"the installed headers did not compile: {error}")
    except InfraError as error:  # git could not read the checkout
        result.reason = one_line(str(error))
    except OSError as error:  # a full or failing disk under the work root
        result.reason = one_line(f"uapi-abi cache: {error.strerror or error} ({error.filename or ''})")
    else:
        diagnostics, log, result.compiler = found
        _judge(result, accepted.mark(diagnostics, check.accepted))
        result.inputs = read_whole(check)
    result.targets = {check.kind: "FAIL" if result.status == Status.FAIL else "PASS" if result.status == Status.PASS else "SKIP"}
    result.duration = time.monotonic() - started
    try:
        _write_log(partial / "build.log", check, result, log)
    except OSError:
        return Finished(request, result, None)
    return Finished(request, result, partial)


def _judge(result: BuildResult, diagnostics: list[Diagnostic]) -> None:
    """FAIL when a finding of the error class is not known (accepted in the matrix), else PASS; the
    counts leave the known ones out."""
    result.diagnostics = diagnostics
    errors = [d for d in diagnostics if d.severity == "error" and not d.known]
    result.status = Status.FAIL if errors else Status.PASS
    result.reason = errors[0].message if errors else ""
    result.errors = len(errors)
    result.warnings = sum(d.severity == "warning" and not d.known for d in diagnostics)


def read_whole(check: Check) -> frozenset[str]:
    """The check's input set: the uapi directories headers_install reads for its two ABIs (the
    install script and generators it runs lie under scripts/ and in build files, always rebuilt)."""
    table = abis()
    return frozenset(directory.format(arch=table[abi].karch) for abi in (check.wide, check.narrow) for directory in UAPI_DIRECTORIES)


def judge(check: Check, source: Path, cache: Path, jobs: int = 1) -> tuple[list[Diagnostic], list[str], str]:
    """The check's findings on the commit checked out at `source` (diagnostics, log lines, compilers)."""
    table = abis()
    wide, narrow = table[check.wide], table[check.narrow]
    compilers = {abi.name: compiler_version(abi) for abi in (wide, narrow)}  # CompilerMissing before any work
    installed = {abi.name: headers.install(source, abi.karch, cache / "headers", jobs) for abi in (wide, narrow)}
    compiler = f"{check.wide}: {compilers[check.wide]}; {check.narrow}: {compilers[check.narrow]}"
    identity = [CACHE_VERSION, check.definition, *(installed[a].key for a in compilers), *compilers.values()]
    findings = cache / "findings" / (_digest(identity) + ".json")
    touch(findings)
    prune(cache)
    if findings.is_file():
        saved = json.loads(findings.read_text())
        keys = ", ".join(i.key for i in installed.values())
        reused = f"uapi headers unchanged since an earlier check (keys {keys}): findings reused, nothing compiled"
        return [Diagnostic.from_dict(d) for d in saved["diagnostics"]], [reused, *saved["log"]], compiler
    sides = {abi.name: _layouts(abi, installed[abi.name], check.headers, cache, compilers[abi.name]) for abi in (wide, narrow)}
    differences = compare(sides[check.wide], sides[check.narrow])
    lines = _SourceLines(source, wide.karch, installed[check.wide].include)
    diagnostics = sorted((_diagnostic(d, lines) for d in differences), key=lambda d: (d.file, d.line or 0, d.message))
    log = _findings_log(check, sides, installed, headers.kernel_test_skips(source))
    _write_atomically(findings, json.dumps({"diagnostics": [d.to_dict() for d in diagnostics], "log": log}))
    return diagnostics, log, compiler


def _layouts(abi: Abi, installed: headers.Installed, wanted: tuple[str, ...], cache: Path, compiler: str) -> Layouts:
    """One ABI's layouts of the headers in scope, read from the cache or compiled (once, under a lock)."""
    path = cache / "layouts" / f"{abi.name}-{_digest([CACHE_VERSION, installed.key, *wanted, compiler])}.json"
    touch(path)
    left_out: dict[str, str] | None = None
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with Lock(path.with_suffix(".lock"), wait=True, say=headers.quiet):  # a sibling pair compiling it
            if not path.is_file():
                kept, left_out = headers.scope(installed.include, wanted)
                with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{abi.name}-") as scratch:
                    found = layouts(abi, installed.include, kept, Path(scratch), compiler)
                _write_atomically(path, json.dumps(found.to_dict() | {"left_out": left_out, "compiled": kept}))
    if left_out is None:  # compiled before, or by a sibling pair while this one waited: read it
        data = json.loads(path.read_text())
        found, left_out = Layouts.from_dict(data), data["left_out"]
    return replace(found, dropped={**left_out, **found.dropped})  # every header not compared, with why


def _diagnostic(difference: Difference, lines: _SourceLines) -> Diagnostic:
    file, line, text = lines.find(difference.file, difference.line)
    return Diagnostic(
        severity=difference.severity,
        file=file,
        line=line or None,
        column=None,
        message=difference.message,
        option=str(difference.kind),
        tool="uapi-abi",
        excerpt=[text] if text else [],
        fingerprint=difference.fingerprint,
    )


class _SourceLines:
    """Where a line of an installed header is in the tree. headers_install drops `#ifdef __KERNEL__`
    blocks, so line N of the installed copy is a later line of the tree's file: match the two."""

    def __init__(self, source: Path, karch: str, include: Path):
        self.source, self.karch, self.include = source, karch, include
        self.maps: dict[str, tuple[str, dict[int, int], list[str]]] = {}

    def find(self, installed: str, line: int) -> tuple[str, int, str]:
        """(tree path, line there, its text) for line `line` of installed header `installed`."""
        if installed not in self.maps:
            self.maps[installed] = self._map(installed)
        path, numbers, text = self.maps[installed]
        mapped = numbers.get(line, line if path.startswith("usr/") else 0)
        return path, mapped, text[mapped - 1].strip() if 0 < mapped <= len(text) else ""

    def _map(self, installed: str) -> tuple[str, dict[int, int], list[str]]:
        path = headers.source_path(self.source, self.karch, installed)
        origin = self.source / path if not path.startswith("usr/") else self.include / installed
        try:
            ours, theirs = (self.include / installed).read_text(errors="replace").splitlines(), origin.read_text(errors="replace").splitlines()
        except OSError:
            return path, {}, []
        matcher = difflib.SequenceMatcher(None, [_bare(x) for x in ours], [_bare(x) for x in theirs], autojunk=False)
        numbers = {}
        for block in matcher.get_matching_blocks():
            for offset in range(block.size):
                numbers[block.a + offset + 1] = block.b + offset + 1
        return path, numbers, theirs


def _bare(line: str) -> str:
    """A line as headers_install leaves it comparable: no spaces, no __user/__force annotations."""
    for word in ("__user", "__force", "__iomem", "_UAPI"):
        line = line.replace(word, "")
    return "".join(line.split())


def _findings_log(check: Check, sides: dict[str, Layouts], installed: dict[str, headers.Installed], skips: frozenset[str]) -> list[str]:
    """What was compared, per ABI, and each header left out with why (and whether the kernel's own
    header test leaves it out too)."""
    lines = []
    for name, side in sides.items():
        total = len(headers.chosen(headers.installed_headers(installed[name].include), check.headers))
        compared = total - len(side.dropped)
        lines.append(f"{name}: {side.compiler}; headers of ARCH={installed[name].karch} (key {installed[name].key}); "
                     f"{compared} of {total} headers compared ({100 * compared / max(total, 1):.1f}%), "
                     f"{len(side.types)} structs and unions")  # fmt: skip
    for name, side in sides.items():
        for header, why in sorted(side.dropped.items()):
            also = "; the kernel's own header test leaves it out too (usr/include/Makefile)" if header in skips else ""
            lines.append(f"{name}: left out {header}: {why}{also}")
    return lines


def _write_log(path: Path, check: Check, result: BuildResult, log: list[str]) -> None:
    """build.log of a check: what was compared, what was left out, then each finding as a compiler
    would print it."""
    counts = {s: sum(d.severity == s and not d.known for d in result.diagnostics) for s in ("error", "warning", "note")}
    counts["known"] = sum(d.known for d in result.diagnostics)
    body = [f"uapi-abi check {check.wide} against {check.narrow}, headers: {', '.join(check.headers) or 'every installed one'}", *log]
    body += [f"{d.location}: {d.severity}: {d.message} [{d.option}]{' (known)' if d.known else ''}" for d in result.diagnostics]
    totals = ", ".join(f"{n} {s}" if s == "known" else f"{n} {s}s" for s, n in counts.items())
    body.append(result.reason if result.status == Status.INFRA else totals)
    _write_atomically(path, "\n".join(body) + "\n")


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as stream:
        stream.write(text)
    os.replace(stream.name, path)
