"""Struct and union layouts from the DWARF of a shared object (pyelftools), as the compiler laid them out.

Alignments are not in DWARF (only explicit ones are): the unit compiled also lays out `struct { char c;
T x; }` for each C scalar type T (PROBED_TYPES), so each ABI's own compiler says where it aligns them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from elftools.dwarf.die import DIE
from elftools.elf.elffile import ELFFile

from .records import Aggregate, Member

PROBE_PREFIX = "__orchestrator_align_"
PROBED_TYPES = (
    "char", "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int", "long",
    "unsigned long", "long long", "unsigned long long", "float", "double", "long double", "_Bool", "void *",
)  # fmt: skip
# A member of these types is as wide as the ABI's word: uapi should use __u64/__s64 instead.
WORD_TYPEDEFS = frozenset({"__kernel_long_t", "__kernel_ulong_t"})
WORD_BASE_TYPES = frozenset({"long int", "long unsigned int", "long", "unsigned long"})
AGGREGATES = ("DW_TAG_structure_type", "DW_TAG_union_type")
QUALIFIERS = ("DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_atomic_type")


def read_dwarf(shared_object: Path, include: Path, known: frozenset[str] = frozenset()) -> tuple[dict[str, Aggregate], frozenset[str]]:
    """Every named struct and union of the unit (and anonymous ones named by a typedef) but those
    `known` already (from an earlier unit), and the installed headers it read."""
    with shared_object.open("rb") as stream:
        dwarf = ELFFile(stream).get_dwarf_info(relocate_dwarf_sections=False)
        types: dict[str, Aggregate] = {}
        files: set[str] = set()
        for unit in dwarf.iter_CUs():
            reader = _UnitReader(dwarf, unit, str(include))
            files.update(f for f in reader.files if f)
            types.update(reader.aggregates(known | types.keys()))
    return types, frozenset(files)


class _UnitReader:
    """Layouts from one compilation unit's DIEs. Type facts are memoized by DIE offset: a unit of the
    whole uapi has tens of thousands of DIEs and most types are reached many times."""

    def __init__(self, dwarf: Any, unit: Any, include: str):
        self.top = unit.get_top_DIE()
        self.include = include.rstrip("/") + "/"
        program = dwarf.line_program_for_CU(unit)
        # Line tables before version 5 number files and directories from 1, their 0 being the unit's own.
        self.base = 0 if program and program.header.version >= 5 else 1
        self.comp_dir = _attr(self.top, "DW_AT_comp_dir", b"").decode()
        self.files = [self._installed(program, entry) for entry in program["file_entry"]] if program else []
        self.address_size = int(unit["address_size"])
        self.aligns: dict[str, int] = {}  # scalar type, as this compiler names it → alignment
        self.aligns_by_size: dict[int, int] = {}  # for scalars not probed (enums): by their size
        self.aggregate_aligns: dict[int, int] = {}  # DIE offset → alignment
        self._probe()

    def _installed(self, program: Any, entry: Any) -> str:
        directories = [d.decode() for d in program["include_directory"]]
        index = entry.dir_index - self.base
        directory = directories[index] if 0 <= index < len(directories) else self.comp_dir
        path = os.path.normpath(os.path.join(self.comp_dir, directory, entry.name.decode()))
        return path[len(self.include) :] if path.startswith(self.include) else ""

    def _file(self, die: DIE) -> str:
        index = die.attributes.get("DW_AT_decl_file")
        if index is None:
            return ""
        position = index.value - self.base
        return self.files[position] if 0 <= position < len(self.files) else ""

    def _probe(self) -> None:
        """Each scalar type's alignment, from where the compiler put x in `struct { char c; T x; }`."""
        for die in self.top.iter_children():
            name = _name(die)
            if die.tag == "DW_TAG_structure_type" and name.startswith(PROBE_PREFIX):
                member = list(die.iter_children())[1]
                align = _offset(member) // 8
                self.aligns[self.spell(self.target(member), resolved=True)] = align
                self.aligns_by_size.setdefault(self.size(self.target(member)), align)

    def aggregates(self, known: frozenset[str] | set[str] = frozenset()) -> dict[str, Aggregate]:
        """Named structs and unions, and anonymous ones a typedef names, declared in installed headers
        (but the `known` ones: reading a type is most of the cost)."""
        found: dict[str, Aggregate] = {}
        for die in self.top.iter_children():
            if _is_aggregate(die) and _name(die) and not _name(die).startswith(PROBE_PREFIX):
                if (name := self.spell(die)) not in found and name not in known:
                    found[name] = self.aggregate(die, name)
            elif die.tag == "DW_TAG_typedef" and (name := _name(die)) not in found and name not in known:
                target = self.target(die)
                if target is not None and _is_aggregate(target) and not _name(target):
                    found[name] = self.aggregate(target, name, die)
        return {name: aggregate for name, aggregate in found.items() if aggregate.file}  # not the compiler's own

    def aggregate(self, die: DIE, name: str, named_by: DIE | None = None) -> Aggregate:
        members = tuple(self.member(m) for m in die.iter_children() if m.tag == "DW_TAG_member")
        where = named_by if named_by is not None and "DW_AT_decl_line" not in die.attributes else die
        return Aggregate(
            kind="union" if die.tag == "DW_TAG_union_type" else "struct",
            name=name,
            size=_attr(die, "DW_AT_byte_size", 0),
            align=self.align(die),
            file=self._file(where),
            line=_attr(where, "DW_AT_decl_line", 0),
            members=members,
        )

    def member(self, die: DIE) -> Member:
        target = self.target(die)
        bits = _attr(die, "DW_AT_bit_size", None)
        declared = self.strip(target, typedefs=False)
        nested = None  # an anonymous struct or union declared in place (one a typedef names is a type of its own)
        if declared is not None and declared.tag in AGGREGATES and not _name(declared):
            nested = self.aggregate(declared, "")
        return Member(
            name=_name(die),
            offset=_offset(die),
            size=bits if bits is not None else self.size(target) * 8,
            type=self.spell(target),
            resolved=self.spell(target, resolved=True),
            align=self._member_align(die),
            word=self.is_word(target),
            ref=self.ref(target),
            line=_attr(die, "DW_AT_decl_line", 0),
            nested=nested,
        )

    # --- type facts ---

    def target(self, die: DIE) -> DIE | None:
        return die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None

    def strip(self, die: DIE | None, typedefs: bool = True) -> DIE | None:
        """The type under qualifiers (and typedefs)."""
        while die is not None and (die.tag in QUALIFIERS or (typedefs and die.tag == "DW_TAG_typedef")):
            die = self.target(die)
        return die

    def spell(self, die: DIE | None, resolved: bool = False) -> str:
        if die is None:
            return "void"
        if die.tag == "DW_TAG_typedef" and not resolved:
            return _name(die)
        if die.tag == "DW_TAG_typedef" or die.tag in QUALIFIERS:
            return self.spell(self.target(die), resolved)
        if die.tag == "DW_TAG_pointer_type":
            return self.spell(self.target(die), resolved) + " *"
        if die.tag == "DW_TAG_array_type":
            return self.spell(self.target(die), resolved) + "".join(f"[{n if n is not None else ''}]" for n in _dimensions(die))
        if die.tag in ("DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_enumeration_type"):
            kind = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union", "DW_TAG_enumeration_type": "enum"}[die.tag]
            return f"{kind} {_name(die) or '<anonymous>'}"
        if die.tag == "DW_TAG_subroutine_type":
            return "function"
        return _name(die) or str(die.tag)

    def size(self, die: DIE | None) -> int:
        if die is None:
            return 0
        if "DW_AT_byte_size" in die.attributes:
            return int(die.attributes["DW_AT_byte_size"].value)
        if die.tag == "DW_TAG_pointer_type":
            return int(self.address_size)
        if die.tag == "DW_TAG_array_type":
            count = 1
            for n in _dimensions(die):
                count *= n or 0  # a flexible array member takes no room
            return count * self.size(self.target(die))
        return self.size(self.target(die))

    def align(self, die: DIE | None) -> int:
        """In bytes: an explicit alignment where the source gave one, else what the ABI does."""
        if die is None:
            return 1
        explicit = _attr(die, "DW_AT_alignment", 0)
        if explicit:
            return int(explicit)
        if die.tag in ("DW_TAG_typedef", "DW_TAG_array_type") or die.tag in QUALIFIERS:
            return self.align(self.target(die))
        if die.tag in AGGREGATES:
            return self._aggregate_align(die)
        if die.tag == "DW_TAG_pointer_type":
            return self.aligns.get("void *", self.address_size)
        name = _name(die) if die.tag == "DW_TAG_base_type" else ""
        if name in self.aligns:
            return self.aligns[name]
        size = self.size(die)
        return self.aligns_by_size.get(size, max(1, min(size, 8)))

    def _aggregate_align(self, die: DIE) -> int:
        if (known := self.aggregate_aligns.get(die.offset)) is not None:  # asked once per member that holds it
            return known
        members = [m for m in die.iter_children() if m.tag == "DW_TAG_member"]
        aligns = [self._member_align(m) for m in members]
        align = max(aligns, default=1)
        size = _attr(die, "DW_AT_byte_size", 0)
        misplaced = any(_offset(m) % (8 * a) for m, a in zip(members, aligns, strict=True) if "DW_AT_bit_size" not in m.attributes)
        self.aggregate_aligns[die.offset] = found = 1 if misplaced or size % align else align  # 1: laid out packed
        return found

    def _member_align(self, member: DIE) -> int:
        return int(_attr(member, "DW_AT_alignment", 0)) or self.align(self.target(member))

    def is_word(self, die: DIE | None) -> bool:
        while die is not None:
            if die.tag == "DW_TAG_pointer_type":
                return True
            if die.tag == "DW_TAG_typedef" and _name(die) in WORD_TYPEDEFS:
                return True
            if die.tag == "DW_TAG_base_type":
                return _name(die) in WORD_BASE_TYPES
            if die.tag not in ("DW_TAG_typedef", "DW_TAG_array_type") and die.tag not in QUALIFIERS:
                return False
            die = self.target(die)
        return False

    def ref(self, die: DIE | None) -> str:
        """The named struct or union a member is, or is an array of: by its tag, or by the typedef that
        names an anonymous one."""
        while die is not None and (die.tag in ("DW_TAG_typedef", "DW_TAG_array_type") or die.tag in QUALIFIERS):
            under = self.strip(die)
            if die.tag == "DW_TAG_typedef" and under is not None and under.tag in AGGREGATES and not _name(under):
                return _name(die)
            die = self.target(die)
        return self.spell(die) if die is not None and die.tag in AGGREGATES and _name(die) else ""


