"""One cell's build: what a running build is doing, read from the log tuxmake writes."""

from pathlib import Path

from orchestrator import build

DATA = Path(__file__).resolve().parent / "data" / "builds"


def read(name: str, file: str) -> str:
    return (DATA / name / file).read_text()


def test_current_step_follows_the_commands_tuxmake_logs():
    log = read("riscv-gcc-defconfig+kvm", "build.log")
    lines = log.splitlines()

    def upto(text: str) -> str:
        return "\n".join(lines[: next(i for i, line in enumerate(lines) if text in line) + 1])

    assert build.current_step(lines[0]) == ""
    assert build.current_step(upto("' defconfig")) == "defconfig"
    assert build.current_step(upto("merge_config.sh")) == "merge fragments"
    assert build.current_step(log) == "arch/riscv/kvm/"
