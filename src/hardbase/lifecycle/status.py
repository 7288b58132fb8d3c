"""The fleet's state for people: per image the published digest, open findings, last rebuild
and remediation times (fix first seen -> published: last, p50, p95)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hardbase.lifecycle.jobplan import JobPlan
from hardbase.lifecycle.state import FINAL, StateDB
from hardbase.util import clock

PASS_EVENT = "pass"  # the controller records one at the end of every pass


@dataclass(frozen=True)
class Remediation:
    count: int = 0
    last: float | None = None
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class ImageStatus:
    name: str
    tags: tuple[str, ...]
    digest: str
    published_at: str
    findings: dict[str, int]
    last_job: int | None
    last_state: str
    last_reason: str
    last_error: str
    pending_jobs: int
    remediation: Remediation = field(default_factory=Remediation)
    last_fixes: tuple[str, ...] = ()  # the fixable finding ids the last job removes
    last_changes: tuple[str, ...] = ()  # its package moves: `name old -> new`

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Passes:
    """When the controller last ran a pass over the fleet, and when the next one is due."""

    last_started: str = ""
    last_finished: str = ""
    seconds: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    next_due: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def passes(state: StateDB, interval: float | None = None) -> Passes:
    """The last recorded pass and the next one: its end plus the interval (the fleet's, or the
    one the controller recorded)."""
    recorded = state.events(image="*", kind=PASS_EVENT)
    if not recorded:
        return Passes()
    last = recorded[-1].detail
    started, finished = float(last.get("started", 0)), float(last.get("finished", 0))
    every = interval if interval is not None else float(last.get("interval", 0) or 0)
    return Passes(
        last_started=_when(started),
        last_finished=_when(finished),
        seconds=round(finished - started, 3),
        outcomes={str(k): int(v) for k, v in dict(last.get("outcomes", {})).items()},
        next_due=_when(finished + every) if every else "",
    )


def _fixes(plan: Mapping[str, Any]) -> tuple[str, ...]:
    return JobPlan.from_json(plan).fixed_ids()


def _changes(plan: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(c.describe() for c in JobPlan.from_json(plan).changes)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return clock.rfc3339(ts)


def fleet_status(state: StateDB, names: Iterable[str] | None = None) -> list[ImageStatus]:
    """The status of every image in the state database (or of `names`, in that order)."""
    known = {i.name: i for i in state.images()}
    order = list(names) if names is not None else sorted(known)
    out: list[ImageStatus] = []
    for name in order:
        image = known.get(name)
        jobs = state.jobs(image=name)
        last = jobs[-1] if jobs else None
        times = state.remediation_times(name)
        out.append(
            ImageStatus(
                name=name,
                tags=image.tags if image else (),
                digest=image.digest if image else "",
                published_at=_when(image.published_at if image else None),
                findings=dict(image.findings) if image else {},
                last_job=last.id if last else None,
                last_state=last.state if last else "",
                last_reason=last.reason if last else "",
                last_error=last.error if last else "",
                pending_jobs=sum(1 for j in jobs if j.state not in FINAL),
                remediation=Remediation(
                    len(times),
                    times[-1] if times else None,
                    percentile(times, 50),
                    percentile(times, 95),
                ),
                last_fixes=_fixes(last.plan) if last else (),
                last_changes=_changes(last.plan) if last else (),
            )
        )
    return out


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def render_passes(info: Passes) -> str:
    """One line: the last pass (when, how long, what it did) and when the next is due."""
    if not info.last_finished:
        return "passes: none recorded yet\n"
    did = ", ".join(f"{n} {r}" for r, n in sorted(info.outcomes.items())) or "nothing to do"
    line = f"last pass: {info.last_finished} ({_seconds(info.seconds)}; {did})"
    return line + (f"; next pass due: {info.next_due}" if info.next_due else "") + "\n"


def render_table(statuses: Sequence[ImageStatus]) -> str:
    """A plain-text table, one image a row, with the last rebuild's reason under it."""
    header = (
        "IMAGE",
        "DIGEST",
        "PUBLISHED",
        "OPEN FINDINGS",
        "LAST JOB",
        "REMEDIATION last/p50/p95",
    )
    rows: list[tuple[str, ...]] = []
    for s in statuses:
        findings = ", ".join(f"{k} {v}" for k, v in sorted(s.findings.items()) if v) or "none"
        job = f"#{s.last_job} {s.last_state}" if s.last_job else "-"
        if s.pending_jobs:
            job += f" ({s.pending_jobs} pending)"
        r = s.remediation
        rows.append(
            (
                s.name,
                s.digest[:19] if s.digest else "-",
                s.published_at or "-",
                findings,
                job,
                f"{_seconds(r.last)}/{_seconds(r.p50)}/{_seconds(r.p95)}",
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for s, row in zip(statuses, rows, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if s.last_reason:
            why = s.last_reason + (f" — {s.last_error}" if s.last_error else "")
            lines.append(f"    why: {why}")
        if s.last_fixes:
            lines.append(f"    fixes: {', '.join(s.last_fixes)}")
        if s.last_changes:
            more = f" and {len(s.last_changes) - 8} more" if len(s.last_changes) > 8 else ""
            lines.append(f"    changes: {', '.join(s.last_changes[:8])}{more}")
    return "\n".join(lines) + "\n"
