"""Where a 64-bit ABI and its 32-bit one lay a uapi struct out differently, and why. Pure.

A 64-bit kernel serves 32-bit (compat) processes with the same uapi structs; a struct whose members
land elsewhere for them is read wrongly, silently. Only where a shift *starts* is reported: a member
whose padding before it differs, or whose own size differs. The members behind it moved with it and
say nothing new.

Classes, most specific first:
- word: a `long`, pointer or `__kernel_long_t` member at or before it. Its width is the ABI's word,
  so compat code usually converts it on purpose; uapi should not add such members (a warning).
- inherited: a member whose own struct type differs (that type is reported itself too).
- arch type: a member whose type resolves to another scalar (`__kernel_uid_t`: u16 on i386, u32 on
  x86_64), or a type or member each ABI's headers define on their own lines (`struct sigcontext`
  under `#ifdef __i386__` and under `#else`); the arch's headers chose that, compat code converts
  it (a note). Such types are never compared member by member: their members only share names.
- alignment: nothing but alignment explains the shift (`__u64` is 8-byte aligned on x86_64 and
  4-byte aligned on i386): the trap of the seed thread.
- tail padding: every member in place, but the size differs at the end: `_IOW()` numbers differ.
- one side only: a type or member that one ABI's headers `#ifdef` out (a note).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from .records import Aggregate, Layouts, Member


class Kind(StrEnum):
    ALIGNMENT = "alignment"
    TAIL_PADDING = "tail padding"
    INHERITED = "inherited"
    WORD = "word"
    ARCH_TYPE = "arch type"
    ONE_SIDE = "one side only"


SEVERITY = {
    Kind.ALIGNMENT: "error",
    Kind.TAIL_PADDING: "error",
    Kind.INHERITED: "error",
    Kind.WORD: "warning",
    Kind.ARCH_TYPE: "note",
    Kind.ONE_SIDE: "note",
}
RANK = {"error": 0, "warning": 1, "note": 2}
# A 64-bit kernel's own description of a 32-bit layout (struct compat_statfs64): not what a 32-bit
# process sees on its own kernel, so comparing it across ABIs means nothing.
COMPAT_PREFIX = "struct compat_"


@dataclass(frozen=True)
class Difference:
    """One place where the two ABIs part, in the wide ABI's file and line."""

    wide: str  # the 64-bit ABI: "x86_64"
    narrow: str  # its 32-bit one: "i386"
    type: str  # "struct kvm_run"
    path: str  # "system_event.flags"; "" for the type as a whole
    kind: Kind
    file: str  # the installed header: "linux/kvm.h"
    line: int
    detail: str  # what differs, e.g. "offset 40 on x86_64, 36 on i386"
    why: str  # what explains it

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    @property
    def where(self) -> str:
        return f"{self.type}.{self.path}" if self.path else self.type

    @property
    def fingerprint(self) -> str:
        """pair|type|member.path|class: no line, so a struct that only moved in its header is the same."""
        return f"{self.wide}-{self.narrow}|{self.type}|{self.path}|{self.kind}"

    @property
    def message(self) -> str:
        return f"{self.where}: {self.detail}: {self.why}" if self.detail else f"{self.where}: {self.why}"


def compare(wide: Layouts, narrow: Layouts) -> list[Difference]:
    """Every difference between two ABIs' layouts of the same headers, by type name then position."""
    return _Comparison(wide, narrow).all()


