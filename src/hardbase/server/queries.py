"""Read-only queries the service makes on the controller's state database.

The controller's own reads (`StateDB.images()`, `jobs(image)`) go one image at a
time; a dashboard over hundreds of images needs a handful of set queries
instead, and pages of events and jobs by cursor (newest first, `before` an id).
Nothing here writes.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hardbase.lifecycle.state import (
    FAILED,
    FINAL,
    PUBLISHED,
    Event,
    ImageState,
    Job,
    StateDB,
    events_t,
    fixes_t,
    images_t,
    jobs_t,
)
from hardbase.lifecycle.status import percentile

DAY = 86400.0


@dataclass(frozen=True)
class ImageSummary:
    """One image of the overview."""

    name: str
    tags: tuple[str, ...]
    digest: str
    lock_hash: str
    published_at: float | None
    checked_at: float | None
    findings_by_status: dict[str, int]
    last_job: Job | None
    pending_jobs: int
    remediation: list[float]
    fix_waiting_since: float | None  # first seen of the oldest fix not yet published

    @property
    def p50(self) -> float | None:
        return percentile(self.remediation, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.remediation, 95)

    @property
    def status(self) -> str:
        """green: published, nothing fixable open; amber: a fix waits or a job runs;
        red: the last job failed; grey: never published."""
        if self.last_job is not None and self.last_job.state == FAILED:
            return "red"
        if not self.digest:
            return "grey"
        if self.findings_by_status.get("fixable", 0) or self.pending_jobs:
            return "amber"
        return "green"


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_before: int | None  # the cursor of the next (older) page, None at the end


@dataclass
class Snapshot:
    """Everything the overview shows, read in one go."""

    images: list[ImageSummary]
    taken: float = field(default_factory=time.time)


def _job_from(r: Any) -> Job:
    return StateDB._job_from(r)


def _image_from(r: Any) -> ImageState:
    return StateDB._image_from(r)


def _event_from(r: Any) -> Event:
    return Event(r.id, r.ts, r.image, r.job, r.kind, json.loads(r.detail or "{}"))


def version(state: StateDB) -> tuple[Any, ...]:
    """Changes whenever what the overview shows changes: every state change writes an
    event, and each pass updates the images' checked time."""
    with state.store.connect("reading the state database failed") as conn:
        last_event = conn.execute(sa.select(sa.func.max(events_t.c.id))).scalar()
        checked = conn.execute(
            sa.select(sa.func.max(images_t.c.checked_at), sa.func.count()).select_from(images_t)
        ).one()
    return (last_event, checked[0], checked[1])


def snapshot(state: StateDB, names: Sequence[str] | None = None) -> Snapshot:
    """Every image (or `names`, in that order) with its last job, pending jobs and fixes."""
    with state.store.connect("reading the state database failed") as conn:
        images = {r.name: _image_from(r) for r in conn.execute(sa.select(images_t)).all()}
        last_ids = sa.select(sa.func.max(jobs_t.c.id)).group_by(jobs_t.c.image).scalar_subquery()
        last = {
            r.image: _job_from(r)
            for r in conn.execute(sa.select(jobs_t).where(jobs_t.c.id.in_(last_ids))).all()
        }
        pending: dict[str, int] = dict(
            conn.execute(
                sa.select(jobs_t.c.image, sa.func.count())
                .where(jobs_t.c.state.not_in(list(FINAL)))
                .group_by(jobs_t.c.image)
            ).all()
        )
        times: dict[str, list[float]] = defaultdict(list)
        for r in conn.execute(
            sa.select(fixes_t.c.image, sa.func.min(fixes_t.c.first_seen), fixes_t.c.published_at)
            .where(fixes_t.c.published_at.is_not(None))
            .group_by(fixes_t.c.image, fixes_t.c.job, fixes_t.c.published_at)
            .order_by(fixes_t.c.published_at)
        ).all():
            times[r[0]].append(float(r[2]) - float(r[1]))
        waiting = dict(
            conn.execute(
                sa.select(fixes_t.c.image, sa.func.min(fixes_t.c.first_seen))
                .where(fixes_t.c.published_at.is_(None))
                .group_by(fixes_t.c.image)
            ).all()
        )
    order = list(names) if names is not None else sorted(images)
    out = []
    for name in order:
        image = images.get(name)
        out.append(
            ImageSummary(
                name=name,
                tags=image.tags if image else (),
                digest=image.digest if image else "",
                lock_hash=image.lock_hash if image else "",
                published_at=image.published_at if image else None,
                checked_at=image.checked_at if image else None,
                findings_by_status=dict(image.findings) if image else {},
                last_job=last.get(name),
                pending_jobs=int(pending.get(name, 0)),
                remediation=times.get(name, []),
                fix_waiting_since=waiting.get(name),
            )
        )
    return Snapshot(out)


