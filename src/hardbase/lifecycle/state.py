"""The controller's state: images, locks, jobs with leases, fixes and the append-only event log.

SQLAlchemy Core over SQLite (default) or PostgreSQL. A job is keyed by image +
lock hash (its idempotency key), so the same rebuild is never queued twice. A
worker holds a job by a lease (owner + expiry); a lease whose owner process is
gone (same host, dead pid) or whose time ran out can be taken over. Moving a
job to `published` and writing the `published` event happen in one
transaction, guarded by the job's previous state, so a publish is recorded
exactly once however often a crashed pass is resumed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from hardbase.errors import HardbaseError
from hardbase.util.digest import Digest, DigestError
from hardbase.util.sql import Schema, SQLStore, sqlite_url
from hardbase.util.validation import stored

log = logging.getLogger(__name__)


class JobState(StrEnum):
    """A job's state (the `lc_jobs.state` column), in the order a job moves through them."""

    QUEUED = "queued"
    BUILT = "built"
    VERIFIED = "verified"
    SIGNED = "signed"
    PUSHED = "pushed"
    PUBLISHED = "published"
    FAILED = "failed"


QUEUED = JobState.QUEUED
BUILT = JobState.BUILT
VERIFIED = JobState.VERIFIED
SIGNED = JobState.SIGNED
PUSHED = JobState.PUSHED
PUBLISHED = JobState.PUBLISHED
FAILED = JobState.FAILED
JOB_STATES = tuple(JobState)
RUNNABLE = (QUEUED, BUILT, VERIFIED, SIGNED, PUSHED)
FINAL = (PUBLISHED, FAILED)


class StateError(HardbaseError):
    """The controller's state database cannot be opened, read or written."""


_md = sa.MetaData()

meta_t = sa.Table(
    "lc_meta",
    _md,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

images_t = sa.Table(
    "lc_images",
    _md,
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False, default="[]"),
    sa.Column("digest", sa.String(100), nullable=False, default=""),
    sa.Column("lock_hash", sa.String(64), nullable=False, default=""),
    sa.Column("published_at", sa.Float, nullable=True),
    sa.Column("last_job", sa.Integer, nullable=True),
    sa.Column("last_reason", sa.Text, nullable=False, default=""),
    sa.Column("findings", sa.Text, nullable=False, default="{}"),
    sa.Column("checked_at", sa.Float, nullable=True),
)

