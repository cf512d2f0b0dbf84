"""Load and validate matrix.yaml, and expand its axes, include and exclude into Cells with stable ids.

Every validation error is a MatrixError naming the file, the line, the field and what is allowed. What
tuxmake itself would refuse (a make variable it reserves, an arch/toolchain pair it has no container
image for) is refused here too, so it never becomes a build that fails the same way every run.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import yaml
from jsonschema import Draft202012Validator, ValidationError
from tuxmake.arch import Architecture
from tuxmake.build import Build
from tuxmake.exceptions import TuxMakeException
from tuxmake.runtime import Runtime
from tuxmake.target import Target
from tuxmake.toolchain import Toolchain

from . import accepted
from .choices import MAIN_ARCHES
from .choices import RUNTIMES as RUNTIMES  # the schema names them; the command line offers them
from .errors import MatrixError, UserError
from .models import Cell, Check, Fragment, MailSettings, Unit, toolchain_family

ARCHES = MAIN_ARCHES + tuple(sorted(set(Architecture.supported()) - set(MAIN_ARCHES)))
TOOLCHAINS = ("gcc", "clang") + tuple(sorted(set(Toolchain.supported()) - {"gcc", "clang"}))
CONTAINER_RUNTIMES = ("podman", "docker", "podman-local", "docker-local")
# Make variables tuxmake refuses (it sets them itself), and CROSS_COMPILE, which the arch decides.
RESERVED_MAKE_VARIABLES = tuple(sorted(set(Build.MAKE_VARIABLES_REJECTLIST) | {"CROSS_COMPILE"}))
TUXMAKE_TARGETS = tuple(sorted(Target.supported()))

# Named target sets. "kvm" builds the configuration and the arch's KVM directory only.
TARGET_SETS = {
    "kvm": ("config", "arch/{srcarch}/kvm/"),
    "kernel": ("config", "kernel"),
    "modules": ("config", "kernel", "modules"),
}
DEFAULT_TARGETS = "kvm"

# "clang" means ClangBuiltLinux's full LLVM toolchain; a cell can override LLVM in make_variables.
TOOLCHAIN_MAKE_VARIABLES = {"clang": {"LLVM": "1"}}

DEFAULT_RETRIES = 1  # an infrastructure error is built once more in the same run before it is reported
DEFAULT_TIMEOUT = 6 * 3600  # seconds one cell's build may take: a cold allmodconfig on two cores fits
DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
# The shape of matrix.yaml, with what to say when it is broken: shipped for editors too.
SCHEMA = json.loads(files("orchestrator").joinpath("schemas", "matrix.schema.json").read_text())
_VALIDATOR = Draft202012Validator(SCHEMA)
PLACEHOLDER = re.compile(r"\{(value|key|allowed)\}")  # what an x-messages template may name
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$", re.IGNORECASE)

BUILTIN_DEFAULTS = {
    "toolchain": "gcc",
    "kconfig": "defconfig",
    "fragments": [],
    "targets": DEFAULT_TARGETS,
    "make_variables": {},
    "runtime": "null",
}

# Bounds on what a matrix file may ask for: a file someone else wrote must not stall or exhaust the machine.
MAX_FILE_SIZE = 1024**2  # bytes of matrix.yaml
MAX_DEPTH = 32  # nesting of mappings and lists
MAX_VALUES = 100_000  # values the document holds once YAML aliases are expanded
MAX_CELLS = 4096  # cells the axes and include may expand to
MAX_JOBS = 1024  # make -j of a cell (the schema's bound too); the local executor caps it by its cores
# A cell id becomes a path and a word of commands that tuxmake runs through sh: letters, digits, . _ + @ - only.
CELL_ID = re.compile(r"^[A-Za-z0-9_.+@-]+$")
MAKE_TARGET = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./+-]*$")  # a Kbuild directory or file: arch/x86/kvm/

CONFIG_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
UNSET_LINE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
KCONFIG_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass
class TreeSpec:
    """Where the kernel tree comes from: a local path, or a git URL and its branches."""

    path: Path | None = None
    url: str | None = None
    branches: list[str] = field(default_factory=list)
    name: str = ""

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else str(self.url)


@dataclass
class NightlySettings:
    """The matrix's `nightly:`: how long it keeps build artifacts (logs, configs) on disk (database rows
    are kept forever), how much of the reuse it audits, and whom it mails."""

    keep_days: int = 30
    disk_budget: int | None = 20 * 1024**3  # bytes for all artifacts; None: no limit
    verify_reuse: float = 0.0  # the fraction of reused results the nightly builds anyway, to audit the proof
    mail: MailSettings | None = None


@dataclass(frozen=True)
class KcidbSettings:
    """The matrix's `kcidb:`: the origin KCIDB ids start with, and where the logs are published
    (None: file URLs of the results directory here)."""

    origin: str = "orchestrator"
    log_url: str | None = None


@dataclass(frozen=True)
class ExecutorSettings:
    """The matrix's `executor:` (or --executor): where cells are built. `local` is a pool of processes
    on this machine; an address is a Dask scheduler whose workers build them (README: Scaling out)."""

    address: str = "local"  # local, tcp://HOST:PORT or tls://HOST:PORT (dask:// is written tcp://)
    source_url: str | None = None  # what workers fetch commits from; None: the tree's url
    tls_ca_file: str | None = None  # certificate files for tls:// (None: distributed's own configuration)
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def is_local(self) -> bool:
        return self.address == "local"


EXECUTOR_ADDRESS = re.compile(r"^(local|(dask|tcp|tls)://[^\s/]+:[0-9]+)$")


def executor_address(text: str) -> str:
    """`local`, or a scheduler address as distributed takes it; ValueError for anything else."""
    if not EXECUTOR_ADDRESS.match(text):
        raise ValueError(f"'{text}' must be local, dask://HOST:PORT or tls://HOST:PORT")
    return "tcp://" + text.removeprefix("dask://") if text.startswith("dask://") else text


@dataclass
class Matrix:
    path: Path
    tree: TreeSpec  # the first of `trees`: what --commit, plan and report read
    cells: list[Cell]
    jobs: int | None = None  # make -j per cell; None: the executor splits the cores
    trees: list[TreeSpec] = field(default_factory=list)  # what a nightly fetches and builds
    nightly: NightlySettings = field(default_factory=NightlySettings)
    retries: int = DEFAULT_RETRIES
    timeout: int = DEFAULT_TIMEOUT  # seconds one cell's build may take
    checks: list[Check] = field(default_factory=list)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    kcidb: KcidbSettings = field(default_factory=KcidbSettings)
    accepted: Path | None = None  # the file of findings accepted as known (`accepted:`), if it names one

    @property
    def units(self) -> list[Unit]:
        """Every column of the table: the cells, then the checks."""
        return [*self.cells, *self.checks]


U = TypeVar("U", Cell, Check, Unit)  # select keeps the kind of what it is given


# --- YAML with line numbers -------------------------------------------------------------------


class _Mapping(dict):
    lines: dict
    line: int = 0


class _Sequence(list):
    lines: list
    line: int = 0


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings and sequences remember the line of each key and item, and which
    refuses what YAML allows but a matrix never needs: a key given twice (the later one would silently
    win), nesting deeper than MAX_DEPTH, and aliases that expand to more than MAX_VALUES values."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None and _expanded_size(node, {}) > MAX_VALUES:
            raise yaml.composer.ComposerError(None, None, f"expands to more than {MAX_VALUES} values (through aliases)", node.start_mark)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Mapping:
        mapping = _Mapping(super().construct_mapping(node, deep=True))
        mapping.lines = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in mapping.lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"'{key}' is given twice in one mapping (first at line {mapping.lines[key]}); keep one", key_node.start_mark
                )
            mapping.lines[key] = key_node.start_mark.line + 1
        mapping.line = node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> _Sequence:
        sequence = _Sequence(super().construct_sequence(node, deep=True))
        sequence.lines = [item.start_mark.line + 1 for item in node.value]
        sequence.line = node.start_mark.line + 1
        return sequence


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values `node` holds with every alias expanded (an alias is the node it names, shared:
    counted once per place it is used, computed once)."""
    if id(node) not in sizes:
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _LineLoader.construct_sequence)


