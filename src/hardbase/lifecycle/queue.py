"""Decide whether a managed image needs a rebuild, and queue the job that does it.

For one image: match its published lock against the database and the archive
(`plan.detect`), relock when something moved or the spec changed, and queue a
job keyed by image + lock hash with its `JobPlan` and its version tag.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterable

from hardbase.build.lock import Lock, read_lock
from hardbase.build.spec import ImageSpec
from hardbase.build.variants import load_variant
from hardbase.lifecycle import plan as planning
from hardbase.lifecycle.fleet import ManagedImage, PatchSettings
from hardbase.lifecycle.jobplan import JobPlan, LockChange
from hardbase.lifecycle.report import Outcome
from hardbase.lifecycle.state import StateDB
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import NOT_AFFECTED_STATUS, Finding

log = logging.getLogger(__name__)


def status_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Open findings by status (what the image's "checked" row and events show)."""
    return dict(Counter(f.status for f in findings if f.status != NOT_AFFECTED_STATUS))


def current_lock(state: StateDB, image: ManagedImage, spec: ImageSpec) -> tuple[Lock | None, str]:
    """The lock of what is published (or of the spec's lock file before the first publish),
    and why it cannot be kept (the spec's package set changed), or ""."""
    known = state.image(image.name)
    if known is not None and known.lock_hash:
        body = state.lock_body(known.lock_hash)
        if body is not None:
            lock = Lock.from_json(json.loads(body), f"state lock {known.lock_hash}")
            if lock.spec_hash == spec.resolution_hash():
                return lock, ""
            return lock, "the spec's package set changed"
    if spec.lock_path.exists():
        lock = read_lock(spec.lock_path)
        if lock.spec_hash == spec.resolution_hash():
            return lock, ""
        return None, f"the spec's package set changed since {spec.lock_path.name}"
    return None, ""


def plan_image(
    state: StateDB, image: ManagedImage, db: VulnDB, *, patch: PatchSettings | None = None
) -> Outcome | None:
    """Queue the image's rebuild when it needs one; the outcome when it does not.

    With `patch` (the image may hold hardbase's rebuilds), a published lock resolved
    against the fleet's archive is planned against it too (`patchjobs.spec_for_lock`)."""
    spec = load_variant(image.spec_path, image.variant)
    if patch is not None:
        from hardbase.lifecycle.patchjobs import published_lock, spec_for_lock

        spec = spec_for_lock(spec, published_lock(state, image), patch)
    state.ensure_image(image.name, str(image.spec_path), image.tags)
    known = state.image(image.name)
    published = known is not None and bool(known.digest)
    current, spec_changed = current_lock(state, image, spec)
    index, releases = planning.load_index(spec)
    findings = planning.lock_findings(current, db) if current is not None else []
    if published:
        state.set_checked(image.name, status_counts(findings))
    plan = planning.detect(current, index, findings) if current else planning.Plan()
    if current is None or spec_changed:
        mode = "full"
        new = planning.relock(spec, None, index, releases, mode="full", targets=())
        reason = spec_changed or ("first publish" if not published else "relock")
    elif plan.needed:
        mode = image.relock
        new = planning.relock(spec, current, index, releases, mode=mode, targets=plan.targets)
        reason = plan.reason()
    elif not published:
        mode, new, reason = "lock", current, "first publish"
    else:
        return Outcome(image.name, "unchanged")
    lock_hash = planning.package_hash(new)
    if published and known is not None and lock_hash == known.lock_hash:
        return Outcome(image.name, "unchanged", reason="no package moves")
    if current is None or spec_changed:
        # nothing published to compare with: what the new lock has now is the baseline
        findings = planning.lock_findings(new, db)
    state.see_fixes(image.name, plan.keys)
    state.put_lock(image.name, lock_hash, json.dumps(new.to_json(), indent=1))
    day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    version_tag = f"{day}.{state.versions_on(image.name, day) + 1}"
    changes = tuple(LockChange(**c) for c in planning.lock_changes(current, new))
    job_plan = JobPlan(
        mode=mode,
        targets=tuple(sorted(plan.targets)),
        fixes=tuple(plan.keys),
        fix_findings=tuple(f.key for f in plan.fixes),
        baseline=tuple(sorted({f"{f.id}|{f.package.name}" for f in findings})),
        changes=changes,
    )
    if not plan.needed:
        reason = _with_changes(reason, changes, current is None)
    job, created = state.create_job(image.name, lock_hash, reason, job_plan.to_json(), version_tag)
    if created:
        log.info("%s: queued job %d: %s", image.name, job.id, reason,
                 extra={"image": job.image, "job": job.id, "state": job.state,
                        "event": "job-queued"})  # fmt: skip
    return None


def _with_changes(reason: str, changes: tuple[LockChange, ...], fresh: bool) -> str:
    """`reason` with what the relock moved, so a job never reads as a bare "first publish"."""
    if not changes:
        return reason
    if fresh:
        return f"{reason}: {len(changes)} packages locked"
    shown = [c.describe() for c in changes[:5]]
    more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
    return f"{reason}: {len(changes)} package changes ({', '.join(shown)}{more})"
