"""The records that flow between modules. Plain data, no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

# Build statuses, as stored and shown.
PASS = "pass"
FAIL = "fail"
INFRA = "infra"  # the build never got to compile: missing compiler, tuxmake crash, ...
MATRIX_ERROR = "matrix-error"  # built, but Kconfig dropped an option the cell asked for
STATUSES = (PASS, FAIL, INFRA, MATRIX_ERROR)


VERSIONED_TOOLCHAIN = re.compile(r"^(gcc|clang)-(\d+)$")  # gcc-12, clang-14: what tuxmake accepts too


def toolchain_family(toolchain: str) -> str:
    """gcc for gcc-12, clang for clang-14; the name itself otherwise."""
    match = VERSIONED_TOOLCHAIN.match(toolchain)
    return match[1] if match else toolchain


def toolchain_version(toolchain: str) -> str | None:
    """The major version a versioned toolchain asks for: `gcc-12` → "12"; None for plain `gcc`."""
    match = VERSIONED_TOOLCHAIN.match(toolchain)
    return match[2] if match else None


@dataclass(frozen=True)
class Fragment:
    """A Kconfig fragment file under configs/, with the options it asks for."""

    path: str  # relative to the project's configs/ directory, e.g. "x86_64/kvm.config"
    text: str
    options: tuple[tuple[str, str], ...]  # ("CONFIG_KVM", "y"); "n" for "# CONFIG_X is not set"


@dataclass(frozen=True)
class Cell:
    """One build of the matrix: what tuxmake is asked to do."""

    id: str
    arch: str  # tuxmake architecture name
    toolchain: str  # tuxmake toolchain name
    kconfig: str  # base config: a make target such as defconfig
    fragments: tuple[Fragment, ...]
    targets: tuple[str, ...]  # tuxmake targets ("config", "kernel", ...)
    make_targets: tuple[str, ...]  # plain Kbuild targets ("arch/x86/kvm/")
    make_variables: tuple[tuple[str, str], ...] = ()
    runtime: str = "null"

    @property
    def required_options(self) -> dict[str, str]:
        """Every option the cell's fragments ask for; later fragments win, as in merge_config.sh."""
        wanted: dict[str, str] = {}
        for fragment in self.fragments:
            wanted.update(fragment.options)
        return wanted

    @property
    def definition(self) -> str:
        """Digest of what the cell builds. Results of different definitions are never compared."""
        payload = {
            "arch": self.arch,
            "toolchain": self.toolchain,
            "kconfig": self.kconfig,
            "fragments": [f.text for f in self.fragments],
            "targets": list(self.targets),
            "make_targets": list(self.make_targets),
            "make_variables": list(self.make_variables),
        }
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Commit:
    sha: str  # always the full 40-hex sha
    subject: str
    author_date: str  # ISO 8601


@dataclass
class BuildResult:
    """What one cell's build of one commit produced."""

    cell_id: str
    sha: str
    status: str  # one of STATUSES
    definition: str = ""
    reason: str = ""  # why, for infra and matrix errors; first error line for failures
    targets: dict[str, str] = field(default_factory=dict)  # target -> PASS/FAIL/SKIP
    duration: float = 0.0
    runtime: str = ""  # null, podman or docker: what ran the build
    image: str = ""  # the container image, by digest where the engine knows one
    compiler: str = ""
    errors: int = 0  # tuxmake's own counts
    warnings: int = 0
    artifacts_dir: str = ""  # relative to the results directory ("<sha>/<cell>"), so a moved store still works
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class Diagnostic:
    """One problem found in a build log: compiler, assembler, linker, Kconfig, modpost, objtool or make."""

    severity: str  # "error" or "warning"
    file: str  # relative to the kernel tree ("" when the tool names none)
    line: int | None
    column: int | None
    message: str  # paths in it are tree-relative too
    option: str = ""  # "-Wunused-variable"
    tool: str = "compiler"  # compiler, assembler, linker, kconfig, modpost, objtool, make
    function: str = ""  # "kvm_riscv_vcpu_sbi_system_reset"
    include_chain: list[str] = field(default_factory=list)  # ["include/linux/kvm_host.h:45", "arch/..../x.c:12"]
    excerpt: list[str] = field(default_factory=list)  # the source line and the caret line, as printed
    notes: list[str] = field(default_factory=list)
    count: int = 1  # occurrences in the log (a header error reached from N files is one diagnostic)
    fingerprint: str = ""

    def to_dict(self) -> dict:
        # Not dataclasses.asdict: its deep copies dominate exporting a large report.
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "option": self.option,
            "tool": self.tool,
            "function": self.function,
            "include_chain": list(self.include_chain),
            "excerpt": list(self.excerpt),
            "notes": list(self.notes),
            "count": self.count,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Diagnostic:
        return cls(**data)

    @property
    def location(self) -> str:
        parts = [self.file or f"<{self.tool}>"] + [str(n) for n in (self.line, self.column) if n is not None]
        return ":".join(parts)
