#!/usr/bin/env python3
"""`make bench`: runs every bench/bench_*.py and prints times and ratios.

Each module has `run(work: Path) -> list[Result]`; peers are measured in the
same run so ratios compare like with like on this machine. Results are also
written to bench/results.json; docs/benchmarks.md records them with the command.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Result  # noqa: E402


def main(argv: list[str]) -> int:
    only = set(argv[1:])
    here = Path(__file__).parent
    modules = sorted(p.stem for p in here.glob("bench_*.py"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="hardbase-bench-") as tmp:
        for name in modules:
            if only and name.removeprefix("bench_") not in only:
                continue
            print(f"== {name}", flush=True)
            start = time.monotonic()
            mod = importlib.import_module(name)
            work = Path(tmp) / name
            work.mkdir()
            for result in mod.run(work):
                print(result.line(), flush=True)
                results.append(result)
            print(f"   ({time.monotonic() - start:.0f} s)", flush=True)
    (here / "results.json").write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
