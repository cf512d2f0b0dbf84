"""One build in a process of its own, for a caller that cannot have a process pool (a Dask worker is a
daemonic process, which multiprocessing refuses children) or must not run tuxmake in a thread.

`python -m orchestrator.executors.child PARENT_PID LOG REQUEST RESULT`: the pickled BuildRequest in the
file REQUEST, the pickled Finished (None: interrupted) written to RESULT. Like a local pool worker, the
process leads its own group and stops (make and compilers too) when PARENT_PID dies.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from . import local, run


def main(argv: list[str]) -> int:
    parent, log, request_file, result_file = argv
    local.start_worker(int(parent), log)
    request = pickle.loads(Path(request_file).read_bytes())
    finished = run(request)
    partial = Path(result_file + ".partial")
    partial.write_bytes(pickle.dumps(finished))
    os.replace(partial, result_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
