"""`python3 paused_watch.py POINT MARKER ARGS…`: `hardbase ARGS…` whose controller stops for good
at the job hook POINT (`build`, `push` or `tag`; see `hardbase.lifecycle.jobs.JobHooks`),
after writing "POINT PID" to MARKER, so a crash-safety test can SIGKILL it there.

A test wrapper, not part of hardbase: it gives every Controller the command makes a
hook that pauses, instead of production code reading a test variable.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from hardbase.cli.main import main
from hardbase.lifecycle import controller
from hardbase.lifecycle.jobs import JobHooks


class PauseAt(JobHooks):
    def __init__(self, point: str, marker: Path) -> None:
        self.point = point
        self.marker = marker

    def reached(self, point: str) -> None:
        if point != self.point:
            return
        self.marker.write_text(f"{point} {os.getpid()}\n")
        while True:  # until the test kills the process
            time.sleep(3600)


def run(argv: list[str]) -> int:
    point, marker, *args = argv
    hooks = PauseAt(point, Path(marker))
    plain = controller.Controller.__init__

    def with_hooks(self: controller.Controller, *a: Any, **kw: Any) -> None:
        kw.setdefault("hooks", hooks)
        plain(self, *a, **kw)

    controller.Controller.__init__ = with_hooks  # type: ignore[method-assign]
    return main(args)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