def _line(container: Any, key: Any = None) -> int:
    if key is not None and isinstance(container, _Mapping):
        return container.lines.get(key, getattr(container, "line", 0))
    if key is not None and isinstance(container, _Sequence) and key < len(container.lines):
        return container.lines[key]
    return getattr(container, "line", 0)


class _Where:
    """Formats errors as `file:line: message`."""

    def __init__(self, path: Path):
        self.path = path

    def error(self, line: int, message: str) -> MatrixError:
        return MatrixError(message, where=f"{self.path}:{line}" if line else str(self.path))


def _one_of(values: Iterable[str]) -> str:
    values = list(values)
    shown = ", ".join(values[:6])
    return shown + (", ..." if len(values) > 6 else "")


# --- loading ----------------------------------------------------------------------------------


def load(path: Path | str, configs_dir: Path | str | None = None) -> Matrix:
    """Read and validate a matrix file; fragments are looked up in `configs/` beside it."""
    path = Path(path)
    where = _Where(path)
    document = _parse(where, path)
    _check_shape(where, document)
    configs = Path(configs_dir) if configs_dir else path.parent / "configs"
    defaults = document.get("defaults") or _Mapping()
    trees = _tree_specs(where, document, path.parent)
    known_file = path.parent / document["accepted"] if "accepted" in document else None
    known = accepted.load(known_file) if known_file else {}
    return Matrix(
        path=path,
        tree=trees[0] if trees else TreeSpec(),
        cells=[replace(c, accepted=known.get(c.id, frozenset())) for c in _cells(where, _specs(where, document, defaults), configs)]
        if _declares_cells(document)
        else [],
        jobs=None if defaults.get("jobs") in (None, "auto") else defaults["jobs"],
        trees=trees,
        nightly=_nightly(where, document.get("nightly") or _Mapping(), path.parent),
        retries=document.get("retries", DEFAULT_RETRIES),
        timeout=_timeout(where, document),
        checks=[replace(c, accepted=known.get(c.id, frozenset())) for c in _checks(document.get("checks"))],
        executor=_executor(document.get("executor", "local"), path.parent),
        kcidb=KcidbSettings(**(document.get("kcidb") or {})),
        accepted=known_file,
    )


