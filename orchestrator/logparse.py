"""build.log → Diagnostic records. Pure: lines in, records out; it streams, so memory follows the
number of distinct diagnostics, not the size of the log.

What it understands, as GCC, Clang, binutils, LLVM's ld.lld, Kconfig, modpost, objtool and make print it:

    In file included from ./include/linux/kvm_host.h:45,            include chain (gcc)
                     from arch/riscv/kvm/vcpu_sbi.c:12:
    In file included from arch/x86/kvm/x86.c:19:                    include chain (clang)
    arch/riscv/kvm/vcpu_sbi.c: In function 'f':                     function context (gcc)
    arch/riscv/kvm/vcpu_sbi.c:87:26: error: message [-Wopt]          the diagnostic itself
       87 |  run->system_event.flags = 1;                             excerpt (gcc: numbered, with |)
          |                   ^                                       or, with clang, the bare source
    x.c:3:1: note: declared here                                     line and a caret line under it
    {standard input}:123: Error: no such instruction                 assembler
    ld: init/main.o: in function `f':  main.c:(.text+0x5): undefined reference to `g'      GNU ld
    ld.lld: error: undefined symbol: g  >>> referenced by ...       ld.lld (the >>> lines are notes)
    WARNING: unmet direct dependencies detected for X                Kconfig (indented lines are notes)
    WARNING: modpost: vmlinux.o: section mismatch in reference: ...  modpost
    x.o: warning: objtool: f()+0x12: unreachable instruction         objtool
    /usr/bin/ld: x86_64/foo.c:77: undefined reference to `g'         GNU ld with debug info: the source line
    FATAL: modpost: Section mismatches detected.                     modpost's own verdict
    make[4]: *** No rule to make target 'x.o', needed by 'y.o'.      make: always kept
    *** Can't find default configuration "x_defconfig"!              make's explanations: kept, with the
    make[1]: *** [scripts/kconfig/Makefile:94: x_defconfig] Error 1  target that failed as a note
    make[1]: *** [Makefile:12: vmlinux] Error 2                      "make target failed", only when nothing
                                                                     else explains the failure

Lines may carry a prefix a CI system added (`00:00:14 `, `[  12.345] `, `2024-05-01T10:00:00.123Z `):
detected from the first lines of each log, and cut from every line before parsing.

Paths are cut to tree-relative ones: the caller's roots (source tree, build directory), the roots the
log itself reveals (O=..., .../scripts/Makefile.build), then the first top-level kernel directory. A
path relative to where make was (`make[1]: Entering directory '...'`) is resolved from there first.
System headers (/usr/include/...) stay absolute: they are not files of the tree. Temporary objects
(/tmp/ccXXXXXX.o) become `{temporary object}`, so that the same error fingerprints alike every time.

An error gcc places inside a shared header's macro (BUILD_BUG_ON at compiler_types.h, a printk format at
kern_levels.h) is placed at its outermost `in expansion of macro` in the tree's own file: the line the
developer wrote, as clang places it; gcc's place stays as the first note. Names the kernel makes unique with
__COUNTER__ (`__compiletime_assert_759`) are shown as written and fingerprinted without the number.

The root cause is the error that ended the build: the first error printed before make's first `***`
line, else make's own explanation; it is marked (`root_cause`) and every other error stays listed.
"""

from __future__ import annotations

import hashlib
import itertools
import posixpath
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import BinaryIO

from .models import Diagnostic

