"""How a cell's tuxmake build runs in a container engine on this machine.

- A local image (built by `orchestrate images build`, or pulled before) is used as it is: tuxmake's
  `podman-local` / `docker-local` runtimes never pull, so no registry is needed. Without one, tuxmake's
  `podman` / `docker` runtimes pull its published images, unchanged.
- tuxmake's podman runtime always passes `--userns=keep-id`, which podman accepts only rootless. Run as
  root, `--userns=host` (given later on the command line, so it wins) keeps the container's root the
  host's root, as the `null` runtime would be. Rootless runs keep keep-id.
- podman's default ulimits are above what this kind of machine allows a container, and rootless
  networking needs /dev/net/tun: builds run offline anyway, so `--network=none`.
- `auto` means podman where it can run the cell's image here, else the host toolchains, said once.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import subprocess
from functools import cache

from .images import image_name

ENGINES = ("podman", "docker")
EXTRA_OPTIONS = {"podman": "TUXMAKE_PODMAN_RUN", "docker": "TUXMAKE_DOCKER_RUN"}
NOFILE, NPROC = 1024, 4096  # what containers were allowed here; lowered further to the host's own
USER_OPTIONS = os.environ.get(EXTRA_OPTIONS["podman"], "")  # as the run started, before we add ours


def engine(runtime: str) -> str | None:
    """podman or docker for a container runtime (podman-local too), None for null."""
    name = runtime.removesuffix("-local")
    return name if name in ENGINES else None


def run_options(euid: int, nofile: int, nproc: int) -> list[str]:
    """The extra `podman run` options (pure): root keeps host ids, limits no higher than allowed."""
    options = ["--userns=host"] if euid == 0 else []
    nofile, nproc = min(NOFILE, nofile), min(NPROC, nproc)
    return options + [f"--ulimit=nofile={nofile}:{nofile}", f"--ulimit=nproc={nproc}:{nproc}", "--network=none"]


def _soft_limit(which: int) -> int:
    soft, _ = resource.getrlimit(which)
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


def environment(runtime: str) -> dict[str, str]:
    """Environment for tuxmake: our run options first, the user's own TUXMAKE_PODMAN_RUN after (theirs win)."""
    if engine(runtime) != "podman":
        return {}
    ours = run_options(os.geteuid(), _soft_limit(resource.RLIMIT_NOFILE), _soft_limit(resource.RLIMIT_NPROC))
    return {EXTRA_OPTIONS["podman"]: " ".join([shlex.join(ours), USER_OPTIONS]).strip()}


def has_image(runtime: str, image: str) -> bool:
    command = engine(runtime)
    if command is None or shutil.which(command) is None:
        return False
    return subprocess.run([command, "image", "inspect", image], capture_output=True).returncode == 0


def tuxmake_runtime(runtime: str, arch: str, toolchain: str) -> str:
    """The tuxmake runtime that builds the cell: `podman-local` when its image is here already."""
    if runtime in ENGINES and has_image(runtime, image_name(arch, toolchain)):
        return f"{runtime}-local"
    return runtime


@cache  # a probe starts a container: once per image per process
def why_not(runtime: str, arch: str, toolchain: str) -> str | None:
    """None when the engine can run the cell's image here; else why not, in a few words."""
    command = engine(runtime)
    if command is None or shutil.which(command) is None:
        return f"{runtime} is not installed"
    image = image_name(arch, toolchain)
    if not has_image(runtime, image):
        return f"no image {image} (orchestrate images build makes it)"
    probe = subprocess.run(
        [command, "run", "--rm", *shlex.split(environment(runtime).get(EXTRA_OPTIONS.get(command, ""), "")), image, "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        return f"{command} cannot run containers here: {lines[-1] if lines else f'exit {probe.returncode}'}"
    return None