def events_page(
    state: StateDB,
    *,
    image: str | None = None,
    kinds: Sequence[str] = (),
    since: float | None = None,
    until: float | None = None,
    job: int | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> Page:
    """Events newest first (`before` an id), or oldest first after an id (`after`, for the
    live stream)."""
    query = sa.select(events_t)
    if image is not None:
        query = query.where(events_t.c.image == image)
    if kinds:
        query = query.where(events_t.c.kind.in_(list(kinds)))
    if since is not None:
        query = query.where(events_t.c.ts >= since)
    if until is not None:
        query = query.where(events_t.c.ts < until)
    if job is not None:
        query = query.where(events_t.c.job == job)
    if after is not None:
        query = query.where(events_t.c.id > after).order_by(events_t.c.id)
    else:
        if before is not None:
            query = query.where(events_t.c.id < before)
        query = query.order_by(events_t.c.id.desc())
    with state.store.connect("reading the state database failed") as conn:
        rows = conn.execute(query.limit(limit + 1)).all()
    items = [_event_from(r) for r in rows[:limit]]
    more = len(rows) > limit and after is None
    return Page(items, items[-1].id if more and items else None)


def jobs_page(
    state: StateDB,
    *,
    image: str | None = None,
    states: Sequence[str] = (),
    before: int | None = None,
    limit: int = 50,
) -> Page:
    query = sa.select(jobs_t)
    if image is not None:
        query = query.where(jobs_t.c.image == image)
    if states:
        query = query.where(jobs_t.c.state.in_(list(states)))
    if before is not None:
        query = query.where(jobs_t.c.id < before)
    with state.store.connect("reading the state database failed") as conn:
        rows = conn.execute(query.order_by(jobs_t.c.id.desc()).limit(limit + 1)).all()
    items = [_job_from(r) for r in rows[:limit]]
    return Page(items, items[-1].id if len(rows) > limit and items else None)


def last_event_id(state: StateDB) -> int:
    with state.store.connect("reading the state database failed") as conn:
        return int(conn.execute(sa.select(sa.func.max(events_t.c.id))).scalar() or 0)


def digest_history(state: StateDB, image: str, limit: int = 100) -> list[Event]:
    """The image's publishes, newest first."""
    return events_page(state, image=image, kinds=[PUBLISHED], limit=limit).items


def findings_timeline(state: StateDB, image: str, limit: int = 100) -> list[Event]:
    """What each verified build of the image had open, and when fixes were seen, newest first."""
    return events_page(
        state, image=image, kinds=["verified", "fix-seen", "gate-failed"], limit=limit
    ).items


@dataclass(frozen=True)
class Remediated:
    image: str
    job: int | None
    published_at: float
    seconds: float


def remediations(state: StateDB, since: float) -> list[Remediated]:
    """Each publish since `since` that fixed something, with its remediation time."""
    with state.store.connect("reading the state database failed") as conn:
        rows = conn.execute(
            sa.select(
                fixes_t.c.image,
                fixes_t.c.job,
                sa.func.min(fixes_t.c.first_seen),
                fixes_t.c.published_at,
            )  # fmt: skip
            .where(fixes_t.c.published_at >= since)
            .group_by(fixes_t.c.image, fixes_t.c.job, fixes_t.c.published_at)
            .order_by(fixes_t.c.published_at)
        ).all()
    return [Remediated(r[0], r[1], float(r[3]), float(r[3]) - float(r[2])) for r in rows]


def job_counts(state: StateDB) -> dict[str, int]:
    """Jobs by state."""
    with state.store.connect("reading the state database failed") as conn:
        rows = conn.execute(
            sa.select(jobs_t.c.state, sa.func.count()).group_by(jobs_t.c.state)
        ).all()
    return {str(r[0]): int(r[1]) for r in rows}


def ping(state: StateDB) -> None:
    """Raises StateError when the database cannot be reached."""
    with state.store.connect("the state database cannot be reached") as conn:
        conn.execute(sa.select(1))