def _is_aggregate(die: DIE) -> bool:
    """A struct or union defined here (not only declared)."""
    return die.tag in AGGREGATES and "DW_AT_declaration" not in die.attributes


def _name(die: DIE) -> str:
    attribute = die.attributes.get("DW_AT_name")
    return attribute.value.decode() if attribute is not None else ""


def _attr(die: DIE, name: str, default: Any) -> Any:
    attribute = die.attributes.get(name)
    return attribute.value if attribute is not None else default


def _offset(member: DIE) -> int:
    """In bits. gcc gives a bit-field's offset in bits (DWARF 4+); clang 14 in the DWARF 2 way, as the
    bits above it in a storage unit of DW_AT_byte_size at a byte offset (little-endian ABIs only here)."""
    if "DW_AT_data_bit_offset" in member.attributes:
        return int(member.attributes["DW_AT_data_bit_offset"].value)
    location = member.attributes.get("DW_AT_data_member_location")
    start = int(location.value) * 8 if location is not None and isinstance(location.value, int) else 0
    if "DW_AT_bit_offset" in member.attributes:
        unit = 8 * _attr(member, "DW_AT_byte_size", 0)
        return start + unit - int(member.attributes["DW_AT_bit_offset"].value) - int(_attr(member, "DW_AT_bit_size", 0))
    return start


def _dimensions(die: DIE) -> list[int | None]:
    dimensions: list[int | None] = []
    for sub in die.iter_children():
        if sub.tag == "DW_TAG_subrange_type":
            if "DW_AT_count" in sub.attributes:
                dimensions.append(int(sub.attributes["DW_AT_count"].value))
            elif "DW_AT_upper_bound" in sub.attributes and isinstance(sub.attributes["DW_AT_upper_bound"].value, int):
                dimensions.append(int(sub.attributes["DW_AT_upper_bound"].value) + 1)
            else:
                dimensions.append(None)
    return dimensions
