"""logparse: real build logs (tests/data/logs/, see README.md there) into exactly the expected records.

Each NAME.log was captured from a real tuxmake build of the demo tree with a breakage injected;
NAME.expected.json holds its diagnostics, checked by hand against the log.
"""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator import logparse
from orchestrator.models import Diagnostic

LOGS = Path(__file__).resolve().parent / "data" / "logs"
CORPUS = sorted(p.stem for p in LOGS.glob("*.log"))


def parsed(name: str, roots=()) -> list[Diagnostic]:
    with open(LOGS / f"{name}.log", "rb") as log:
        return logparse.parse(log, roots)


def expected(name: str) -> list[Diagnostic]:
    return [Diagnostic.from_dict(d) for d in json.loads((LOGS / f"{name}.expected.json").read_text())]


def test_the_corpus_is_there():
    assert len(CORPUS) >= 12, CORPUS
    for name in CORPUS:
        assert (LOGS / f"{name}.expected.json").exists(), f"{name}.log has no expected records"


@pytest.mark.parametrize("name", CORPUS)
def test_each_real_log_parses_to_exactly_its_expected_records(name):
    assert parsed(name) == expected(name)


@pytest.mark.parametrize("name", CORPUS)
def test_paths_are_tree_relative_whatever_root_the_build_used(name):
    """The same log written under a container mount point and another build directory parses the same."""
    text = (LOGS / f"{name}.log").read_bytes()
    roots = sorted(set(_roots(text)), key=len, reverse=True)
    moved = text
    for index, root in enumerate(roots):
        moved = moved.replace(root.encode(), f"/mnt/container{index}/src".encode())
    records = logparse.parse(moved.splitlines())
    assert records == expected(name)
    for record in records:
        assert not record.file.startswith("/"), record
        assert "/root/" not in record.message and "/mnt/" not in record.message, record


def _roots(text: bytes):
    for line in text.decode("utf-8", "replace").splitlines():
        if line.startswith("make --silent") and " O=" in line:
            yield line.split(" O=")[1].split()[0]
        if "/worktrees/" in line:
            start = line.index("/root/") if "/root/" in line else line.index("/")
            end = line.index("/", line.index("/worktrees/") + len("/worktrees/"))
            yield line[start:end]


def test_non_utf8_bytes_never_crash_and_survive_as_replacement_characters():
    # Plain make passes the compiler's bytes through: this log is not valid UTF-8.
    raw = (LOGS / "riscv-gcc-latin1-plain-make.log").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    (error,) = [d for d in parsed("riscv-gcc-latin1-plain-make") if d.severity == "error"]
    assert "caf\ufffd" in error.excerpt[0]
    # tuxmake (with the build's lenient pipes) writes the same line with U+FFFD already in it.
    (error,) = [d for d in parsed("riscv-gcc-latin1-source") if d.severity == "error"]
    assert "caf\ufffd" in error.excerpt[0]


def test_a_header_error_reached_from_many_files_is_one_record_with_a_count():
    for name in ("arm64-gcc-header-unknown-type", "arm64-clang-header-unknown-type"):
        (header,) = parsed(name)
        assert header.file == "arch/arm64/kvm/vgic/vgic.h"
        assert header.count == 14  # the log prints it once for each of the 14 files including vgic.h
        assert header.include_chain == ["arch/arm64/kvm/sys_regs.c:33"]


def test_fingerprint_ignores_line_and_column_but_not_the_file():
    (error,) = [d for d in parsed("riscv-gcc-missing-member") if d.severity == "error"]
    moved = replace(error, line=error.line + 3, column=1)
    assert logparse.fingerprint(moved) == error.fingerprint
    elsewhere = replace(error, file="arch/arm64/kvm/psci.c")
    assert logparse.fingerprint(elsewhere) != error.fingerprint


def test_fingerprints_are_the_same_in_gcc_and_clang_only_when_the_message_is():
    gcc = [d for d in parsed("riscv-gcc-missing-member") if d.severity == "error"]
    clang = [d for d in parsed("riscv-clang-missing-member") if d.severity == "error"]
    assert gcc[0].file == clang[0].file and gcc[0].fingerprint != clang[0].fingerprint


def test_streaming_keeps_one_record_per_distinct_problem():
    with open(LOGS / "arm64-gcc-header-unknown-type.log", "rb") as log:
        lines = log.readlines()
    parser = logparse.LogParser()
    for _ in range(50):
        for line in lines:
            parser.feed(line)
    once = parsed("arm64-gcc-header-unknown-type")
    fifty = parser.finish()
    assert [d.fingerprint for d in fifty] == [d.fingerprint for d in once]
    assert [d.count for d in fifty] == [50 * d.count for d in once]