DIAG = re.compile(
    r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+):(?:(?P<col>\d+):)? "
    r"(?P<sev>fatal error|error|warning|note|Error|Warning|Fatal error): (?P<msg>.*)$"
)
TOOL_DIAG = re.compile(r"^(?P<file>[^\s:]+): (?P<sev>fatal error|error|warning): (?P<msg>.*)$")
CONTEXT = re.compile(
    r"^(?P<file>[^\s:][^:]*): (?:(?:In (?:static |member )*function|In constructor|In destructor) "
    r"(?P<fn>.+?)|(?P<top>At top level)):$"
)
INCLUDE_FIRST = re.compile(r"^In file included from (?P<loc>.+?:\d+)(?::\d+)?[,:]$")
INCLUDE_MORE = re.compile(r"^\s+from (?P<loc>.+?:\d+)(?::\d+)?[,:]$")
GCC_EXCERPT = re.compile(r"^\s*(?:\d+\s*)?\||^\+\+\+ \|")
EXCERPT_START = frozenset(" +0123456789")  # "   87 |", "11258 |" (no indent at 5 digits), "+++ |"
CLANG_CARET = re.compile(r"^[\s~]*\^[\s~^]*$|^\s*~+\s*$")  # "~~~~ ^", "    ^~~~~~", "  ~~~"
LD_PROGRAM = re.compile(r"^(?:\S*-)?ld(?:\.bfd|\.gold)?$")
LD_IN_FUNCTION = re.compile(r"^(?:\S*ld(?:\.bfd)?: )?(?P<obj>[^:\s]+): in function `(?P<fn>[^']*)':$")
LD_PROBLEMS = ("undefined reference", "multiple definition", "relocation truncated", "dangerous relocation")
_LD_PREFIX = r"^(?:(?P<prog>\S*ld(?:\.bfd)?): )?"
_LD_MESSAGE = rf"(?P<msg>(?:{'|'.join(LD_PROBLEMS)}).*)$"
LD_REFERENCE = re.compile(_LD_PREFIX + r"(?P<obj>[^:\s]+):\((?P<section>[^)]*)\): " + _LD_MESSAGE)
# GNU ld with debug info names the source line: "/usr/bin/ld: x.c:777: undefined reference ..."
LD_SOURCE = re.compile(_LD_PREFIX + r"(?P<file>[^:\s]+):(?P<line>\d+): " + _LD_MESSAGE)
LLD_DIAG = re.compile(r"^(?P<prog>\S*ld\.lld): (?P<sev>error|warning): (?P<msg>.*)$")
LLD_LOCATION = re.compile(r"\((?P<path>[^()\s]+?):(?P<line>\d+)\)$")
LLD_OBJECT = re.compile(r"^(?P<obj>[^\s:()]+\.o):\((?P<symbol>[^)]*)\)")
MODPOST = re.compile(r"^(?P<sev>WARNING|ERROR|FATAL): modpost: (?P<msg>.*)$")
KCONFIG = re.compile(r"^WARNING: (?P<msg>unmet direct dependencies detected for \S+)$")
# `Kconfig:20:error: recursive dependency detected!` is followed by the cycle, one link a line
KCONFIG_CYCLE = re.compile(r"^(?P<where>[^\s:]+:\d+):\t(?P<link>.*)$")
KCONFIG_CYCLE_ADVICE = ("For a resolution refer to", "subsection ")
LD_CANNOT_FIND = re.compile(r"^(?P<prog>\S*ld(?:\.bfd|\.gold)?): (?P<msg>cannot find .+)$")
KCONFIG_FILE = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<sev>warning|error): (?P<msg>.*)$")
MAKE_FAILURE = re.compile(r"^(?:\S*make(?:\[\d+\])?|(?P<file>[^\s:]+):(?P<line>\d+)): \*\*\* (?P<msg>.*)$")
MAKE_DIRECTORY = re.compile(r"^\S*make(?:\[(?P<level>\d+)\])?: (?P<what>Entering|Leaving) directory [`'](?P<dir>/[^']*)'$")
# The look-ahead checks the shape first: without it, a long `[: : : ...` would try the target after every `: `.
MAKE_ERROR = re.compile(r"^(?=\[[^\]]*\] Error \d+$)\[(?P<where>[^\]]*?)(?::\d+)?: (?P<target>[^\]]+)\] Error (?P<code>\d+)$")
MAKE_CHATTER = ("Waiting for unfinished jobs", "Deleting file", "Deleting intermediate file")  # make -j's own news
GENERATED = re.compile(r"^\d+ (?:warnings?|errors?)(?: and \d+ errors?)? generated\.$")
BUILD_DIR = re.compile(r"(?:^|\s)O=(?P<dir>/\S+)")
SOURCE_ROOT_END = re.compile(r"/(?:scripts/Makefile\.\w+|Makefile):\d")  # after the tree: `<tree>/Makefile:NNN`
ABS_PATH = re.compile(r"(?<![\w.])/[^\s:'\"()\[\],;`]+")
# `path.c:12:5` in a message: the numbers go from its fingerprint. The extension is matched with a
# one-character look behind, not the whole path: a path matched from every start of a long word is quadratic.
LOCATION_NUMBERS = re.compile(r"(?<=[\w./{}-])(?P<extension>\.\w+):\d+(?::\d+)?")
HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
# Names the kernel's macros make unique with gcc's __COUNTER__ (BUILD_BUG_ON's `__compiletime_assert_123`,
# `__UNIQUE_ID_ddebug45`): the number changes with every unrelated use before it, so it is no identity.
COUNTER_NAME = re.compile(r"\b(?P<name>__compiletime_assert_|__UNIQUE_ID_[A-Za-z_]*?)\d+\b")
# gcc's `in expansion of macro 'X'` notes, outermost last: where the line the developer wrote is
EXPANSION_NOTE = re.compile(r"^(?P<path>[^\s:]+):(?P<line>\d+):(?:(?P<col>\d+):)? in expansion of macro ")
# Headers every file includes: an error gcc places inside one of their macros is the user's line's
SHARED_HEADER = re.compile(r"^(?:/|include/|arch/[^/]+/include/|tools/include/|<)")
TEMP_ASSEMBLER_INPUT = re.compile(r"^(?:\{standard input\}|/tmp/cc\w+\.s)$")
SOURCE_SUFFIXES = (".c", ".S", ".s", ".cc", ".cpp", ".rs")
TEMP_OBJECT = re.compile(r"^/tmp/cc\w+\.o$")  # what gcc compiles to when it compiles and links in one step
# Where a system's own files live: a path there is not a file of the tree, whatever its directories are named.
SYSTEM_DIRS = ("/usr/include/", "/usr/local/include/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/", "/lib/", "/lib64/")

# Prefixes CI systems write before each line of a log. The first that most of a log's first lines
# carry is cut from all of its lines; failing those, a constant one (`build: `, `>> `).
LINE_PREFIXES = (
    r"\d{2}:\d{2}:\d{2}(?:\.\d+)? ",  # clock time: ts, LAVA
    r"\[\s*\d+(?:\.\d+)?\] ",  # dmesg-style seconds: ts -s '[%.s]'
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})? (?:\d{2}[OE]\+? )?",  # ISO (GitHub Actions), GitLab's 00O after it
    r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d+)? ",  # syslog's time, ts's default, with or without fractions
    r"\d+\.\d+ ",  # seconds since the start: ts -s '%.s'
    r"\x1b_bk;t=\d+\x07",  # Buildkite's timestamp escape
    r"\[[^\]\n]{1,64}\] ",  # a bracketed tag or time: `[build] `, Jenkins' `[2024-05-01 10:00:00] `
    r"[\w.-]{1,64} *\| ",  # docker-compose: `kernel-build_1  | `
)
CONSTANT_PREFIX_END = re.compile(r"[^\s\w]\s")  # `build: `, `>> `, `--- `: a constant prefix ends in a mark and a space
# Lines a build log starts with by itself: never taken for a CI's prefix, however many there are.
OWN_STARTS = ("make", "gcc", "cc", "clang", "ld", "In file", "from", "$ ", "# ", "I: ", "W: ", "E: ")
PREFIX_SAMPLE = 200  # lines looked at to decide
PREFIX_SHARE = 0.6  # of the non-empty ones that must carry the same prefix
PREFIX_PATTERNS = tuple(re.compile("^" + prefix, re.MULTILINE) for prefix in LINE_PREFIXES)