def select(cells: Sequence[U], patterns: list[str], label: str = "cells") -> list[U]:
    """Cells (and checks) whose id matches any of the glob patterns (all of them when there are none)."""
    from fnmatch import fnmatchcase

    if not patterns:
        return list(cells)
    chosen = [c for c in cells if any(fnmatchcase(c.id, p) for p in patterns)]
    if not chosen:
        raise UserError(f"{label} {','.join(patterns)}: matches no cell ({_one_of(c.id for c in cells)})", topic="cells")
    return chosen


def _parse(where: _Where, path: Path) -> _Mapping:
    """The YAML document, with the line of every key and item."""
    text = _read_utf8(path, "the matrix file")
    try:
        document = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise where.error(mark.line + 1 if mark else 0, f"not valid YAML: {problem}") from None
    return document


def _read_utf8(path: Path, what: str) -> str:
    """A file's text; a byte that is not UTF-8 is an error naming its line and column."""
    try:
        if path.stat().st_size > MAX_FILE_SIZE:
            raise MatrixError(f"{what} is larger than {MAX_FILE_SIZE // 1024} KiB, more than a matrix or fragment ever needs", where=str(path))
        data = path.read_bytes()
    except OSError as error:
        raise MatrixError(f"cannot read {what} ({error.strerror})", where=str(path), topic="matrix-file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise MatrixError(
            f"not UTF-8 (byte 0x{data[error.start]:02x} at column {column}); save the file as UTF-8",
            where=f"{path}:{line}",
        ) from None


# --- the shape, from the JSON Schema ----------------------------------------------------------------


def _check_shape(where: _Where, document: Any) -> None:
    """The document against schemas/matrix.schema.json. The problem told is the first in the file, in
    the words its rule carries (`x-messages`), at the line of the value (or key) at fault."""
    errors = list(_VALIDATOR.iter_errors(document))
    if not errors:
        return
    line, error = min(((_error_line(document, e), e) for e in errors), key=lambda pair: (pair[0], len(pair[1].absolute_path)))
    raise where.error(line, _message(error))


def _error_line(document: Any, error: ValidationError) -> int:
    container, path = document, list(error.absolute_path)
    for key in path[:-1]:
        container = container[key]
    if error.validator == "additionalProperties":
        return _line(error.instance, _unknown_keys(error)[0])
    return _line(container, path[-1]) if path else 0


