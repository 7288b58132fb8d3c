"""`python3 paused_publish.py POINT MARKER ARGS…`: `hardbase ARGS…` whose archive publish stops
for good at POINT, after writing "POINT PID" to MARKER, so a crash-safety test can SIGKILL it.

POINT is where in hardbase.repo.publish:
- `index`: the new generation's first index set (Packages in every compression) is written,
  the others (Sources, Release, InRelease) are not;
- `copy`: the new index is signed and checked, the first pool file is copied to its temp
  file (`.NAME.*.tmp`), not yet renamed into place;
- `pool`: the new index is signed and checked, the first pool file is written, the others not;
- `switch`: every pool file and the signed InRelease are written, the suite is not yet
  switched to them.

A test wrapper, not part of hardbase: it wraps the publish's own steps in this process
instead of production code reading a test variable. Works for `repo publish` and for
`patch build --repo` alike.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardbase.cli.main import main
from hardbase.repo import publish


def _pause(point: str, marker: Path) -> None:
    marker.write_text(f"{point} {os.getpid()}\n")
    while True:  # until the test kills the process
        time.sleep(3600)


def run(argv: list[str]) -> int:
    point, marker_name, *args = argv
    marker = Path(marker_name)
    if point == "index":
        write_index = publish._write_index

        def first_index_then_pause(*a: Any, **kw: Any) -> Any:
            out = write_index(*a, **kw)
            _pause(point, marker)
            return out

        publish._write_index = first_index_then_pause  # type: ignore[assignment]
    elif point == "copy":
        file_hash = publish.file_hash

        def hash_then_pause(path: Path, *a: Any, **kw: Any) -> Any:
            out = file_hash(path, *a, **kw)
            if path.name.endswith(".tmp"):  # _copy_to_pool checking its temp copy
                _pause(point, marker)
            return out

        publish.file_hash = hash_then_pause  # type: ignore[assignment]
    elif point == "pool":
        copy = publish._copy_to_pool

        def first_file_then_pause(*a: Any, **kw: Any) -> None:
            copy(*a, **kw)
            _pause(point, marker)

        publish._copy_to_pool = first_file_then_pause  # type: ignore[assignment]
    elif point == "switch":
        write_suite = publish._write_suite

        def pause_before_switch(*a: Any, before_switch: Callable[[], None], **kw: Any) -> Any:
            def then_pause() -> None:
                before_switch()
                _pause(point, marker)

            return write_suite(*a, before_switch=then_pause, **kw)

        publish._write_suite = pause_before_switch  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown point {point!r}: index, copy, pool or switch")
    return main(args)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