# Bumped whenever the records of a log may change (files, messages, fingerprints): results stored by an
# older version are parsed again from their build.log before they are judged (reparse.stale),
# so that an unchanged error never shows as one gone and one new. 2: the root cause, ld's source files,
# system headers, make's explanations. 3: more CI line prefixes, failures said in lines no rule reads.
# 4: a subdirectory's Makefile is never the tree's root. 5: ld's `cannot find`, Kconfig's cycles.
# 6: errors in macros at the tree's own line, no __COUNTER__ in fingerprints, -Werror= as written.
# 7: the tool's word ("fatal error") and the program when no file is named; make targets are no files.
VERSION = 7

# Top-level directories of a kernel tree: the fallback for absolute paths under an unknown root.
KERNEL_TOP = {
    "arch", "block", "certs", "crypto", "drivers", "fs", "include", "init", "io_uring", "ipc", "kernel",
    "lib", "mm", "net", "rust", "samples", "scripts", "security", "sound", "tools", "usr", "virt",
}
ASSEMBLER_INPUT = "{assembler input}"
TEMPORARY_OBJECT = "{temporary object}"
BLOCK_SIZE = 1 << 22
# A longer line is cut here: no compiler writes one, and a generated line of gigabytes must not be held
# whole (nor grow a buffer block by block, which is quadratic).
MAX_LINE = 1 << 16
# A line saying a build failed, anywhere in it: read only when no rule read the line, and only to say
# that an error was there (a log whose shape is new must not pass for a clean one).
UNREAD_FAILURE = re.compile(r": (?:fatal )?error: |\*\*\* \[[^\]]*\] Error \d+|\*\*\* .*Stop\.")
UNREAD_MESSAGE = "the log says the build failed, in lines no rule here reads (a prefix or tool not known?); they are the notes"
MAX_UNREAD = 5
SKIP_LINES = ("cc1: some warnings being treated as errors", "cc1: all warnings being treated as errors")
LINKER_FAILED = re.compile(r"^(?:\S*/)?collect2: error: (?P<msg>(?:\S*ld\S*) returned \d+ exit status)$")