def _rule(error: ValidationError) -> Mapping[str, Any]:
    """The schema node whose keyword failed (where its x-messages are)."""
    return error.schema if isinstance(error.schema, Mapping) else {}


def _unknown_keys(error: ValidationError) -> list:
    allowed = _rule(error).get("properties", {})
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return [key for key in instance if key not in allowed]


def _message(error: ValidationError) -> str:
    node = _rule(error)
    if error.validator == "additionalProperties":
        allowed = ", ".join(node["properties"])
        return f"{node['x-context']}: unknown field '{_unknown_keys(error)[0]}'; allowed: {allowed}"
    messages = node.get("x-messages", {})
    template = messages.get(error.validator) or messages.get("*")
    path = list(error.absolute_path)
    if template is None:  # a rule without words of its own: say it plainly
        return f"{'.'.join(map(str, path)) or 'the document'}: {error.message}"
    enum = node.get("enum") or next((branch["enum"] for branch in node.get("anyOf", []) if "enum" in branch), None)
    allowed = _one_of(enum) if enum else ", ".join(node.get("properties", {}))
    value = _first_repeated(error.instance) if error.validator == "uniqueItems" else error.instance
    fields = {"value": value, "key": path[-1] if path else "", "allowed": allowed}
    return PLACEHOLDER.sub(lambda match: str(fields[match[1]]), template)  # examples in braces stay as they are


def _first_repeated(values: Any) -> Any:
    """The first value of a list that an earlier one equals."""
    return next(value for index, value in enumerate(values) if value in values[:index])


# --- trees and retention ----------------------------------------------------------------------------


def _tree_specs(where: _Where, document: dict, base_dir: Path) -> list[TreeSpec]:
    """`tree:` (one) or `trees:` (a list), each with a name unique among them."""
    if "tree" in document and "trees" in document:
        raise where.error(_line(document, "trees"), "give either `tree` (one tree) or `trees` (a list), not both")
    if "trees" in document:
        entries = document["trees"]
        specs = [_tree_spec(where, entry, base_dir, _line(entries, i)) for i, entry in enumerate(entries)]
    elif document.get("tree") is not None:
        specs = [_tree_spec(where, document["tree"], base_dir, _line(document, "tree"))]
    else:
        return []
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        if spec.name in seen:
            raise where.error(
                _line(document.get("trees", []), index),
                f"two trees are named '{spec.name}'; give each a different `name` (reports and nightly state use it)",
            )
        seen.add(spec.name)
    return specs


def _tree_spec(where: _Where, tree: Any, base_dir: Path, line: int = 0) -> TreeSpec:
    if isinstance(tree, str):
        tree = _Mapping(path=tree)
        tree.lines, tree.line = {}, line
    branches = tree.get("branches", [])
    spec = TreeSpec(branches=[branches] if isinstance(branches, str) else list(branches), name=str(tree.get("name", "")))
    if "path" in tree:
        spec.path = (base_dir / Path(str(tree["path"])).expanduser()).resolve()
    else:
        spec.url = str(tree["url"])
    if not spec.name:  # the last part of the path or URL: linux, kvm (from kvm.git)
        given = str(tree.get("path", tree.get("url")))
        spec.name = re.sub(r"\.git$", "", given.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]) or "tree"
    if not KCONFIG_NAME.match(spec.name) or spec.name.startswith("-"):
        raise where.error(_line(tree, "name"), f"tree name '{spec.name}' may hold only letters, digits and . _ + -")
    return spec


def _nightly(where: _Where, nightly: dict, base_dir: Path) -> NightlySettings:
    settings = NightlySettings()
    if nightly.get("mail"):
        mail = nightly["mail"]
        settings.mail = MailSettings(
            smtp=mail["smtp"],
            sender=mail["from"],
            to=tuple(mail["to"]),
            cc=tuple(mail.get("cc", ())),
            cc_authors=mail.get("cc_authors", False),
            starttls=mail.get("starttls", False),
            user=mail.get("user"),
            password_env=mail.get("password_env"),
            password_file=str(base_dir / mail["password_file"]) if "password_file" in mail else None,
        )
    if "keep_days" in nightly:
        settings.keep_days = nightly["keep_days"]
    if "verify_reuse" in nightly:
        settings.verify_reuse = float(nightly["verify_reuse"])
    if "disk_budget" in nightly:
        try:
            settings.disk_budget = parse_size(nightly["disk_budget"])
        except ValueError as error:
            raise where.error(_line(nightly, "disk_budget"), f"nightly.disk_budget {error}") from None
    return settings


