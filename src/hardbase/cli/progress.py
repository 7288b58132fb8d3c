"""A terminal progress counter with an ETA on stderr, for the library's Progress protocol.

On a terminal: `task [#####.....] n/total  ETA 1m05s`, redrawn in place. Elsewhere
(a log, CI): one line when a task starts, `task: n/total, ETA 1m05s` every
`every` seconds while it runs, and one when it ends, so a long step is never silent.

Tasks nest: a step that starts another (the npm install that first downloads
the build root's packages) gets its own label back when the inner one ends, so
every line names the step it belongs to.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Task:
    name: str
    total: int
    done: int
    started: float


def eta(done: int, total: int, elapsed: float) -> str:
    """The time left at the rate so far, as `1h02m`, `3m05s` or `42s`; `?` before any."""
    if done <= 0 or total <= 0 or elapsed <= 0:
        return "?"
    left = max(0.0, elapsed / done * (total - done))
    seconds = int(left + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class TerminalProgress:
    """Draws a counter with an ETA on stderr; on a non-terminal, a line every `every` s."""

    def __init__(
        self,
        enabled: bool = True,
        *,
        every: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.every = every
        self.clock = clock
        self.task = ""
        self.total = 0
        self.done = 0
        self.started = 0.0
        self._last = 0.0
        self._outer: list[_Task] = []  # tasks this one runs inside of, innermost last

    def start(self, task: str, total: int) -> None:
        if self.task:
            if self.tty and self.enabled:
                sys.stderr.write("\n")  # keep the outer task's line
            self._outer.append(_Task(self.task, self.total, self.done, self.started))
        self.task, self.total, self.done = task, total, 0
        self.started = self._last = self.clock()
        if self.enabled and not self.tty:
            count = f" ({total})" if total else ""
            print(f"hardbase: {task}{count}...", file=sys.stderr, flush=True)
        self._draw(force=True)

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self._draw()

    def finish(self) -> None:
        if self.enabled:
            elapsed = self.clock() - self.started
            if self.tty:
                self._draw(force=True)
                sys.stderr.write("\n")
            else:
                print(f"hardbase: {self.task}: done in {elapsed:.1f}s", file=sys.stderr, flush=True)
        if self._outer:
            outer = self._outer.pop()
            self.task, self.total, self.done, self.started = (
                outer.name, outer.total, outer.done, outer.started,
            )  # fmt: skip
        else:
            self.task = ""

    def _status(self) -> str:
        if not self.total:
            return f"{self.done}"
        left = eta(self.done, self.total, self.clock() - self.started)
        return f"{self.done}/{self.total}, ETA {left}"

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not self.tty:
            if self.total and now - self._last >= self.every and self.done < self.total:
                self._last = now
                print(f"hardbase: {self.task}: {self._status()}", file=sys.stderr, flush=True)
            return
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 30)
            text = f"\r{self.task} [{bar:<30}] {self._status().replace(', ', '  ')}\x1b[K"
        else:
            text = f"\r{self.task} ({now - self.started:.0f}s)\x1b[K"
        sys.stderr.write(text)
        sys.stderr.flush()
