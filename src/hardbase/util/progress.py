"""Progress reporting without printing: the library calls a Progress, the CLI draws it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of a long task; `total` may be 0 when unknown."""

    def start(self, task: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """A Progress that shows nothing."""

    def start(self, task: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class Labelled:
    """A Progress that shows `label` for every task it is given (a step's own name for it)."""

    def __init__(self, inner: Progress, label: str) -> None:
        self.inner, self.label = inner, label

    def start(self, task: str, total: int) -> None:
        self.inner.start(self.label, total)

    def advance(self, amount: int = 1) -> None:
        self.inner.advance(amount)

    def finish(self) -> None:
        self.inner.finish()
