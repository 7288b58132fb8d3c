"""A terminal progress bar on stderr for the library's Progress protocol."""

from __future__ import annotations

import sys
import time


class TerminalProgress:
    """Draws `task [#####.....] n/total` on stderr; on a non-terminal, one line per task."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.task = ""
        self.total = 0
        self.done = 0
        self.started = 0.0
        self._last = 0.0

    def start(self, task: str, total: int) -> None:
        self.task, self.total, self.done = task, total, 0
        self.started = time.monotonic()
        if self.enabled and not self.tty:
            print(f"hardbase: {task}...", file=sys.stderr, flush=True)
        self._draw(force=True)

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self._draw()

    def finish(self) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        if self.tty:
            self._draw(force=True)
            sys.stderr.write("\n")
        else:
            print(f"hardbase: {self.task}: done in {elapsed:.1f}s", file=sys.stderr, flush=True)

    def _draw(self, force: bool = False) -> None:
        if not (self.enabled and self.tty):
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 30)
            text = f"\r{self.task} [{bar:<30}] {self.done}/{self.total}"
        else:
            text = f"\r{self.task} {self.done}"
        sys.stderr.write(text)
        sys.stderr.flush()