class LogParser:
    """Feed it lines; finish() returns the diagnostics sorted by file, line and column."""

    def __init__(self, roots: Sequence[str] = ()):
        self.relative = _Relativizer([r.rstrip("/") for r in roots if r])
        self.found: dict[tuple, Diagnostic] = {}  # normalized key → merged record
        self.open: Diagnostic | None = None  # the record whose excerpt, notes or >>> lines may follow
        self.open_kind = ""  # what may follow it: "excerpt", "note", "lld", "kconfig", "modpost"
        self.held: str | None = None  # a clang source line waiting for its caret line
        self.context_file = ""
        self.context_function = ""
        self.chain: list[str] = []
        self.chain_file: str | None = None
        self.chain_growing = False
        self.ld_object = ""
        self.ld_function = ""
        self.first_make_error = ""  # the first (innermost) "[target] Error N"
        self.linker_failed = ""  # "ld returned 1 exit status", from gcc's driver
        self.explained: Diagnostic | None = None  # make's last explanation, until the target that failed
        self.banners: list[str] = []  # `*** ...` lines a Makefile echoed, until make says whether it failed
        self.directories: list[str] = []  # where make is, from its Entering/Leaving directory lines
        self.prefix: re.Pattern | None = None  # what a CI system wrote before each line
        self.prefix_decided = False
        self.opened = 0  # records opened so far: each one's place in the log
        self.open_place = 0
        self.first_seen: dict[tuple, int] = {}  # key → the place of its first occurrence
        self.failure_place: int | None = None  # records opened before make's first `***`
        self.unread_failures: list[str] = []  # lines that say an error in a shape no rule here reads
        self.note_excerpts: list[list[str]] = []  # the open record's notes' own excerpts, note by note
        self.open_context = ("", "")  # the file and function gcc said the open record is in

    # --- input ---------------------------------------------------------------------------------

    def detect_prefix(self, lines: Iterable[str]) -> None:
        """Decide, from a log's first lines, which prefix a CI system wrote before each line (if any)."""
        self.prefix_decided = True
        sample = [line for line in lines if line.strip()][:PREFIX_SAMPLE]
        for pattern in PREFIX_PATTERNS:
            if sample and sum(1 for line in sample if pattern.match(line)) >= PREFIX_SHARE * len(sample):
                self.prefix = pattern
                return
        if (constant := _constant_prefix(sample)) is not None:
            self.prefix = re.compile("^" + re.escape(constant), re.MULTILINE)

    def feed(self, raw: str | bytes) -> None:
        """One line (its newline may be there or not)."""
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if self.prefix is not None:
            line = self.prefix.sub("", line, count=1)
        self._line(line.rstrip("\r\n"))

    def feed_text(self, text: str) -> None:
        """Many whole lines at once: the fast path for big logs."""
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if not self.prefix_decided:
            self.detect_prefix(text[: 1 << 16].split("\n"))
        if self.prefix is not None:
            text = self.prefix.sub("", text)  # one pass in C over the block; plain logs pay nothing
        line_of = self._line
        for line in text.split("\n"):
            line_of(line)

    def _line(self, line: str) -> None:
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE]
        if self.held is not None and self._release_held(line):
            return
        if not line:
            return
        first = line[0]
        if first == "m" and line.startswith("make"):  # tuxmake's commands and make's own messages
            return self._make_line(line)
        if first == "*" and line.startswith("***"):  # Kconfig's Makefile: `*** Can't find default configuration ...!`
            self.banners.append(line[3:].strip())  # an explanation only if make fails right after it
            return None
        if self.banners:
            self.banners = []  # make went on: what it echoed was news, not why it stopped
        if self.open is not None and self._continues(line):
            return
        # Include chains come first: they are the only lines whose meaning depends on the line before.
        if (first == "I" or (first == " " and self.chain_growing)) and self._include(line):
            return
        self.chain_growing = False
        if first == "#" or ": " not in line:  # tuxmake's comments; and every record starts with ": "
            return
        self._record(line, first)

    def _make_line(self, line: str) -> None:
        if self.open is not None:  # make's lines end whatever the compiler was printing
            self._close()
        self.chain_growing = False
        if line.startswith("make --silent"):
            self._learn_build_dir(line)
        elif "*** " in line and (match := MAKE_FAILURE.match(line)) is not None:
            self._make_failure(line, match)
        elif line.endswith("'") and (match := MAKE_DIRECTORY.match(line)) is not None:
            self._directory(match["what"], match["dir"])

    def _release_held(self, line: str) -> bool:
        """A bare source line clang printed: its excerpt if a caret line follows (True: both are taken)."""
        held, self.held = self.held or "", None
        if CLANG_CARET.match(line):
            self._excerpt(held)
            self._excerpt(line)
            return True
        self._close()
        self._line(held)
        return False

    def _make_failure(self, line: str, match: re.Match) -> None:
        """make's `***` lines: `No rule to make target` and make's other explanations are records; the
        first `[target] Error N` is kept for when nothing else explains the failure, and names the
        target an explanation was about."""
        self._learn_source_root(line)
        if self.failure_place is None:
            self.failure_place = self.opened
        failure = match["msg"]
        if failure.startswith("["):  # "[where: target] Error N": make -k prints one per failed target
            if not self.first_make_error:
                self.first_make_error = failure
            if (self.banners or self.explained is not None) and (error := MAKE_ERROR.match(failure)) is not None:
                self._explain(error)
            return
        if failure.startswith(MAKE_CHATTER):
            return
        message = failure.removesuffix("Stop.").rstrip(" .")
        if match["file"]:  # "Makefile:12: *** missing separator"
            diagnostic = Diagnostic("error", match["file"], int(match["line"]), None, message, tool="make")
        else:  # "No rule to make target 'x.o'" (a target is no file of the tree), "Can't find default configuration"
            diagnostic = Diagnostic("error", "", None, None, message, tool="make", program="make")
        self._add(diagnostic, "")
        self.explained = diagnostic

    def _explain(self, error: re.Match) -> None:
        """What the failing recipe echoed right before it failed explains it; the target that failed
        goes with make's last explanation."""
        explanation = " ".join(banner for banner in self.banners if banner)
        if explanation:
            self._add(Diagnostic("error", "", None, None, explanation, tool="make", program="make"), "")
            self.explained = self.open
        self.banners = []
        if self.explained is not None:
            self.explained.notes.append(f"target: {self.relative(error['target'])} ({self.relative.text(error['where'])})")
            self.explained = None

    def _directory(self, what: str, directory: str) -> None:
        if what == "Entering":
            self.directories.append(directory)
        elif directory in self.directories:
            del self.directories[len(self.directories) - 1 - self.directories[::-1].index(directory)]

    def _record(self, line: str, first: str) -> None:
        """A line that may start a record: compiler, assembler, Kconfig, modpost, linker or a tool."""
        if first == "W" or first == "E" or first == "F":
            if (match := KCONFIG.match(line)) is not None:
                return self._add(Diagnostic("warning", "", None, None, match["msg"], tool="kconfig"), "kconfig")
            if (match := MODPOST.match(line)) is not None:
                return self._modpost(match)
        if (match := DIAG.match(line)) is not None:
            return self._diagnostic(match)
        if (match := KCONFIG_FILE.match(line)) is not None:  # ".config:1309:warning: override: ..."
            severity = "error" if match["sev"] == "error" else "warning"
            diagnostic = Diagnostic(severity, match["file"], int(match["line"]), None, match["msg"], tool="kconfig")
            return self._add(diagnostic, "cycle" if match["msg"].startswith("recursive dependency") else "")
        if line.startswith(SKIP_LINES):
            return None
        if (match := CONTEXT.match(line)) is not None:
            self.context_file = match["file"]
            self.context_function = "" if match["top"] else _unquote(match["fn"])
            return None
        return self._tool_record(line)

    def _tool_record(self, line: str) -> None:
        """Lines of the linkers, of make naming a makefile line, of gcc's driver and of other tools."""
        if "collect2" in line and (match := LINKER_FAILED.match(line)) is not None:  # gcc's driver after ld failed
            self.linker_failed = self.linker_failed or match["msg"]  # kept for when ld said nothing
            return None
        if any(problem in line for problem in LD_PROBLEMS):  # substrings first: most lines are no ld's
            if (match := LD_REFERENCE.match(line)) is not None:
                return self._ld_reference(match)
            if (match := LD_SOURCE.match(line)) is not None:
                return self._ld_source(match)
        if "*** " in line and (match := MAKE_FAILURE.match(line)) is not None:  # "Makefile:12: *** missing separator.  Stop."
            return self._make_failure(line, match)
        if (match := LD_IN_FUNCTION.match(line)) is not None:
            self.ld_object, self.ld_function = match["obj"], match["fn"]
            return None
        if (match := LLD_DIAG.match(line)) is not None:
            program = posixpath.basename(match["prog"])
            return self._add(Diagnostic(match["sev"], "", None, None, match["msg"], tool="linker", program=program), "lld")
        if (match := TOOL_DIAG.match(line)) is not None:
            return self._tool_diagnostic(match)
        if "cannot find" in line and (match := LD_CANNOT_FIND.match(line)) is not None:  # a library or object the link needs
            return self._add(Diagnostic("error", "", None, None, match["msg"], tool="linker", program=posixpath.basename(match["prog"])), "")
        if len(self.unread_failures) < MAX_UNREAD and UNREAD_FAILURE.search(line):  # an error said in a shape not known here
            self.unread_failures.append(line)
            self._learn_source_root(line)  # `<tree>/Makefile:NNN` names the tree wherever it is in the line
        return None

    def _continues(self, line: str) -> bool:
        """Lines that belong to the open record: its excerpt, its notes, ld.lld's >>> lines."""
        kind, record = self.open_kind, self.open
        if record is None:
            return False
        if kind == "excerpt" or kind == "note":
            if line[0] in EXCERPT_START and GCC_EXCERPT.match(line):  # "   87 |  code" and "      |   ^"
                if kind == "excerpt":
                    self._excerpt(line)
                elif self.note_excerpts and len(self.note_excerpts[-1]) < 8:  # kept in case the record moves there
                    self.note_excerpts[-1].append(line)
                return True
            if kind == "excerpt" and not record.excerpt and not _anchor(line):
                self.held = line  # clang prints the bare source line: its caret line will tell
                return True
            return False
        if kind == "lld" and line.startswith(">>> "):
            self._lld_note(line[4:].strip(), record)
            return True
        return _explains(kind, record, line)

    def _lld_note(self, note: str, record: Diagnostic) -> None:
        """ld.lld's `>>> referenced by` lines: where the reference is (a source line, else an object)."""
        record.notes.append(note)
        if record.file:
            return
        if (where := LLD_LOCATION.search(note)) is not None:
            record.file, record.line = where["path"], int(where["line"])
        elif (where := LLD_OBJECT.match(note)) is not None:  # no debug info: the object file
            record.file = where["obj"]
            if not where["symbol"].startswith("."):  # a function, not a section such as .text+0x0
                record.function = where["symbol"]

    def _include(self, line: str) -> bool:
        if line.startswith("In file included from"):
            if (match := INCLUDE_FIRST.match(line)) is None:
                return False
            if not self.chain_growing:  # clang repeats the prefix on every line of one chain
                self.chain = []
            self.chain.append(match["loc"])
            self.chain_file = None
            self.chain_growing = True
            return True
        if self.chain_growing and (match := INCLUDE_MORE.match(line)) is not None:
            self.chain.append(match["loc"])
            return True
        return False

    # --- records -------------------------------------------------------------------------------

    def _diagnostic(self, match: re.Match) -> None:
        severity = match["sev"].lower()
        file, message = match["file"], match["msg"]
        line, column = int(match["line"]), int(match["col"]) if match["col"] else None
        if severity == "note":
            return self._note(file, f"{line}{f':{column}' if column else ''}", message)
        tool = "compiler"
        if match["sev"][0].isupper():  # GNU as writes "Error:" and "Warning:"
            tool = "assembler"
            file = ASSEMBLER_INPUT if TEMP_ASSEMBLER_INPUT.match(file) else file
            column = None
        elif file.endswith((".config", "Kconfig")) or file == "<stdin>":
            tool = "kconfig"
        severity = "error" if severity.startswith(("fatal", "error")) else "warning"
        label = match["sev"] if match["sev"] != severity else ""  # "fatal error", gas's "Error": as written
        message, option = _split_option(message)
        if option.startswith("-Werror"):
            severity = "error"
        diagnostic = Diagnostic(severity, file, line, column, message, option=option, tool=tool, label=label)
        if tool == "compiler":
            if file == self.context_file:
                diagnostic.function = self.context_function
            if self.chain and (self.chain_file in (None, file)):
                self.chain_file = file
                diagnostic.include_chain = list(self.chain)
            elif self.chain_file != file:
                self.chain = []
        self._add(diagnostic, "excerpt" if tool == "compiler" else "")
        context_file = _joined(self.directories[-1], self.context_file) if self.directories else self.context_file
        self.open_context = (context_file, self.context_function)

    def _note(self, file: str, numbers: str, message: str) -> None:
        if self.chain and self.chain_file is None:  # the include chain printed right before was this note's
            self.chain_file = file
        if self.open is not None and self.open_kind != "lld":
            where = _joined(self.directories[-1], file) if self.directories else file
            self.open.notes.append(f"{where}:{numbers}: {message}")
            self.open_kind = "note"
            self.note_excerpts.append([])

    def _tool_diagnostic(self, match: re.Match) -> None:
        program, message = match["file"], match["msg"]
        severity = "error" if match["sev"] != "warning" else "warning"
        label = match["sev"] if match["sev"] != severity else ""
        if message.startswith("objtool: "):
            self._add(Diagnostic(severity, program, None, None, message, tool="objtool"), "")
            return
        program = posixpath.basename(program)
        tool = "linker" if LD_PROGRAM.match(program) else "compiler"  # else cc1, gcc, clang: no source location
        self._add(Diagnostic(severity, "", None, None, message, tool=tool, label=label, program=program), "")
        if severity == "error" and tool == "compiler":
            self.explained = self.open  # the target make says failed next is the file it was compiling

    def _ld_reference(self, match: re.Match) -> None:
        """`main.c:(.text+0x41): undefined reference to ...` after `init/main.o: in function ...`: the
        source file is init/main.c (the object's directory, the file ld names); else the object."""
        named, obj = match["obj"], self.ld_object
        file = obj or named
        if obj and named.endswith(SOURCE_SUFFIXES) and "/" not in named:
            file = named if TEMP_OBJECT.match(obj) else posixpath.join(posixpath.dirname(obj), named)
        self._add(Diagnostic("error", file, None, None, match["msg"], tool="linker", function=self.ld_function), "")

    def _ld_source(self, match: re.Match) -> None:
        diagnostic = Diagnostic("error", match["file"], int(match["line"]), None, match["msg"], tool="linker", function=self.ld_function)
        self._add(diagnostic, "")

    def _modpost(self, match: re.Match) -> None:
        message = match["msg"]
        file = ""
        if (obj := re.match(r"^(?P<file>[^\s:]+\.(?:o|ko)): (?P<rest>.*)$", message)) is not None:
            file, message = obj["file"], obj["rest"]
        elif (module := re.search(r"\[(?P<file>[^\[\]]+\.ko)\]", message)) is not None:
            file = module["file"]
        severity = "warning" if match["sev"] == "WARNING" else "error"  # ERROR, and FATAL: modpost's verdict
        self._add(Diagnostic(severity, file, None, None, message, tool="modpost", label=match["sev"], program="" if file else "modpost"), "modpost")

    def _add(self, diagnostic: Diagnostic, kind: str) -> None:
        self._close()
        if self.directories:  # a path relative to where make was when it was printed
            where = self.directories[-1]
            if diagnostic.file:
                diagnostic.file = _joined(where, diagnostic.file)
            if diagnostic.include_chain:
                diagnostic.include_chain = [_joined(where, location) for location in diagnostic.include_chain]
        self.open, self.open_kind = diagnostic, kind
        self.open_place, self.opened = self.opened, self.opened + 1
        self.note_excerpts, self.open_context = [], ("", "")

    def _excerpt(self, line: str) -> None:
        if self.open is not None and len(self.open.excerpt) < 8:
            self.open.excerpt.append(line)

    def _close(self) -> None:
        """Normalize the open record and merge it into what was found: the same problem at the same
        place counts once more. Keys are tree-relative, so memory follows distinct problems, not roots."""
        diagnostic, self.open, self.open_kind = self.open, None, ""
        if diagnostic is None:
            return
        _normalize(diagnostic, self.relative)
        if diagnostic.tool == "compiler" and _shared_header(diagnostic.file) and diagnostic.notes:
            context = (self.relative(self.open_context[0]), self.open_context[1])
            if _move_to_expansion(diagnostic, self.note_excerpts, context):
                diagnostic.fingerprint = fingerprint(diagnostic)
        key = (diagnostic.fingerprint, diagnostic.line, diagnostic.column)
        found = self.found.get(key)
        if found is None:
            self.found[key] = diagnostic
            self.first_seen[key] = self.open_place
            return
        found.count += diagnostic.count
        # Under make -j the occurrences come in any order: keep the same one whatever the timing.
        if (diagnostic.include_chain, diagnostic.function) < (found.include_chain, found.function):
            found.include_chain, found.function = diagnostic.include_chain, diagnostic.function

    # --- roots ---------------------------------------------------------------------------------

    def _learn_build_dir(self, line: str) -> None:
        if (match := BUILD_DIR.search(line)) is not None:
            self.relative.learn(match["dir"])

    def _learn_source_root(self, line: str) -> None:
        # `<tree>/Makefile:NNN` names the tree; `<tree>/scripts/kconfig/Makefile:94` would name scripts/kconfig
        root = _source_root(line)
        if root is not None and "/scripts/" not in root + "/":
            self.relative.learn(_above_target(root, line))

    # --- output --------------------------------------------------------------------------------

    def finish(self) -> list[Diagnostic]:
        if self.held is not None:
            held, self.held = self.held, None
            self._close()
            self._line(held)
        self._close()
        if self.linker_failed and not any(d.severity == "error" and d.tool == "linker" for d in self.found.values()):
            self._add(Diagnostic("error", "", None, None, self.linker_failed, tool="linker", program="collect2"), "")
            self._close()
        if not any(d.severity == "error" for d in self.found.values()) and (match := MAKE_ERROR.match(self.first_make_error)):
            # make's own failure, when no compiler, linker, modpost or make explanation says more
            failed = f"target '{self.relative(match['target'])}' failed: Error {match['code']}"
            self._add(Diagnostic("error", "", None, None, failed, tool="make", program="make"), "")
            self._close()
        if not any(d.severity == "error" for d in self.found.values()) and self.unread_failures:
            # Never "0 errors" for a log that says it failed: say so, with the lines that said it.
            unread = Diagnostic("error", "", None, None, UNREAD_MESSAGE, tool="make", notes=[line[:500] for line in self.unread_failures])
            self._add(unread, "")
            self._close()
        self._mark_root_cause()
        # Sorted by place, not by the order make -j happened to print them in.
        return sorted(self.found.values(), key=_place)

    def _mark_root_cause(self) -> None:
        """The error that ended the build: the first printed before make's first `***` (make -j prints
        `***` once a command failed), else make's own explanation, else the first error."""
        errors = sorted((self.first_seen[key], key) for key, d in self.found.items() if d.severity == "error")
        if not errors:
            return
        before = [key for place, key in errors if self.failure_place is None or place < self.failure_place]
        explained = [key for _, key in errors if self.found[key].tool == "make"]
        self.found[(before or explained or [errors[0][1]])[0]].root_cause = True


