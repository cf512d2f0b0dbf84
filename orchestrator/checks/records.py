"""What the uapi-abi check reads from DWARF: each ABI's struct and union layouts. Plain data, cached as
JSON under the work root (to_dict/from_dict)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    name: str  # "" for an anonymous struct or union
    offset: int  # in bits, from the start of the aggregate it is in
    size: int  # in bits
    type: str  # as declared: "__u64", "struct kvm_regs", "__u8[16]"
    resolved: str  # typedefs resolved: "long long unsigned int"
    align: int  # in bytes
    word: bool  # its type is a long, a pointer or __kernel_long_t (or an array of them)
    ref: str = ""  # the named struct or union it is (or is an array of): "struct kvm_regs"
    line: int = 0
    nested: Aggregate | None = None  # the members of an anonymous struct or union

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "nested"}
        data["nested"] = self.nested.to_dict() if self.nested else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Member:
        nested = Aggregate.from_dict(data["nested"]) if data["nested"] else None
        return cls(**{**data, "nested": nested})


@dataclass(frozen=True)
class Aggregate:
    kind: str  # struct or union
    name: str  # "struct kvm_run"; a typedef'd anonymous one by its typedef: "sigset_t"
    size: int  # in bytes
    align: int  # in bytes
    file: str  # the installed header, relative to include/: "linux/kvm.h"
    line: int
    members: tuple[Member, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "members"}, "members": [m.to_dict() for m in self.members]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Aggregate:
        return cls(**{**data, "members": tuple(Member.from_dict(m) for m in data["members"])})


@dataclass(frozen=True)
class Layouts:
    """What one ABI's compiler made of the headers."""

    abi: str
    compiler: str  # its version line
    types: dict[str, Aggregate]  # by name
    files: frozenset[str]  # every installed header the unit read (a type missing from one of them is #ifdef'd out)
    dropped: dict[str, str] = field(default_factory=dict)  # header → why it was not compiled

    def to_dict(self) -> dict[str, Any]:
        return {
            "abi": self.abi,
            "compiler": self.compiler,
            "types": {name: t.to_dict() for name, t in self.types.items()},
            "files": sorted(self.files),
            "dropped": self.dropped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layouts:
        types = {name: Aggregate.from_dict(t) for name, t in data["types"].items()}
        return cls(data["abi"], data["compiler"], types, frozenset(data["files"]), data["dropped"])
