"""Shared helpers for the benchmarks."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    name: str
    value: float
    unit: str
    note: str = ""

    def line(self) -> str:
        return f"   {self.name:<58} {self.value:>10.3f} {self.unit:<4} {self.note}"


def every_run(times: dict[str, list[float]]) -> list[Result]:
    """One line per measured case: its median, then every run in the order run."""
    return [
        Result(f"  {name}: median, then every run", statistics.median(values), "s",
               " ".join(f"{v:.3f}" for v in values))
        for name, values in times.items()
        if values
    ]  # fmt: skip


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Median wall time of `repeat` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sh(*args: str | Path, env: dict[str, str] | None = None, quiet: bool = True) -> str:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [str(a) for a in args],
        env=full_env,
        check=True,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    return proc.stdout