def parse(log: Iterable[str | bytes] | BinaryIO, roots: Sequence[str] = ()) -> list[Diagnostic]:
    """All diagnostics of a log: a binary file object (read in blocks) or lines (str, or bytes in any
    encoding). `roots` are the source tree and build directory paths the build used, when known."""
    parser = LogParser(roots)
    read = getattr(log, "read", None)
    if read is None:
        lines = iter(log)
        head = list(itertools.islice(lines, PREFIX_SAMPLE))
        parser.detect_prefix(line.decode("utf-8", "replace") if isinstance(line, bytes) else line for line in head)
        for line in itertools.chain(head, lines):
            parser.feed(line)
        return parser.finish()
    rest, skipping = b"", False  # skipping: the end of a line cut at MAX_LINE
    while block := read(BLOCK_SIZE):
        if skipping:
            newline = block.find(b"\n")
            if newline < 0:
                continue
            block, skipping = block[newline + 1 :], False
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut:
            parser.feed_text(block[: cut - 1].decode("utf-8", "replace"))
        rest = block[cut:]
        if len(rest) > MAX_LINE:
            parser.feed(rest[:MAX_LINE])
            rest, skipping = b"", True
    if rest:
        parser.feed(rest)
    return parser.finish()


def fingerprint(diagnostic: Diagnostic) -> str:
    """Identity across commits: file (else program), severity, tool, option and message; never line,
    column, path roots or the tool's word for the severity."""
    where = diagnostic.file or diagnostic.program
    return _fingerprint(diagnostic.severity, diagnostic.tool, where, _plain_option(diagnostic.option), diagnostic.message)


