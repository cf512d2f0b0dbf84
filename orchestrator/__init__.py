"""orchestrator: a build-matrix CI for the Linux kernel, on top of tuxmake."""

__version__ = "0.1.0"
