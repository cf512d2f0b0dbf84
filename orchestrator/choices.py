"""The fixed choices the matrix, the library and the command line share, in a module that imports
nothing: the command line offers them before it loads any machinery (`orchestrate --help` stays fast).
"""

from pathlib import Path

# The four arches this project exists for come first in error messages and choices; tuxmake knows the rest.
MAIN_ARCHES = ("x86_64", "i386", "arm64", "riscv")
# tuxmake's runtimes; auto: podman where it can run the cell's image here, else null (and it says so).
RUNTIMES = ("null", "podman", "docker", "podman-local", "docker-local", "auto")
DEFAULT_MAX_COMMITS = 20  # per branch, for a nightly that builds each new commit
DEFAULT_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")  # Debian's linux-source-6.1: the demo tree