@lru_cache(maxsize=8192)  # the same problem recurs many times in one log, and across logs
def _fingerprint(severity: str, tool: str, file: str, option: str, message: str) -> str:
    message = HEX.sub("0x", LOCATION_NUMBERS.sub(r"\g<extension>", message))
    if "__" in message:
        message = COUNTER_NAME.sub(r"\g<name>", message)
    text = "\0".join((severity, tool, file, option, message))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


# --- helpers ------------------------------------------------------------------------------------


class _Relativizer:
    """Turns any path the log wrote into a tree-relative one."""

    MAX_LEARNED = 64  # a log naming ever new roots must not grow memory without bound
    MAX_CACHE = 4096

    def __init__(self, roots: Sequence[str]):
        self.given = {r for r in roots if r}
        self.learned: dict[str, None] = {}  # insertion-ordered, so the oldest is dropped first
        self.cache: dict[str, str] = {}

    def learn(self, root: str) -> None:
        root = root.rstrip("/")
        if root and root not in self.given and root not in self.learned:
            if len(self.learned) >= self.MAX_LEARNED:
                del self.learned[next(iter(self.learned))]
            self.learned[root] = None
            self.cache.clear()

    def __call__(self, path: str) -> str:
        if not path or path in (ASSEMBLER_INPUT, TEMPORARY_OBJECT):
            return path
        cached = self.cache.get(path)
        if cached is None:
            if len(self.cache) >= self.MAX_CACHE:
                self.cache.clear()
            cached = self.cache[path] = self._relative(path)
        return cached

    def _relative(self, path: str) -> str:
        if TEMP_ASSEMBLER_INPUT.match(path):
            return ASSEMBLER_INPUT
        if TEMP_OBJECT.match(path):
            return TEMPORARY_OBJECT
        if not path.startswith("/"):
            return posixpath.normpath(path)
        # The longest known root first: a build directory inside the source tree is cut as a whole.
        roots = [root for root in (*self.given, *self.learned) if path.startswith(root + "/")]
        if roots:
            return posixpath.normpath(path[len(max(roots, key=len)) + 1 :])
        parts = path.split("/")
        if path.startswith(SYSTEM_DIRS):
            return posixpath.normpath(path)  # /usr/include/stdio.h is the system's, never the tree's usr/
        for index, part in enumerate(parts[:-1]):
            if part in KERNEL_TOP:
                return posixpath.normpath("/".join(parts[index:]))
        return path

    def text(self, text: str) -> str:
        """The same, for every absolute or ./-relative path inside a message."""
        if "/" not in text:
            return text
        text = ABS_PATH.sub(lambda m: self(m.group(0)), text)
        return text.replace(" ./", " ").replace("(./", "(").replace("'./", "'")