class _Comparison:
    def __init__(self, wide: Layouts, narrow: Layouts):
        self.wide, self.narrow = wide, narrow
        self.found: dict[str, list[Difference]] = {}  # type → its differences, each type compared once
        self.holds_word: dict[str, bool] = {}  # type → whether a long or pointer is in it

    def all(self) -> list[Difference]:
        differences: list[Difference] = []
        for name in sorted(self.wide.types.keys() | self.narrow.types.keys()):
            if not name.startswith(COMPAT_PREFIX):
                differences += self.of_type(name)
        return differences

    def of_type(self, name: str) -> list[Difference]:
        if name not in self.found:
            self.found[name] = self._compare_type(name)
        return self.found[name]

    def worst(self, name: str) -> Kind | None:
        """The most severe class among a type's own differences (None: it is laid out alike)."""
        kinds = [d.kind for d in self.of_type(name) if d.kind != Kind.ONE_SIDE]
        return min(kinds, key=lambda kind: (RANK[SEVERITY[kind]], list(Kind).index(kind)), default=None)

    def word_in(self, member: Member, prefix: str) -> str:
        """The path of the long or pointer a member is or holds (in an anonymous struct or union, or in
        its struct type), "" when it holds none."""
        if member.word:
            return prefix + member.name
        if member.nested is not None:
            inner = prefix + member.name + "." if member.name else prefix
            return next((found for m in member.nested.members if (found := self.word_in(m, inner))), "")
        if member.ref:
            if member.ref not in self.holds_word:
                self.holds_word[member.ref] = False  # first, to end the walk whatever the types are
                types = (side.types.get(member.ref) for side in (self.wide, self.narrow))
                self.holds_word[member.ref] = any(self.word_in(m, "") for t in types if t for m in t.members)
            return prefix + member.name if self.holds_word[member.ref] else ""
        return ""

    def _compare_type(self, name: str) -> list[Difference]:
        a, b = self.wide.types.get(name), self.narrow.types.get(name)
        if a is None or b is None:
            present = a or b
            if present is None:  # no installed header defines it (the C library's struct timeval): a member says it
                return []
            # Only a type whose header both sides read is #ifdef'd out; else that header did not compile there.
            if present.file not in self.wide.files or present.file not in self.narrow.files:
                return []
            side = self.wide.abi if a else self.narrow.abi
            return [self._difference(present, "", Kind.ONE_SIDE, present.line, "", f"defined on {side} only")]
        if (a.file, a.line) != (b.file, b.line):
            where = f"{a.file}:{a.line} on {self.wide.abi}, {b.file}:{b.line} on {self.narrow.abi}"
            if _laid_out(a) == _laid_out(b):
                return []
            return [self._difference(a, "", Kind.ARCH_TYPE, a.line, "", f"defined separately for each ABI ({where})")]
        return self._aggregate(a, b, _Within(a, "", "", 0, 0), "")

    def _aggregate(self, a: Aggregate, b: Aggregate, within: _Within, word: str) -> list[Difference]:
        """Differences inside `a` (wide) and `b` (narrow), which lie `within` a top-level type. `word`
        names a word-sized member at or before this point, if any."""
        found: list[Difference] = []
        end_a = end_b = shift = 0  # where the previous member ended, in bits, and how far it had moved
        before = word  # a union's members do not lie after each other: each starts with what was before it
        for ma, mb in _match(a.members, b.members):
            if a.kind == "union":
                word = before
            if ma is None or mb is None:
                one, side = (ma, self.wide.abi) if ma else (mb, self.narrow.abi)
                assert one is not None
                found.append(self._difference(within.top, within.prefix + _label(one), Kind.ONE_SIDE, one.line, "", f"a member on {side} only"))
                continue
            own = self.word_in(ma, within.prefix) or self.word_in(mb, within.prefix)
            # A new shift starts here when this member lies elsewhere than the one before it did, and
            # not only because that one's size differed: the padding before it differs.
            moved = a.kind == "struct" and ma.offset - mb.offset != shift and ma.offset - end_a != mb.offset - end_b
            found += self._member(ma, mb, replace(within, sized=not (a.kind == "union" and a.size == b.size)), moved, word, own)
            word = word or own
            if a.kind == "struct":  # a union's members all start at 0
                end_a, end_b, shift = ma.offset + ma.size, mb.offset + mb.size, ma.offset - mb.offset
        if not found and not word:  # else the members' differences, reported already, explain the size
            found += self._tail(a, b, within)
        return found

    def _member(self, ma: Member, mb: Member, within: _Within, moved: bool, word: str, own: str) -> list[Difference]:
        """A member's differences. `word`: a long or pointer before it; `own`: the one it is or holds.
        An anonymous struct or union is compared member by member, each seeing only those before it."""
        label = within.prefix + _label(ma)
        at = (within.base_a + ma.offset, within.base_b + mb.offset)
        if ma.nested is None or mb.nested is None:
            if not moved and (ma.size == mb.size or (not within.sized and self._tail_only(ma, mb))):
                return []
            return [self._shift(within.top, label, ma, mb, at, word or own)]
        found = [self._shift(within.top, label, ma, mb, at, word or own)] if moved else []
        inside = _Within(within.top, label, within.prefix + ma.name + "." if ma.name else within.prefix, *at, sized=within.sized)
        return found + self._aggregate(ma.nested, mb.nested, inside, word)

    def _tail_only(self, ma: Member, mb: Member) -> bool:
        """Whether a member's struct type differs only in its size at the end."""
        return bool(ma.ref) and ma.ref == mb.ref and self.worst(ma.ref) == Kind.TAIL_PADDING

    def _tail(self, a: Aggregate, b: Aggregate, within: _Within) -> list[Difference]:
        """A size that differs only at the end: tail padding."""
        tail_a = a.size * 8 - max((m.offset + m.size for m in a.members), default=0)
        tail_b = b.size * 8 - max((m.offset + m.size for m in b.members), default=0)
        if a.size == b.size or tail_a == tail_b or not within.sized:
            return []
        why = "tail padding only: _IOW()/_IOR() numbers that encode its size differ"
        return [self._difference(within.top, within.path, Kind.TAIL_PADDING, a.line, self._sizes(a.size * 8, b.size * 8), why)]

    def _shift(self, top: Aggregate, path: str, ma: Member, mb: Member, at: tuple[int, int], word: str) -> Difference:
        """Classify a member whose offset or size differs."""
        if ma.size != mb.size:
            detail = self._sizes(ma.size, mb.size) + (f" (offset {_bytes(at[0])} and {_bytes(at[1])})" if at[0] != at[1] else "")
        else:
            detail = f"offset {_bytes(at[0])} on {self.wide.abi}, {_bytes(at[1])} on {self.narrow.abi}"
        if word:
            return self._difference(top, path, Kind.WORD, ma.line, detail, _word_why(word))
        if ma.line != mb.line:  # `#ifdef __x86_64__` around the member: each ABI has its own declaration
            why = f"declared separately for each ABI (line {ma.line} on {self.wide.abi}, {mb.line} on {self.narrow.abi})"
            return self._difference(top, path, Kind.ARCH_TYPE, ma.line, detail, why)
        inner = self.worst(ma.ref) if ma.ref and ma.ref == mb.ref else None
        if inner is not None:
            kind = Kind.INHERITED if SEVERITY[inner] == "error" else inner
            return self._difference(top, path, kind, ma.line, detail, f"its type {ma.ref} differs between the ABIs ({inner})")
        if ma.size != mb.size and ma.ref and ma.ref == mb.ref and ma.ref not in self.wide.types and ma.ref not in self.narrow.types:
            why = f"its type {ma.ref} is the C library's, which lays it out for each ABI"
            return self._difference(top, path, Kind.ARCH_TYPE, ma.line, detail, why)
        if ma.size != mb.size:
            why = f"{ma.type} is {ma.resolved} on {self.wide.abi}, {mb.resolved} on {self.narrow.abi}"
            return self._difference(top, path, Kind.ARCH_TYPE, ma.line, detail, why)
        if ma.align == mb.align:  # not alignment: a member before it is on one ABI only (reported itself)
            return self._difference(top, path, Kind.ONE_SIDE, ma.line, detail, "moved by a member before it that one ABI leaves out")
        why = (
            f"{ma.type} is aligned to {ma.align} bytes on {self.wide.abi}, {mb.align} on {self.narrow.abi}: "
            f"32-bit userspace sees another layout"
        )
        return self._difference(top, path, Kind.ALIGNMENT, ma.line, detail, why)

    def _sizes(self, a: int, b: int) -> str:
        return f"size {_bytes(a)} on {self.wide.abi}, {_bytes(b)} on {self.narrow.abi}"

    def _difference(self, top: Aggregate, path: str, kind: Kind, line: int, detail: str, why: str) -> Difference:
        return Difference(self.wide.abi, self.narrow.abi, top.name, path, kind, top.file, line or top.line, detail, why)