def _executor(value: Any, base_dir: Path) -> ExecutorSettings:
    """`executor:` (its shape already checked): an address, or a mapping with certificate paths
    (relative to the matrix file)."""
    if isinstance(value, str):
        return ExecutorSettings(address=executor_address(value))
    tls = value.get("tls") or {}

    def path(name: str) -> str | None:
        return str(base_dir / tls[name]) if name in tls else None

    return ExecutorSettings(
        address=executor_address(value["address"]),
        source_url=value.get("source_url"),
        tls_ca_file=path("ca_file"),
        tls_cert=path("cert"),
        tls_key=path("key"),
    )


def _timeout(where: _Where, document: dict) -> int:
    """`timeout:` in seconds (its shape checked by the schema): 90m, 6h, 2d, or a number of seconds."""
    if "timeout" not in document:
        return DEFAULT_TIMEOUT
    match = DURATION.match(str(document["timeout"]).strip())
    seconds = int(float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]) if match else 0
    if seconds < 1:
        raise where.error(_line(document, "timeout"), f"timeout '{document['timeout']}' must be at least a second, such as 90m or 6h")
    return seconds


def parse_size(value: Any) -> int | None:
    """Bytes from `20G`, `500M`, `1.5T`, a plain number of bytes, or none/unlimited (None)."""
    if value is None or str(value).lower() in ("none", "unlimited"):
        return None
    match = SIZE.match(str(value).strip()) if not isinstance(value, bool) else None
    if not match:
        raise ValueError(f"'{value}' must be a size such as 20G, 500M or 'unlimited'")
    number, unit = float(match[1]), match[2].upper()
    return int(number * 1024 ** " KMGT".index(unit or " "))


# --- cells ------------------------------------------------------------------------------------------

Spec = tuple[dict, dict]  # a cell's fields, and the line each came from


def _specs(where: _Where, document: dict, defaults: dict) -> list[Spec]:
    """Every cell's fields: the axes multiplied out, less what exclude removes, plus what include adds,
    each on top of the defaults."""
    base = {**BUILTIN_DEFAULTS, **{k: v for k, v in defaults.items() if k != "jobs"}}
    base_lines = {k: _line(defaults, k) for k in defaults}
    axes, include = document.get("axes") or {}, document.get("include") or []
    count = math.prod(len(values) for values in axes.values()) if axes else 0
    if count + len(include) > MAX_CELLS:
        raise where.error(
            _line(document, "axes" if axes else "include"),
            f"the axes and include make {count + len(include)} cells, more than the {MAX_CELLS} a matrix may have; split it into several matrices",
        )
    specs = _excluded(where, document.get("exclude") or [], _multiplied(document.get("axes") or {}, base, base_lines))
    for extra in include:
        specs.append(({**base, **extra}, {**base_lines, **{k: _line(extra, k) for k in extra}}))
    if not specs:
        raise where.error(0, "declares no cells: add `axes`, `include` or `checks`")
    return specs


def _declares_cells(document: dict) -> bool:
    """A matrix of checks alone builds no cells; any other matrix must declare some."""
    return not document.get("checks") or any(document.get(key) for key in ("axes", "include", "defaults"))


# --- checks ------------------------------------------------------------------------------------------


def _checks(declared: Any) -> list[Check]:
    """`checks: [uapi-abi]` or `checks: {uapi-abi: {headers: [...], pairs: [...]}}`: one check per
    ABI pair, its id `uapi-abi-<wide>-<narrow>`. The schema has vetted the names and values."""
    if not declared:
        return []
    options = {name: {} for name in declared} if isinstance(declared, list) else {k: v or {} for k, v in declared.items()}
    found = []
    every_pair = SCHEMA["$defs"]["uapi-abi"]["properties"]["pairs"]["items"]["enum"]
    for pair in options["uapi-abi"].get("pairs") or every_pair:
        wide, narrow = pair.split("-", 1)
        headers = tuple(dict.fromkeys(options["uapi-abi"].get("headers") or ()))
        found.append(Check(id=f"uapi-abi-{pair}", kind="uapi-abi", wide=wide, narrow=narrow, headers=headers))
    return found


