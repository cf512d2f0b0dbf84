"""accepted: the file of findings a maintainer accepted as known, and how a result is marked by it."""

import pytest

from orchestrator import accepted
from orchestrator.errors import MatrixError
from orchestrator.models import Diagnostic

TRAP = "x86_64-i386|struct kvm_run|system_event.flags|alignment"
XFRM = "x86_64-i386|struct xfrm_usersa_info||tail padding"


def finding(fingerprint: str, severity: str = "error", message: str = "struct t: size 16 on x86_64, 12 on i386") -> Diagnostic:
    return Diagnostic(severity, "include/uapi/linux/t.h", 12, None, message, tool="uapi-abi", fingerprint=fingerprint)


def test_a_units_findings_become_one_tab_separated_line_each_in_a_stable_order():
    found = [finding(XFRM), finding(TRAP), finding(XFRM), finding("n", severity="note")]
    assert accepted.lines("uapi-abi-x86_64-i386", found) == [
        f"uapi-abi-x86_64-i386\t{TRAP}\tinclude/uapi/linux/t.h:12: error: struct t: size 16 on x86_64, 12 on i386",
        f"uapi-abi-x86_64-i386\t{XFRM}\tinclude/uapi/linux/t.h:12: error: struct t: size 16 on x86_64, 12 on i386",
    ]  # a note needs no acceptance; the same fingerprint twice is one line


def test_what_is_written_reads_back_as_each_units_fingerprints():
    text = accepted.merged("", {"uapi-abi-x86_64-i386": accepted.lines("uapi-abi-x86_64-i386", [finding(XFRM)])}, "orchestrate accept 1451fda175bf")
    assert text.startswith(accepted.HEADER) and "# orchestrate accept 1451fda175bf\n" in text
    assert accepted.parse(text, "configs/accepted.txt") == {"uapi-abi-x86_64-i386": frozenset({XFRM})}


def test_accepting_again_replaces_only_the_units_accepted_now():
    first = accepted.merged("", {"a": ["a\tf1\tx"], "b": ["b\tf2\ty"]}, "first")
    again = accepted.merged(first, {"a": ["a\tf3\tz"]}, "again")
    assert accepted.parse(again, "f") == {"a": frozenset({"f3"}), "b": frozenset({"f2"})}


def test_a_tab_or_newline_in_a_message_cannot_split_a_line():
    [line] = accepted.lines("u", [finding("f", message="a\tb\nc")])
    assert line == "u\tf\tinclude/uapi/linux/t.h:12: error: a b c"


def test_a_broken_line_is_one_error_naming_its_file_and_line():
    with pytest.raises(MatrixError, match=r"^configs/accepted.txt:3: expected `<cell or check>\\t<fingerprint>\\t<finding>`"):
        accepted.parse("# comment\nu\tf\tshown\nu f shown\n", "configs/accepted.txt")


def test_a_missing_file_accepts_nothing(tmp_path):
    assert accepted.load(tmp_path / "accepted.txt") == {}


def test_marking_makes_accepted_errors_and_warnings_known_and_leaves_the_rest():
    found = [finding(XFRM), finding(TRAP), finding(XFRM, severity="note")]
    marked = accepted.mark(found, frozenset({XFRM}))
    assert [d.known for d in marked] == [True, False, False]
    assert accepted.mark(found, frozenset()) is found


def test_a_build_accepts_warnings_only():
    """An error stopped the build: accepting it would hide that the commit does not build."""
    found = [finding("e"), finding("w", severity="warning")]
    assert [d.known for d in accepted.mark(found, frozenset({"e", "w"}), ("warning",))] == [False, True]
