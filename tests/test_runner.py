"""The runner's pure parts: what a running build is doing, and how the cores are shared."""

from pathlib import Path

from orchestrator import runner

DATA = Path(__file__).resolve().parent / "data" / "builds"


def read(name: str, file: str) -> str:
    return (DATA / name / file).read_text()


def test_current_step_follows_the_commands_tuxmake_logs():
    log = read("riscv-gcc-defconfig+kvm", "build.log")
    lines = log.splitlines()

    def upto(text: str) -> str:
        return "\n".join(lines[: next(i for i, line in enumerate(lines) if text in line) + 1])

    assert runner.current_step(lines[0]) == ""
    assert runner.current_step(upto("' defconfig")) == "defconfig"
    assert runner.current_step(upto("merge_config.sh")) == "merge fragments"
    assert runner.current_step(log) == "arch/riscv/kvm/"


def test_schedule_splits_cores_between_cells():
    assert runner.schedule(cells=9, cores=2) == runner.Schedule(workers=2, jobs=2)
    assert runner.schedule(cells=1, cores=2) == runner.Schedule(workers=1, jobs=2)
    assert runner.schedule(cells=9, cores=2, jobs=1) == runner.Schedule(workers=2, jobs=1)
    assert runner.schedule(cells=9, cores=8, workers=3) == runner.Schedule(workers=3, jobs=8)