def _normalize(diagnostic: Diagnostic, relative: _Relativizer) -> None:
    diagnostic.file = relative(diagnostic.file)
    diagnostic.message = relative.text(_ascii_quotes(diagnostic.message))
    if diagnostic.include_chain:
        diagnostic.include_chain = [_relative_location(loc, relative) for loc in diagnostic.include_chain]
    if diagnostic.notes:
        diagnostic.notes = [_relative_note(_ascii_quotes(note), relative) for note in diagnostic.notes]
    diagnostic.fingerprint = fingerprint(diagnostic)


def _ascii_quotes(text: str) -> str:
    """gcc's quotes in a UTF-8 locale are the C locale's ' (so the same error fingerprints alike in both)."""
    if "\u2018" in text or "\u2019" in text:
        return text.replace("\u2018", "'").replace("\u2019", "'")
    return text


def _shared_header(path: str) -> bool:
    return bool(SHARED_HEADER.match(path))


def _move_to_expansion(diagnostic: Diagnostic, note_excerpts: list[list[str]], context: tuple[str, str]) -> bool:
    """An error gcc places inside a shared header's macro (BUILD_BUG_ON's compiler_types.h:357, printk's
    format in kern_levels.h) is placed at the outermost expansion in a file of the tree's own, the line
    its author wrote; where gcc pointed stays, as the first note (True: moved)."""
    for index in range(len(diagnostic.notes) - 1, -1, -1):
        expansion = EXPANSION_NOTE.match(diagnostic.notes[index])
        if expansion is not None and not _shared_header(expansion["path"]):
            break
    else:
        return False
    inside = f"{diagnostic.location}: where the compiler points, inside the macro"
    diagnostic.file, diagnostic.line = expansion["path"], int(expansion["line"])
    diagnostic.column = int(expansion["col"]) if expansion["col"] else None
    diagnostic.excerpt = list(note_excerpts[index]) if len(note_excerpts) == len(diagnostic.notes) else []
    diagnostic.include_chain = []  # how the header was reached; the tree's own file is where it starts
    diagnostic.function = context[1] if context[0] == diagnostic.file else diagnostic.function
    diagnostic.notes.insert(0, inside)
    return True


