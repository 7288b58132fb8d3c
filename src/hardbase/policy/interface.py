"""The rule interface: what a rule sees (`Subject`), what it says (`RuleResult`), and the
all-of / any-of composites. An empty composite fails rather than passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol

from hardbase.evaluate.facts import ImageFacts
from hardbase.evaluate.measure import Artifacts, DistroSupport, FixAge
from hardbase.vuln.match import Finding
from hardbase.vuln.scan import ScanResult

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict on one image, with the reason a person should read."""

    rule: str
    ok: bool
    reason: str
    level: Level = "error"  # a failed "warning" does not fail the check
    details: tuple[str, ...] = ()

    @property
    def blocking(self) -> bool:
        return not self.ok and self.level == "error"


@dataclass
class Subject:
    """What rules judge: the measured image and what was looked up about it."""

    facts: ImageFacts
    scan: ScanResult | None
    findings: tuple[Finding, ...]  # open findings after VEX and exceptions
    suppressed: tuple[tuple[Finding, str], ...]  # finding, by which exception or VEX
    fix_ages: tuple[FixAge, ...]
    artifacts: Artifacts
    support: DistroSupport
    today: date
    verify: Callable[[str], object] | None = None  # key path -> VerifyResult, cached
    notes: list[str] = field(default_factory=list)


class Rule(Protocol):
    """A policy rule: a name and a check."""

    @property
    def name(self) -> str: ...

    def check(self, subject: Subject) -> RuleResult: ...


@dataclass(frozen=True)
class AllOf:
    """Passes when every child passes (and there is at least one)."""

    name: str
    children: Sequence[Rule]

    def check(self, subject: Subject) -> RuleResult:
        if not self.children:
            return RuleResult(self.name, False, "the policy has no rules; an empty policy fails")
        results = [c.check(subject) for c in self.children]
        failed = [r for r in results if r.blocking]
        if failed:
            return RuleResult(
                self.name,
                False,
                f"{len(failed)} of {len(results)} rules failed",
                details=tuple(f"{r.rule}: {r.reason}" for r in failed),
            )
        return RuleResult(self.name, True, f"all {len(results)} rules passed")


@dataclass(frozen=True)
class AnyOf:
    """Passes when at least one child passes; an empty any-of fails."""

    name: str
    children: Sequence[Rule]

    def check(self, subject: Subject) -> RuleResult:
        if not self.children:
            return RuleResult(self.name, False, "no alternatives to satisfy; an empty any-of fails")
        results = [c.check(subject) for c in self.children]
        passed = [r for r in results if r.ok]
        if passed:
            return RuleResult(self.name, True, passed[0].reason)
        return RuleResult(
            self.name,
            False,
            "; ".join(r.reason for r in results),
            details=tuple(f"{r.rule}: {r.reason}" for r in results),
        )