@dataclass(frozen=True)
class _Within:
    """Where an aggregate being compared lies: in which top-level type, as which path (its members'
    paths start with `prefix`: an anonymous struct or union adds nothing), at which bit offsets."""

    top: Aggregate
    path: str
    prefix: str
    base_a: int
    base_b: int
    # False in a union whose size is the same on both ABIs: there, a member whose size alone differs
    # (tail padding) changes nothing outside it; kvm_run's exits are such members of a padded union.
    sized: bool = True


def _match(a: tuple[Member, ...], b: tuple[Member, ...]) -> list[tuple[Member | None, Member | None]]:
    """Members paired by name; anonymous ones by their order among the anonymous."""
    def key(members: tuple[Member, ...]) -> dict[str, Member]:
        keyed, anonymous = {}, 0
        for member in members:
            if member.name:
                keyed[member.name] = member
            else:
                keyed[f"<anonymous {anonymous}>"] = member
                anonymous += 1
        return keyed

    keyed_a, keyed_b = key(a), key(b)
    pairs: list[tuple[Member | None, Member | None]] = [(m, keyed_b.get(k)) for k, m in keyed_a.items()]
    return pairs + [(None, m) for k, m in keyed_b.items() if k not in keyed_a]


def _laid_out(aggregate: Aggregate) -> tuple:
    """What an aggregate looks like to a program: its size and each member's name, offset and size."""
    return aggregate.size, tuple((m.name, m.offset, m.size, _laid_out(m.nested) if m.nested else m.resolved) for m in aggregate.members)


def _label(member: Member) -> str:
    return member.name or f"<anonymous {member.nested.kind if member.nested else 'member'}>"


def _bytes(bits: int) -> str:
    return str(bits // 8) if bits % 8 == 0 else f"bit {bits}"


def _word_why(word: str) -> str:
    return f"{word} is or holds a long or pointer, as wide as each ABI's word (uapi should use __u64 or __s64)"