locks_t = sa.Table(
    "lc_locks",
    _md,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("image", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

jobs_t = sa.Table(
    "lc_jobs",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False, unique=True),
    sa.Column("image", sa.String(300), nullable=False),
    sa.Column("lock_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("plan", sa.Text, nullable=False, default="{}"),
    sa.Column("version_tag", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(100), nullable=False, default=""),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_lc_jobs_image", "image"),
)

events_t = sa.Table(
    "lc_events",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("image", sa.String(300), nullable=False),
    sa.Column("job", sa.Integer, nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Index("ix_lc_events_image", "image", "kind"),
)

fixes_t = sa.Table(
    "lc_fixes",
    _md,
    sa.Column("image", sa.String(300), primary_key=True),
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("published_at", sa.Float, nullable=True),
    sa.Column("job", sa.Integer, nullable=True),
)


class PatchState(StrEnum):
    """A patch job's state (`lc_patch_jobs.state`): built, then published to the fleet's
    archive; failed (not retried until its inputs change) or, once Debian fixed it, retired."""

    QUEUED = "queued"
    BUILT = "built"
    PUBLISHED = "published"
    FAILED = "failed"
    RETIRED = "retired"


PATCH_RUNNABLE = (PatchState.QUEUED, PatchState.BUILT)

# A package rebuilt with CVE fixes for all the images that hold it (lifecycle/patchjobs.py),
# keyed by source + base version + the hash of its inputs (CVEs, patch files, sources).
patch_jobs_t = sa.Table(
    "lc_patch_jobs",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False, unique=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("base_version", sa.String(200), nullable=False),
    sa.Column("release", sa.String(32), nullable=False),
    sa.Column("inputs", sa.Text, nullable=False, default="{}"),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("version", sa.String(200), nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("published_at", sa.Float, nullable=True),
    sa.Column("retired_at", sa.Float, nullable=True),
    sa.Index("ix_lc_patch_jobs_source", "source", "base_version"),
)

# What the patch pass has seen: a CVE of a source version with a candidate fix, first seen when.
patch_seen_t = sa.Table(
    "lc_patch_seen",
    _md,
    sa.Column("key", sa.String(600), primary_key=True),
    sa.Column("cve", sa.String(64), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
)


def _add_patch_jobs(conn: sa.Connection) -> None:
    patch_jobs_t.create(conn)
    patch_seen_t.create(conn)


# Append a migration here to change the schema (see hardbase.util.sql).
SCHEMA = Schema(_md, meta_t, migrations=(_add_patch_jobs,))


@dataclass(frozen=True)
class Job:
    id: int
    key: str
    image: str
    lock_hash: str
    state: JobState
    reason: str
    plan: Mapping[str, Any]
    version_tag: str
    digest: str
    attempts: int
    lease_owner: str | None
    lease_until: float | None
    error: str
    created_at: float


@dataclass(frozen=True)
class PatchJob:
    """A package rebuild with CVE fixes (`lc_patch_jobs`)."""

    id: int
    key: str
    source: str
    base_version: str
    release: str
    inputs: Mapping[str, Any]  # cves, patches (path, sha256), sources: what the key hashes
    revision: int  # the N of +hbN
    version: str  # the rebuilt version, once built
    state: PatchState
    detail: Mapping[str, Any]  # what the steps recorded: work dir, log, debs, origin, images
    attempts: int
    lease_owner: str | None
    lease_until: float | None
    error: str
    created_at: float
    published_at: float | None
    retired_at: float | None

    @property
    def cves(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.inputs.get("cves", []))


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    image: str
    job: int | None
    kind: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class ImageState:
    name: str
    spec: str
    tags: tuple[str, ...]
    digest: str
    lock_hash: str
    published_at: float | None
    last_job: int | None
    last_reason: str
    findings: Mapping[str, int]
    checked_at: float | None


def new_owner() -> str:
    """This process's lease owner id: host, pid and a random token."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_gone(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another controller object in this process: only its lease time counts
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (killed, not yet reaped) is gone too
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


_STATE_WHAT = "the state database has a job in state"


def _stored_digest(value: str | None, what: str) -> str:
    """A digest column read back: "" while unset, else a checked `Digest`."""
    if not value:
        return ""
    try:
        return Digest(value)
    except DigestError as exc:
        raise StateError(f"the state database's digest of {what} is damaged: {exc}") from None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class StateDB:
    """A handle on the state database; create with `StateDB.open(url)`."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self.engine = store.engine
        self.location = store.location

    @classmethod
    def open(cls, url: str) -> StateDB:
        """Open (creating or migrating the tables of) the database at a SQLAlchemy URL."""
        where = sqlite_url(url, StateError, "the state database")
        return cls(
            SQLStore.open(
                where, SCHEMA, error=StateError, what="the state database", hint="check `state:`"
            )
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[sa.Connection]:
        return self.store.begin(f"the state database {self.location} failed")

    # -- settings -----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A value the controller keeps beside the schema version (say, its fleet's hash)."""
        with self._tx() as conn:
            row = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key)).first()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            done = conn.execute(meta_t.update().where(meta_t.c.key == key).values(value=value))
            if done.rowcount == 0:
                conn.execute(meta_t.insert().values(key=key, value=value))

    # -- events -------------------------------------------------------------------------------

    def _event(
        self, conn: sa.Connection, image: str, kind: str, job: int | None, detail: Mapping[str, Any]
    ) -> Event:
        ts = time.time()
        result = conn.execute(
            events_t.insert().values(
                ts=ts, image=image, job=job, kind=kind, detail=_dumps(dict(detail))
            )
        )
        pk = result.inserted_primary_key
        return Event(int(pk[0]) if pk else 0, ts, image, job, kind, dict(detail))

    def record(self, image: str, kind: str, *, job: int | None = None, **detail: Any) -> Event:
        """Append one event to the log."""
        with self._tx() as conn:
            return self._event(conn, image, kind, job, detail)

    def events(
        self, image: str | None = None, kind: str | None = None, job: int | None = None
    ) -> list[Event]:
        query = sa.select(events_t).order_by(events_t.c.id)
        if image is not None:
            query = query.where(events_t.c.image == image)
        if kind is not None:
            query = query.where(events_t.c.kind == kind)
        if job is not None:
            query = query.where(events_t.c.job == job)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            Event(r.id, r.ts, r.image, r.job, r.kind, json.loads(r.detail or "{}")) for r in rows
        ]

    # -- images and locks ---------------------------------------------------------------------

    def ensure_image(self, name: str, spec: str, tags: Sequence[str]) -> None:
        with self._tx() as conn:
            found = conn.execute(sa.select(images_t.c.name).where(images_t.c.name == name)).first()
            if found is None:
                conn.execute(
                    images_t.insert().values(name=name, spec=spec, tags=_dumps(list(tags)))
                )
            else:
                conn.execute(
                    images_t.update()
                    .where(images_t.c.name == name)
                    .values(spec=spec, tags=_dumps(list(tags)))
                )

    def image(self, name: str) -> ImageState | None:
        with self._tx() as conn:
            r = conn.execute(sa.select(images_t).where(images_t.c.name == name)).first()
        return None if r is None else self._image_from(r)

    def images(self) -> list[ImageState]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(images_t).order_by(images_t.c.name)).all()
        return [self._image_from(r) for r in rows]

    @staticmethod
    def _image_from(r: Any) -> ImageState:
        return ImageState(
            r.name, r.spec, tuple(json.loads(r.tags or "[]")),
            _stored_digest(r.digest, f"image {r.name}"), r.lock_hash or "",
            r.published_at, r.last_job, r.last_reason or "", json.loads(r.findings or "{}"),
            r.checked_at,
        )  # fmt: skip

    def set_checked(self, name: str, findings: Mapping[str, int]) -> None:
        """The open findings of the published image as of this pass."""
        with self._tx() as conn:
            conn.execute(
                images_t.update()
                .where(images_t.c.name == name)
                .values(findings=_dumps(dict(findings)), checked_at=time.time())
            )

    def put_lock(self, image: str, lock_hash: str, body: str) -> None:
        with self._tx() as conn:
            exists = conn.execute(
                sa.select(locks_t.c.hash).where(locks_t.c.hash == lock_hash)
            ).first()
            if exists is None:
                conn.execute(
                    locks_t.insert().values(
                        hash=lock_hash, image=image, body=body, created_at=time.time()
                    )
                )

    def lock_body(self, lock_hash: str) -> str | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(locks_t.c.body).where(locks_t.c.hash == lock_hash)).first()
        return None if row is None else str(row[0])

    # -- fixes --------------------------------------------------------------------------------

    def see_fixes(self, image: str, keys: Sequence[str]) -> dict[str, float]:
        """Record when each fix was first seen for `image`; returns key -> first seen."""
        out: dict[str, float] = {}
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(fixes_t.c.key, fixes_t.c.first_seen).where(fixes_t.c.image == image)
            ).all()
            known = {r.key: r.first_seen for r in rows}
            for key in keys:
                if key in known:
                    out[key] = known[key]
                    continue
                now = time.time()
                conn.execute(fixes_t.insert().values(image=image, key=key, first_seen=now))
                self._event(conn, image, "fix-seen", None, {"fix": key})
                out[key] = now
        return out

    def remediation_times(self, image: str) -> list[float]:
        """Seconds from first seen to published, per published job of `image`, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(fixes_t.c.job, sa.func.min(fixes_t.c.first_seen), fixes_t.c.published_at)
                .where(fixes_t.c.image == image, fixes_t.c.published_at.is_not(None))
                .group_by(fixes_t.c.job, fixes_t.c.published_at)
                .order_by(fixes_t.c.published_at)
            ).all()
        return [float(r[2]) - float(r[1]) for r in rows]

    def fixes(self, prefix: str) -> list[tuple[str, str, float, float | None]]:
        """(image, key, first seen, published at) of every fix whose key starts with `prefix`."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(
                    fixes_t.c.image, fixes_t.c.key, fixes_t.c.first_seen, fixes_t.c.published_at
                )
                .where(fixes_t.c.key.startswith(prefix, autoescape=True))
                .order_by(fixes_t.c.first_seen, fixes_t.c.image)
            ).all()
        return [(r[0], r[1], float(r[2]), None if r[3] is None else float(r[3])) for r in rows]

    # -- jobs ---------------------------------------------------------------------------------

    def create_job(
        self, image: str, lock_hash: str, reason: str, plan: Mapping[str, Any], version_tag: str,
        *, key: str | None = None,
    ) -> tuple[Job, bool]:  # fmt: skip
        """The job for (image, lock hash): created now (True) or already there (False).

        `key` replaces the idempotency key image@lock for a job asked for by hand (a rebuild
        of a lock that was already published)."""
        key = key or f"{image}@{lock_hash}"
        existing = self.job_by_key(key)
        if existing is not None:
            return existing, False
        now = time.time()
        try:
            with self._tx() as conn:
                result = conn.execute(
                    jobs_t.insert().values(
                        key=key,
                        image=image,
                        lock_hash=lock_hash,
                        state=QUEUED,
                        reason=reason,
                        plan=_dumps(dict(plan)),
                        version_tag=version_tag,
                        digest="",
                        attempts=0,
                        error="",
                        created_at=now,
                        updated_at=now,
                    )  # fmt: skip
                )
                pk = result.inserted_primary_key
                job_id = int(pk[0]) if pk else 0
                self._event(
                    conn, image, "job-created", job_id, {"reason": reason, "lock": lock_hash}
                )
        except StateError as exc:
            if isinstance(exc.__cause__, SAIntegrityError):
                found = self.job_by_key(key)
                if found is not None:
                    return found, False
            raise
        return self._written_job(job_id), True

    def _written_job(self, job_id: int) -> Job:
        """The job just written, read back; another controller may have deleted it since."""
        job = self.job(job_id)
        if job is None:
            raise StateError(f"job {job_id} was deleted by another controller as it was written")
        return job

    def job(self, job_id: int) -> Job | None:
        with self._tx() as conn:
            r = conn.execute(sa.select(jobs_t).where(jobs_t.c.id == job_id)).first()
        return None if r is None else self._job_from(r)

    def job_by_key(self, key: str) -> Job | None:
        with self._tx() as conn:
            r = conn.execute(sa.select(jobs_t).where(jobs_t.c.key == key)).first()
        return None if r is None else self._job_from(r)

    def jobs(self, image: str | None = None, states: Sequence[str] | None = None) -> list[Job]:
        query = sa.select(jobs_t).order_by(jobs_t.c.id)
        if image is not None:
            query = query.where(jobs_t.c.image == image)
        if states is not None:
            query = query.where(jobs_t.c.state.in_(list(states)))
        with self._tx() as conn:
            return [self._job_from(r) for r in conn.execute(query).all()]

    @staticmethod
    def _job_from(r: Any) -> Job:
        return Job(
            r.id, r.key, r.image, r.lock_hash,
            stored(JobState, r.state, StateError, _STATE_WHAT, "upgrade hardbase"), r.reason or "",
            json.loads(r.plan or "{}"), r.version_tag, _stored_digest(r.digest, f"job {r.id}"),
            r.attempts, r.lease_owner,
            r.lease_until, r.error or "", r.created_at,
        )  # fmt: skip

    def versions_on(self, image: str, day: str) -> int:
        """How many jobs of `image` took a version tag on `day` (yyyymmdd)."""
        with self._tx() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(jobs_t)
                    .where(jobs_t.c.image == image, jobs_t.c.version_tag.like(f"{day}.%"))
                ).scalar_one()
            )

    def claim(self, job_id: int, owner: str, lease: float) -> Job | None:
        """Take the job's lease when it is free, expired or held by a dead process."""
        now = time.time()
        current = self.job(job_id)
        if current is None or current.state in FINAL:
            return None
        free = _takeable(jobs_t, current.lease_owner, owner, now)
        with self._tx() as conn:
            result = conn.execute(
                jobs_t.update()
                .where(jobs_t.c.id == job_id, jobs_t.c.state.not_in(list(FINAL)), free)
                .values(
                    lease_owner=owner,
                    lease_until=now + lease,
                    attempts=jobs_t.c.attempts + 1,
                    updated_at=now,
                )  # fmt: skip
            )
            if result.rowcount != 1:
                return None
            resumed = current.state != QUEUED or current.attempts > 0
            self._event(
                conn, current.image, "job-resumed" if resumed else "job-started", job_id,
                {"state": current.state, "attempt": current.attempts + 1},
            )  # fmt: skip
        return self.job(job_id)

    def renew(self, job_id: int, owner: str, lease: float) -> None:
        """Extend a held lease; raises StateError when it was lost."""
        self._renew(jobs_t, "job", job_id, owner, lease)

    def _renew(self, table: sa.Table, what: str, job_id: int, owner: str, lease: float) -> None:
        with self._tx() as conn:
            result = conn.execute(
                table.update()
                .where(table.c.id == job_id, table.c.lease_owner == owner)
                .values(lease_until=time.time() + lease)
            )
        if result.rowcount != 1:
            raise StateError(f"{what} {job_id} lost its lease to another controller")

    def advance(
        self, job: Job, owner: str, state: str, kind: str, *, digest: str | None = None,
        **detail: Any,
    ) -> Job:  # fmt: skip
        """Move a held job to `state` and record the step's event, in one transaction."""
        values: dict[str, Any] = {"state": state, "updated_at": time.time()}
        if digest is not None:
            values["digest"] = digest
        with self._tx() as conn:
            result = conn.execute(
                jobs_t.update()
                .where(jobs_t.c.id == job.id, jobs_t.c.lease_owner == owner)
                .values(**values)
            )
            if result.rowcount != 1:
                raise StateError(f"job {job.id} lost its lease to another controller")
            self._event(conn, job.image, kind, job.id, detail)
        return self._written_job(job.id)

    def release(self, job: Job, owner: str, error: str = "") -> None:
        """Give the lease back without finishing (the next pass resumes the job)."""
        with self._tx() as conn:
            conn.execute(
                jobs_t.update()
                .where(jobs_t.c.id == job.id, jobs_t.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, error=error, updated_at=time.time())
            )

    def fail(self, job: Job, owner: str, kind: str, error: str, **detail: Any) -> bool:
        """Finish a job as failed (a gate or a build failed); True when this call did it."""
        with self._tx() as conn:
            if not _finish(conn, job, owner, state=FAILED, error=error, updated_at=time.time()):
                return False
            self._event(conn, job.image, kind, job.id, {"error": error, **detail})
            conn.execute(
                images_t.update()
                .where(images_t.c.name == job.image)
                .values(last_job=job.id, last_reason=f"{job.reason} (failed: {error})")
            )
        return True

    def publish(
        self, job: Job, owner: str, digest: str, fixes: Sequence[str], **detail: Any
    ) -> Event | None:
        """Finish a job as published, exactly once; returns the event, None if already done."""
        now = time.time()
        with self._tx() as conn:
            if not _finish(
                conn, job, owner, state=PUBLISHED, digest=digest, error="", updated_at=now
            ):
                return None
            if fixes:
                conn.execute(
                    fixes_t.update()
                    .where(
                        fixes_t.c.image == job.image,
                        fixes_t.c.key.in_(list(fixes)),
                        fixes_t.c.published_at.is_(None),
                    )
                    .values(published_at=now, job=job.id)
                )
            conn.execute(
                images_t.update()
                .where(images_t.c.name == job.image)
                .values(
                    digest=digest,
                    lock_hash=job.lock_hash,
                    published_at=now,
                    last_job=job.id,
                    last_reason=job.reason,
                )  # fmt: skip
            )
            return self._event(conn, job.image, PUBLISHED, job.id, {"digest": digest, **detail})

    # -- patch jobs ---------------------------------------------------------------------------

    def see_patch_candidate(
        self, cve: str, source: str, version: str, candidate: str, **detail: Any
    ) -> tuple[float, bool]:
        """Record a CVE's candidate fix for a source version: (first seen, new now).

        The `patch-candidate` event is written once per CVE, source, version and candidate;
        the CVE's clock starts at the first candidate seen for it."""
        key = f"{cve}|{source}|{version}|{candidate}"
        with self._tx() as conn:
            row = conn.execute(
                sa.select(patch_seen_t.c.first_seen).where(patch_seen_t.c.key == key)
            ).first()
            if row is not None:
                return float(row[0]), False
            event = self._event(
                conn, f"patch:{source}", "patch-candidate", None,
                {"cve": cve, "source": source, "version": version, "candidate": candidate,
                 **detail},
            )  # fmt: skip
            conn.execute(
                patch_seen_t.insert().values(
                    key=key, cve=cve, source=source, version=version, first_seen=event.ts
                )
            )
        return event.ts, True

    def patch_first_seen(self, cve: str, source: str, version: str) -> float | None:
        """When a candidate fix of `cve` in `source` `version` was first seen (the clock)."""
        with self._tx() as conn:
            value = conn.execute(
                sa.select(sa.func.min(patch_seen_t.c.first_seen)).where(
                    patch_seen_t.c.cve == cve,
                    patch_seen_t.c.source == source,
                    patch_seen_t.c.version == version,
                )
            ).scalar()
        return None if value is None else float(value)

    def create_patch_job(
        self, key: str, source: str, base_version: str, release: str, inputs: Mapping[str, Any],
        revision: int, detail: Mapping[str, Any],
    ) -> tuple[PatchJob, bool]:  # fmt: skip
        """The patch job of `key`: created now (True) or already there (False)."""
        existing = self.patch_job_by_key(key)
        if existing is not None:
            return existing, False
        now = time.time()
        try:
            with self._tx() as conn:
                result = conn.execute(
                    patch_jobs_t.insert().values(
                        key=key,
                        source=source,
                        base_version=base_version,
                        release=release,
                        inputs=_dumps(dict(inputs)),
                        revision=revision,
                        version="",
                        state=PatchState.QUEUED,
                        detail=_dumps(dict(detail)),
                        attempts=0,
                        error="",
                        created_at=now,
                        updated_at=now,
                    )  # fmt: skip
                )
                pk = result.inserted_primary_key
                job_id = int(pk[0]) if pk else 0
                self._event(
                    conn, f"patch:{source}", "patch-queued", None,
                    {"patch_job": job_id, "version": base_version, "cves": inputs.get("cves", [])},
                )  # fmt: skip
        except StateError as exc:
            if isinstance(exc.__cause__, SAIntegrityError):
                found = self.patch_job_by_key(key)
                if found is not None:
                    return found, False
            raise
        job = self.patch_job(job_id)
        if job is None:
            raise StateError(f"patch job {job_id} was deleted by another controller")
        return job, True

    def patch_job(self, job_id: int) -> PatchJob | None:
        with self._tx() as conn:
            r = conn.execute(sa.select(patch_jobs_t).where(patch_jobs_t.c.id == job_id)).first()
        return None if r is None else self._patch_from(r)

    def patch_job_by_key(self, key: str) -> PatchJob | None:
        with self._tx() as conn:
            r = conn.execute(sa.select(patch_jobs_t).where(patch_jobs_t.c.key == key)).first()
        return None if r is None else self._patch_from(r)

    def patch_jobs(
        self, states: Sequence[str] | None = None, source: str | None = None
    ) -> list[PatchJob]:
        query = sa.select(patch_jobs_t).order_by(patch_jobs_t.c.id)
        if states is not None:
            query = query.where(patch_jobs_t.c.state.in_(list(states)))
        if source is not None:
            query = query.where(patch_jobs_t.c.source == source)
        with self._tx() as conn:
            return [self._patch_from(r) for r in conn.execute(query).all()]

    @staticmethod
    def _patch_from(r: Any) -> PatchJob:
        return PatchJob(
            r.id, r.key, r.source, r.base_version, r.release, json.loads(r.inputs or "{}"),
            r.revision, r.version or "",
            stored(PatchState, r.state, StateError, "the state database has a patch job in state",
                   "upgrade hardbase"),
            json.loads(r.detail or "{}"), r.attempts, r.lease_owner, r.lease_until,
            r.error or "", r.created_at, r.published_at, r.retired_at,
        )  # fmt: skip

    def claim_patch(self, job_id: int, owner: str, lease: float) -> PatchJob | None:
        """Take a patch job's lease when it is free, expired or held by a dead process."""
        now = time.time()
        current = self.patch_job(job_id)
        if current is None or current.state not in PATCH_RUNNABLE:
            return None
        free = _takeable(patch_jobs_t, current.lease_owner, owner, now)
        with self._tx() as conn:
            result = conn.execute(
                patch_jobs_t.update()
                .where(
                    patch_jobs_t.c.id == job_id,
                    patch_jobs_t.c.state.in_(list(PATCH_RUNNABLE)),
                    free,
                )
                .values(
                    lease_owner=owner,
                    lease_until=now + lease,
                    attempts=patch_jobs_t.c.attempts + 1,
                    updated_at=now,
                )  # fmt: skip
            )
            if result.rowcount != 1:
                return None
            self._event(
                conn, f"patch:{current.source}",
                "patch-resumed" if current.attempts else "patch-started", None,
                {"patch_job": job_id, "state": current.state, "attempt": current.attempts + 1},
            )  # fmt: skip
        return self.patch_job(job_id)

    def renew_patch(self, job_id: int, owner: str, lease: float) -> None:
        """Extend a held patch job's lease; StateError when it was lost."""
        self._renew(patch_jobs_t, "patch job", job_id, owner, lease)

    def advance_patch(
        self, job: PatchJob, owner: str, state: PatchState, kind: str, *,
        version: str | None = None, detail: Mapping[str, Any] | None = None, **event: Any,
    ) -> PatchJob:  # fmt: skip
        """Move a held patch job to `state` (merging `detail`), with its event, in one
        transaction; moving to `published` gives the lease back."""
        now = time.time()
        values: dict[str, Any] = {"state": state, "updated_at": now, "error": ""}
        if version is not None:
            values["version"] = version
        if detail:
            values["detail"] = _dumps({**job.detail, **detail})
        if state == PatchState.PUBLISHED:
            values.update(published_at=now, lease_owner=None, lease_until=None)
        with self._tx() as conn:
            result = conn.execute(
                patch_jobs_t.update()
                .where(
                    patch_jobs_t.c.id == job.id,
                    patch_jobs_t.c.lease_owner == owner,
                    patch_jobs_t.c.state.in_(list(PATCH_RUNNABLE)),
                )
                .values(**values)
            )
            if result.rowcount != 1:
                raise StateError(f"patch job {job.id} lost its lease to another controller")
            self._event(conn, f"patch:{job.source}", kind, None, {"patch_job": job.id, **event})
        return self._written_patch(job.id)

    def _written_patch(self, job_id: int) -> PatchJob:
        job = self.patch_job(job_id)
        if job is None:
            raise StateError(f"patch job {job_id} was deleted by another controller")
        return job

    def release_patch(self, job: PatchJob, owner: str, error: str = "") -> None:
        """Give a patch job's lease back unfinished (the next pass resumes it)."""
        with self._tx() as conn:
            conn.execute(
                patch_jobs_t.update()
                .where(patch_jobs_t.c.id == job.id, patch_jobs_t.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, error=error, updated_at=time.time())
            )

    def fail_patch(self, job: PatchJob, owner: str, error: str, **event: Any) -> bool:
        """Finish a held patch job as failed (`patch-failed`); True when this call did it."""
        with self._tx() as conn:
            result = conn.execute(
                patch_jobs_t.update()
                .where(
                    patch_jobs_t.c.id == job.id,
                    patch_jobs_t.c.lease_owner == owner,
                    patch_jobs_t.c.state.in_(list(PATCH_RUNNABLE)),
                )
                .values(
                    state=PatchState.FAILED,
                    error=error,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=time.time(),
                )  # fmt: skip
            )
            if result.rowcount != 1:
                return False
            self._event(
                conn, f"patch:{job.source}", "patch-failed", None,
                {"patch_job": job.id, "error": error, **event},
            )  # fmt: skip
        return True

    def retire_patch(self, job: PatchJob, **event: Any) -> bool:
        """Mark a published patch retired (Debian fixed it), once; True when this call did it."""
        now = time.time()
        with self._tx() as conn:
            result = conn.execute(
                patch_jobs_t.update()
                .where(patch_jobs_t.c.id == job.id, patch_jobs_t.c.state == PatchState.PUBLISHED)
                .values(state=PatchState.RETIRED, retired_at=now, updated_at=now)
            )
            if result.rowcount != 1:
                return False
            self._event(
                conn, f"patch:{job.source}", "patch-retired", None,
                {"patch_job": job.id, "version": job.version, "cves": list(job.cves), **event},
            )  # fmt: skip
        return True


def _takeable(table: sa.Table, holder: str | None, owner: str, now: float) -> Any:
    """The condition under which `owner` may take a lease now held by `holder`: none held,
    expired, its own, or held by a process on this host that is gone."""
    free = table.c.lease_owner.is_(None) | (table.c.lease_until < now)
    if holder == owner:
        return free | (table.c.lease_owner == owner)
    if holder is not None and owner_gone(holder):
        return free | (table.c.lease_owner == holder)
    return free


def _finish(conn: Any, job: Job, owner: str, **values: Any) -> bool:
    """End a job still held by `owner` and not final; False when another did it first."""
    result = conn.execute(
        jobs_t.update()
        .where(
            jobs_t.c.id == job.id,
            jobs_t.c.lease_owner == owner,
            jobs_t.c.state.not_in(list(FINAL)),
        )
        .values(lease_owner=None, lease_until=None, **values)
    )
    return bool(result.rowcount == 1)
