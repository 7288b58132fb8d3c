"""Start-up: the `hardbase` console script's whole process, `--version` and `--help`.

Median of 5, paired with the bare interpreter (`python -c pass`, the floor any
Python CLI pays, site-packages' .pth files included) run by turns: floor,
--version, --help, floor, … The goal is under 100 ms for both.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import Result

RUNS = 5


def _console_script() -> str:
    """The installed entry point beside this interpreter (not a pyenv shim, which adds its own)."""
    beside = Path(sys.executable).parent / "hardbase"
    return str(beside) if beside.exists() else shutil.which("hardbase") or "hardbase"


def _once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(work: Path) -> list[Result]:
    script = _console_script()
    cases = {
        "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        "hardbase --version": [script, "--version"],
        "hardbase --help": [script, "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv in cases.values():  # warm the page cache once
        _once(argv)
    for _ in range(RUNS):
        for name, argv in cases.items():
            times[name].append(_once(argv))
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians["python -c pass (interpreter floor)"]
    return [
        *(Result(f"{name} (median of {RUNS})", value, "s") for name, value in medians.items()),
        Result("hardbase --version above the floor", medians["hardbase --version"] - floor, "s"),
    ]
