"""What a controller pass did: one outcome per image, and the pass's warnings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What a pass did for one image."""

    image: str
    result: str  # published | failed | unchanged | pending | error | superseded
    job: int | None = None
    digest: str = ""
    reason: str = ""
    error: str = ""


@dataclass
class PassReport:
    started: float
    finished: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)