@lru_cache(maxsize=4096)  # the same few paths, over and over
def _joined(directory: str, path: str) -> str:
    """`path` (or `path:line`) as seen from `directory`: kept when it is absolute or no file at all."""
    if not path or path.startswith(("/", "{", "<")):
        return path
    return posixpath.normpath(posixpath.join(directory, path))


def _relative_location(location: str, relative: _Relativizer) -> str:
    path, _, line = location.rpartition(":")
    return f"{relative(path)}:{line}"


def _relative_note(note: str, relative: _Relativizer) -> str:
    head, sep, rest = note.partition(": ")
    if sep and (location := re.match(r"^(?P<path>[^\s:]+)(?P<numbers>(?::\d+)+)$", head)):
        return f"{relative(location['path'])}{location['numbers']}: {relative.text(rest)}"
    return relative.text(note)


def _place(diagnostic: Diagnostic) -> tuple:
    return (diagnostic.file, diagnostic.line or 0, diagnostic.column or 0, diagnostic.tool, diagnostic.message)


def _split_option(message: str) -> tuple[str, str]:
    """`message [-Wopt]` → (message, -Wopt): the first ` [-W` after the message's last inner `]`."""
    if not message.endswith("]"):
        return message, ""
    start = message.find(" [-W", message.rfind("]", 0, -1) + 1)
    if start < 0:
        return message, ""
    return message[:start], message[start + 2 : -1]


def _source_root(line: str) -> str | None:
    """The tree a make line names as `<tree>/Makefile:NNN` (or `<tree>/scripts/Makefile.build:NNN`):
    in the first word holding one, from its first `/` to the nearest such ending (at least `/x` long)."""
    for word in line.split():
        start = word.find("/")
        if start >= 0 and (end := SOURCE_ROOT_END.search(word, start + 2)) is not None:
            return word[start : end.start()]
    return None


def _explains(kind: str, record: Diagnostic, line: str) -> bool:
    """Lines modpost and Kconfig print under a record to explain it: its notes (True: taken)."""
    if (kind == "modpost" and ": " not in line and not line.startswith(("make", " "))) or (kind == "kconfig" and line.startswith("  ")):
        record.notes.append(line.strip())  # "Set CONFIG_SECTION_MISMATCH_WARN_ONLY=y to allow them.", Kconfig's details
        return True
    if kind == "cycle" and ((link := KCONFIG_CYCLE.match(line)) is not None or line.startswith(KCONFIG_CYCLE_ADVICE)):
        record.notes.append(f"{link['where']}: {link['link']}" if link else line.strip())  # the cycle, symbol by symbol
        return True
    return False


def _above_target(root: str, line: str) -> str:
    """The tree a subdirectory's Makefile lies in: `[<tree>/arch/arm64/kvm/hyp/nvhe/Makefile:44:
    arch/arm64/kvm/hyp/nvhe/hyp-main.nvhe.o]` names the target from the tree, so the directories the
    root and the target's path share at its end are the tree's own, never part of its root."""
    start = line.find("*** [")
    if start < 0 or (error := MAKE_ERROR.match(line[start + 4 :])) is None:
        return root
    directories = error["target"].split("/")[:-1]
    if ".." in directories:
        directories = directories[: directories.index("..")]
    for count in range(len(directories), 0, -1):
        below = "/" + "/".join(directories[:count])
        if root.endswith(below) and len(root) > len(below):
            return root[: -len(below)]
    return root


def _constant_prefix(sample: list[str]) -> str | None:
    """The text most of the sample's lines start with, when it ends in a mark and a space and is no
    start a build log has of itself (`make[1]: `, `gcc `): what a script wrote before every line."""
    counts: dict[str, int] = {}
    for line in sample:
        if line[:1].isspace() or line.startswith(OWN_STARTS):
            continue
        for end in CONSTANT_PREFIX_END.finditer(line, 0, 64):
            counts[line[: end.end()]] = counts.get(line[: end.end()], 0) + 1
    common = [prefix for prefix, n in counts.items() if n >= PREFIX_SHARE * len(sample)]
    return max(common, key=len, default=None)


def _plain_option(option: str) -> str:
    """-Werror=unused-variable and -Werror,-Wunused-variable both name -Wunused-variable."""
    if not option:
        return ""
    if option.startswith("-Werror="):
        return "-W" + option[len("-Werror=") :]
    return option.split(",")[-1]


def _unquote(name: str) -> str:
    return name.strip("'\u2018\u2019`")


def _anchor(line: str) -> bool:
    """Lines that start something of their own, so they are never taken for a clang excerpt."""
    return bool(
        DIAG.match(line)
        or line.startswith(("In file included from", "make", "WARNING:", "ERROR:", "ld", ">>> "))
        or GENERATED.match(line)
        or CONTEXT.match(line)
        or TOOL_DIAG.match(line)
        or LLD_DIAG.match(line)
    )
