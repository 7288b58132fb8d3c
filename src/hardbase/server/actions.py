"""The work the service can ask for: a rebuild of one image, a controller pass."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from hardbase.lifecycle.state import RUNNABLE, Job, StateDB
from hardbase.server.imagedata import ImageData, NotFound


@dataclass(frozen=True)
class RebuildRequest:
    job: Job | None  # None: nothing published yet, so the next pass makes the first publish
    created: bool


def request_rebuild(
    state: StateDB, data: ImageData, name: str, who: str, why: str
) -> RebuildRequest:
    """Queue a rebuild of the image's published lock (a new version tag, the same packages),
    unless a job of the image is queued or running already.

    The job's baseline is what the lock has open now, so the rebuild passes the controller's
    gates exactly when a scheduled one would. The controller runs it in its next pass.
    """
    if name not in {i.name for i in data.fleet.images}:
        raise NotFound(f"the fleet manages no image {name!r}")
    for job in reversed(state.jobs(image=name, states=RUNNABLE)):
        return RebuildRequest(job, False)
    known = state.image(name)
    if known is None or not known.lock_hash:
        state.record(name, "rebuild-requested", by=who, reason=why, job_created=False)
        return RebuildRequest(None, False)
    findings = data.findings(known.lock_hash) or []
    day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    reason = f"rebuild requested by {who}" + (f": {why}" if why else "")
    plan = {
        "mode": "rebuild",
        "targets": [],
        "fixes": [],
        "fix_findings": [],
        "baseline": sorted({f"{f.id}|{f.package.name}" for f in findings}),
        "changes": [],
    }
    state.record(name, "rebuild-requested", by=who, reason=why, job_created=True)
    job, created = state.create_job(
        name, known.lock_hash, reason, plan, f"{day}.{state.versions_on(name, day) + 1}",
        key=f"{name}@{known.lock_hash}@rebuild-{secrets.token_hex(6)}",
    )  # fmt: skip
    return RebuildRequest(job, created)