def _multiplied(axes: dict, base: dict, base_lines: dict) -> list[Spec]:
    if not axes:
        return []
    names = list(axes)
    specs = []
    for combination in itertools.product(*(range(len(axes[n])) for n in names)):
        spec, lines = dict(base), dict(base_lines)
        for name, index in zip(names, combination, strict=True):
            spec[name] = axes[name][index]
            lines[name] = _line(axes[name], index)
        specs.append((spec, lines))
    return specs


def _excluded(where: _Where, excludes: list, specs: list[Spec]) -> list[Spec]:
    for index, rule in enumerate(excludes):
        kept = [(spec, lines) for spec, lines in specs if not all(_same(spec.get(k), v) for k, v in rule.items())]
        if len(kept) == len(specs):
            shown = ", ".join(f"{k}: {v}" for k, v in rule.items())
            raise where.error(_line(excludes, index), f"exclude {{{shown}}} matches no cell of the axes; fix it or remove it")
        specs = kept
    return specs


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, list) or isinstance(wanted, list):
        return list(value if isinstance(value, list) else [value]) == list(wanted if isinstance(wanted, list) else [wanted])
    return str(value) == str(wanted)


def _cells(where: _Where, specs: list[Spec], configs: Path) -> list[Cell]:
    """Cells by id; two different cells may not share one (history is keyed by it)."""
    cells: dict[str, Cell] = {}
    for spec, lines in specs:
        cell = _cell(where, spec, lines, configs)
        if cell.id in cells and cells[cell.id] != cell:
            raise where.error(
                lines.get("arch", 0),
                f"two different cells have the id '{cell.id}'; give them different kconfig, fragments or targets",
            )
        cells.setdefault(cell.id, cell)
    return list(cells.values())


def _tuxmake_accepts(where: _Where, lines: dict, arch: str, toolchain: str, runtime: str) -> None:
    """What tuxmake would refuse when the build starts, refused now: a container runtime needs an image
    of tuxmake's for the arch and toolchain. (On the null runtime the host's compilers decide: a missing
    one is the machine's fault, found when the cell builds.)"""
    if runtime not in CONTAINER_RUNTIMES:
        return
    try:
        supported = Runtime.get(runtime).is_supported(Architecture(arch), Toolchain(toolchain))
    except TuxMakeException as error:
        raise where.error(lines.get("toolchain", 0), f"tuxmake refuses toolchain '{toolchain}' for arch '{arch}': {error}") from None
    if not supported:
        raise where.error(
            lines.get("toolchain", 0),
            f"tuxmake has no {runtime} image for arch '{arch}' with toolchain '{toolchain}' (it refuses the pair); "
            "pick another toolchain or the null runtime",
        )


def _cell(where: _Where, spec: dict, lines: dict, configs: Path) -> Cell:
    """One cell from fields the schema has checked: what remains is what only the disk and tuxmake know."""
    arch, toolchain, runtime, kconfig = spec.get("arch"), spec["toolchain"], spec["runtime"], spec["kconfig"]
    if arch is None:
        raise where.error(min(lines.values(), default=0), "a cell has no arch: give one in axes, defaults or the include entry")
    _tuxmake_accepts(where, lines, arch, toolchain, runtime)
    fragment_names = spec.get("fragments") or []
    if isinstance(fragment_names, str):
        fragment_names = [fragment_names]
    fragments = [f for name in fragment_names for f in _fragments(where, lines.get("fragments", 0), configs, name, arch)]
    targets, make_targets, targets_label = _targets(where, lines.get("targets", 0), spec.get("targets"), Architecture(arch).source_arch)
    cell_id = f"{arch}-{toolchain}-{kconfig}" + "".join(f"+{_short(n)}" for n in fragment_names)
    if targets_label != DEFAULT_TARGETS:
        cell_id += f"@{targets_label}"
    if not CELL_ID.match(cell_id):  # what the schema lets through never gets here; a new field might
        raise where.error(min(lines.values(), default=0), f"cell id '{cell_id}' may hold only letters, digits and . _ + @ -")
    return Cell(
        id=cell_id,
        arch=arch,
        toolchain=toolchain,
        kconfig=kconfig,
        fragments=tuple(fragments),
        targets=targets,
        make_targets=make_targets,
        make_variables=_make_variables(where, lines.get("make_variables", 0), toolchain, spec.get("make_variables") or {}),
        runtime=runtime,
    )


