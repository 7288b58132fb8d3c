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


@dataclass(frozen=True)
class PatchedCVE:
    """A CVE hardbase patched from source: where the fix came from and how long it took."""

    cve: str
    package: str  # the source package
    base_version: str  # Debian's version it was rebuilt from
    version: str  # the rebuild (`+hbN`)
    origin: str  # where the patch came from (patches-dir FILE, or a newer Debian suite's)
    images: tuple[str, ...]  # the images that took the rebuild
    first_seen: str  # the first `patch-candidate`
    published_at: str  # when the last of those images was published with it ("" pending)
    seconds: float | None  # first seen -> published: the remediation time
    retired: bool  # Debian shipped its own fix and the images went back to it
    debian_version: str = ""  # the Debian version that retired it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DebianFixed:
    """A fix Debian shipped that an image took: its clock from first seen to published."""

    fix: str  # ID:PACKAGE
    image: str
    published_at: str
    seconds: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def patched(state: StateDB) -> list[PatchedCVE]:
    """Every CVE the patch loop built a rebuild for, with its clock (lifecycle.patchjobs)."""
    from hardbase.lifecycle.patchjobs import FIX_PREFIX
    from hardbase.lifecycle.state import PatchState

    out = []
    done = (PatchState.PUBLISHED, PatchState.RETIRED)
    for job in state.patch_jobs(states=done):
        retired = {}
        if job.state == PatchState.RETIRED:
            events = [e for e in state.events(image=f"patch:{job.source}", kind="patch-retired")
                      if e.detail.get("patch_job") == job.id]  # fmt: skip
            retired = dict(events[-1].detail) if events else {}
        origins = job.detail.get("origins", {})
        fixed = job.detail.get("fixes", list(job.cves))
        for cve in fixed:
            key = f"{FIX_PREFIX}:{job.id}:{cve}"
            taken = [t for t in state.fixes(key) if t[1] == key]
            seen = state.patch_first_seen(cve, job.source, job.base_version) or job.created_at
            times = [p for _, _, _, p in taken if p is not None]
            last = max(times) if taken and len(times) == len(taken) else None  # all published
            origin = origins.get(cve, {}) if isinstance(origins, dict) else {}
            out.append(
                PatchedCVE(
                    cve=cve,
                    package=job.source,
                    base_version=job.base_version,
                    version=job.version,
                    origin=f"{origin.get('kind', '')}: {origin.get('origin', '')}".strip(": "),
                    images=tuple(sorted({i for i, _, _, _ in taken})),
                    first_seen=_when(seen),
                    published_at=_when(last),
                    seconds=None if last is None else last - seen,
                    retired=job.state == PatchState.RETIRED,
                    debian_version=str(retired.get("debian_version", "")),
                )  # fmt: skip
            )
    return out


def debian_fixed(state: StateDB) -> list[DebianFixed]:
    """The fixes of Debian's own packages the images were published with, oldest first."""
    out = []
    for image, key, seen, published in state.fixes("finding:"):
        if published is not None:
            fix = key.removeprefix("finding:").replace(":", " in ", 1)
            out.append(DebianFixed(fix, image, _when(published), published - seen))
    return out


def render_patched(rows: Sequence[PatchedCVE], fixed: Sequence[DebianFixed]) -> str:
    """The patched CVEs (hardbase's rebuilds), then the Debian-fixed ones, with their clocks."""
    lines = []
    if rows:
        lines.append("patched from source (hardbase's rebuilds):")
        for r in rows:
            state = f"retired by Debian's {r.debian_version}" if r.retired else "in use"
            lines.append(
                f"  {r.cve}  {r.package} {r.version}  {_seconds(r.seconds)} to publish  "
                f"{state}  ({r.origin}; {', '.join(r.images) or 'no image yet'})"
            )
    if fixed:
        lines.append("fixed by Debian:")
        for f in fixed:
            lines.append(f"  {f.fix}  {f.image}  {_seconds(f.seconds)} to publish")
    return "\n".join(lines) + "\n" if lines else ""


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