def _make_variables(where: _Where, line: int, toolchain: str, given: dict) -> tuple[tuple[str, str], ...]:
    """The toolchain's own (LLVM=1 for clang) and the cell's; those tuxmake sets itself are refused."""
    variables = dict(TOOLCHAIN_MAKE_VARIABLES.get(toolchain_family(toolchain), {}))
    for key, value in given.items():
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", str(key)) or key in RESERVED_MAKE_VARIABLES:
            raise where.error(
                line,
                f"make_variables '{key}' is not allowed; use upper-case names other than {', '.join(RESERVED_MAKE_VARIABLES)} "
                "(tuxmake sets those itself)",
            )
        variables[str(key)] = "" if value is None else str(value)
    return tuple(sorted(variables.items()))


def _short(name: str) -> str:
    return Path(str(name)).name.removesuffix(".config")


def _targets(where: _Where, line: int, value: Any, srcarch: str) -> tuple[tuple, tuple, str]:
    """Split a targets value into tuxmake targets and plain Kbuild targets, with the label for the id."""
    if isinstance(value, str):
        if value not in TARGET_SETS:
            raise where.error(line, f"targets '{value}' is not one of: {', '.join(TARGET_SETS)} (or a list of targets)")
        items, label = list(TARGET_SETS[value]), value
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        items, label = value, "+".join(re.sub(r"[^A-Za-z0-9.]+", "_", v).strip("_") for v in value)
    else:
        raise where.error(line, f"targets must be one of {', '.join(TARGET_SETS)} or a list of targets")
    targets, make_targets = [], []
    for item in items:
        item = item.replace("{srcarch}", srcarch)  # the one placeholder; any other brace is refused below
        if item in TUXMAKE_TARGETS:
            targets.append(item)
        elif "/" in item and MAKE_TARGET.match(item) and ".." not in item.split("/"):
            make_targets.append(item)
        else:
            raise where.error(
                line,
                f"target '{item}' is neither a tuxmake target ({_one_of(TUXMAKE_TARGETS)}) nor a tree path like arch/x86/kvm/ "
                "(letters, digits and . _ + - /; {srcarch} is the arch's source directory)",
            )
    if "config" not in targets:
        targets.insert(0, "config")
    return tuple(targets), tuple(make_targets), label


def _fragments(where: _Where, line: int, configs: Path, name: Any, arch: str) -> list[Fragment]:
    """A fragment name gives configs/<name>.config and, layered on it, configs/<arch>/<name>.config."""
    if not isinstance(name, str) or not name or name.startswith("-"):
        raise where.error(line, f"fragment '{name}' must be the name of a file in {configs}/")
    root = configs.resolve()
    relative = name if name.endswith(".config") else f"{name}.config"
    candidates = [root / relative]
    if "/" not in name:
        candidates.append(root / arch / relative)
    found = []
    for candidate in candidates:
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise where.error(line, f"fragment '{name}' leaves {configs}/; fragments must live in it")
        if resolved.is_file():
            found.append(resolved)
    if not found:
        raise where.error(line, f"fragment '{name}': no {relative} in {configs}/ (nor in {configs}/{arch}/)")
    return [_read_fragment(path, root) for path in found]


def _read_fragment(path: Path, root: Path) -> Fragment:
    text = _read_utf8(path, "the fragment")
    options = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if match := CONFIG_LINE.match(line):
            options.append((match[1], match[2]))
        elif match := UNSET_LINE.match(line):
            options.append((match[1], "n"))
        elif line and not line.startswith("#"):
            raise MatrixError(
                f"'{line}' is not a Kconfig line; write CONFIG_FOO=y or '# CONFIG_FOO is not set'", where=f"{path}:{number}"
            )
    return Fragment(path=str(path.relative_to(root)), text=text, options=tuple(options))
