"""The controller: one pass syncs feeds and archives, plans rebuilds and runs them as jobs.

A pass: import the fleet's feeds; read every source's InRelease (once per
distinct source list); for each managed image match its lock against the
database and the archive (`plan.detect`), relock, and queue a job keyed by
image + lock hash. Jobs then run concurrently (one per image, up to
`concurrency`), each under a lease, through checkpointed steps:

    queued -> built -> verified -> signed -> pushed -> published

Every step's state change and its event are written in one transaction, so a
controller killed anywhere resumes the job at its last checkpoint. Builds are
reproducible (same lock, same digest), so a resumed job rebuilds what it lost
and refuses to go on when the digest differs from the one it verified; tags
move only to that verified digest. Pushes upload every blob before any
manifest and retry with backoff while the registry is down.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from hardbase.build.lock import Lock, read_lock
from hardbase.build.spec import ImageSpec
from hardbase.build.variants import load_variant
from hardbase.errors import GateFailed, HardbaseError
from hardbase.lifecycle import plan as planning
from hardbase.lifecycle.fleet import Fleet, ManagedImage
from hardbase.lifecycle.notify import Notifier
from hardbase.lifecycle.state import (
    BUILT,
    FINAL,
    PUBLISHED,
    PUSHED,
    QUEUED,
    RUNNABLE,
    SIGNED,
    VERIFIED,
    Job,
    StateDB,
    StateError,
    new_owner,
)
from hardbase.lifecycle.status import PASS_EVENT
from hardbase.oci.registry import RegistryClient, RegistryUnavailable
from hardbase.util.progress import NullProgress
from hardbase.util.retry import retrying
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import NOT_AFFECTED_STATUS, Finding

log = logging.getLogger(__name__)
_T = TypeVar("_T")

BUILD_TAG = "build"
PAUSE_ENV = "HARDBASE_WATCH_PAUSE"  # test hook: build | push | tag
PAUSE_FILE_ENV = "HARDBASE_WATCH_PAUSE_FILE"


class JobFailed(GateFailed):
    """A job's build or gate failed; nothing was published."""


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


def _pause(point: str) -> None:
    """Test hook: stop here (until killed) when HARDBASE_WATCH_PAUSE names `point`."""
    if os.environ.get(PAUSE_ENV) != point:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        Path(marker).write_text(f"{point} {os.getpid()}\n")
    log.warning("paused at %s for a test (pid %d)", point, os.getpid())
    while True:
        time.sleep(3600)


class _PauseProgress(NullProgress):
    """Calls the pause hook once the step it watches has made some progress."""

    def __init__(self, point: str) -> None:
        self.point = point

    def advance(self, amount: int = 1) -> None:
        _pause(self.point)


def _with_changes(reason: str, changes: list[dict[str, str]], fresh: bool) -> str:
    """`reason` with what the relock moved, so a job never reads as a bare "first publish"."""
    if not changes:
        return reason
    if fresh:
        return f"{reason}: {len(changes)} packages locked"
    shown = [f"{c['package']} {c['old'] or '(new)'} -> {c['new'] or '(removed)'}"
             for c in changes[:5]]  # fmt: skip
    more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
    return f"{reason}: {len(changes)} package changes ({', '.join(shown)}{more})"


def _fields(job: Job, **extra: Any) -> dict[str, Any]:
    """The structured fields of a job's log records (`--log-format json` shows them)."""
    return {"image": job.image, "job": job.id, "state": job.state, **extra}


def _day() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d")


def _finding_key(f: Finding) -> str:
    return f"finding:{f.id}:{f.package.source_name or f.package.name}"


def _status_counts(findings: list[Finding]) -> dict[str, int]:
    return dict(Counter(f.status for f in findings if f.status != NOT_AFFECTED_STATUS))


class Controller:
    """Runs passes over a fleet; thread-safe for the jobs of one pass."""

    def __init__(
        self,
        fleet: Fleet,
        state: StateDB,
        *,
        owner: str | None = None,
        notifier: Notifier | None = None,
        key_password: bytes | None = None,
    ) -> None:
        self.fleet = fleet
        self.state = state
        self.owner = owner or new_owner()
        self.notifier = notifier
        self.key_password = key_password if key_password is not None else _password_env()
        self._stop = threading.Event()

    # -- passes -------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self, on_pass: Callable[[PassReport], None] | None = None) -> None:
        while not self._stop.is_set():
            report = self.run_once()
            if on_pass is not None:
                on_pass(report)
            self._stop.wait(self.fleet.interval)

    def run_once(self) -> PassReport:
        report = PassReport(started=time.time())
        log.info("pass started over %d images", len(self.fleet.images),
                 extra={"event": "pass-started", "images": len(self.fleet.images)})  # fmt: skip
        with VulnDB.open(self.fleet.vulndb) as db:
            if self._sync_feeds(db, report) and self.fleet.publish_db:
                self._publish_db(db, report)
            for image in self.fleet.images:
                try:
                    self._plan_image(image, db, report)
                except HardbaseError as exc:
                    message = exc.diagnostics()
                    log.warning("%s: cannot plan a rebuild: %s", image.name, message)
                    self.state.record(image.name, "plan-failed", error=message)
                    report.outcomes.append(Outcome(image.name, "error", error=message))
            jobs = self._runnable(report)
            self._prefetch(jobs, report)
            with ThreadPoolExecutor(max_workers=self.fleet.concurrency) as pool:
                futures = [pool.submit(self._run_job, job, db) for job in jobs]
                for future in futures:
                    report.outcomes.append(future.result())
        report.finished = time.time()
        counts = dict(Counter(o.result for o in report.outcomes))
        seconds = round(report.finished - report.started, 3)
        self.state.record(
            "*", PASS_EVENT, started=report.started, finished=report.finished,
            interval=self.fleet.interval, outcomes=counts,
        )  # fmt: skip
        log.info(
            "pass finished in %.1fs: %s; next in %.0fs", seconds,
            ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "nothing to do",
            self.fleet.interval,
            extra={"event": "pass-finished", "seconds": seconds, "outcomes": counts,
                   "next_in": self.fleet.interval},
        )  # fmt: skip
        return report

    def _sync_feeds(self, db: VulnDB, report: PassReport) -> int:
        """Import every feed; returns how many were imported."""
        from hardbase.vuln.importers.interface import get_importer

        synced = 0
        for feed in self.fleet.feeds:
            try:
                stats = get_importer(feed.name).run(db, feed.locations, NullProgress())
                log.info("feed %s: %d affected rows", feed.name, stats.affected)
                synced += 1
            except HardbaseError as exc:
                message = f"feed {feed.name}: {exc.diagnostics()}"
                log.warning("%s", message)
                report.warnings.append(message)
                self.state.record("*", "feed-failed", feed=feed.name, error=exc.diagnostics())
        return synced

    def _publish_db(self, db: VulnDB, report: PassReport) -> None:
        """Publish the database the pass just synced as a signed artifact (`db push`).

        A failed publish is a warning and an event: it never stops the pass."""
        from hardbase.vuln.publish import push_db

        ref = self.fleet.publish_db
        assert ref is not None
        try:
            done = push_db(
                db.location, ref, self.fleet.sign_key, self.key_password,
                insecure=self.fleet.publish_db_insecure,
            )  # fmt: skip
        except HardbaseError as exc:
            message = f"publishing the database to {ref}: {exc.diagnostics()}"
            log.warning("%s", message, extra={"event": "db-publish-failed"})
            report.warnings.append(message)
            self.state.record("*", "db-publish-failed", ref=ref, error=exc.diagnostics())
            return
        log.info("database published to %s: %s (%d bytes)", done.ref, done.digest, done.size,
                 extra={"event": "db-published", "digest": done.digest})  # fmt: skip
        self.state.record(
            "*", "db-published", ref=done.ref, digest=done.digest, size=done.size,
            sources=[s["name"] for s in done.sources],
        )  # fmt: skip

    # -- planning -----------------------------------------------------------------------------

    def _current_lock(self, image: ManagedImage, spec: ImageSpec) -> tuple[Lock | None, str]:
        """The lock of what is published (or of the spec's lock file before the first publish)."""
        known = self.state.image(image.name)
        if known is not None and known.lock_hash:
            body = self.state.lock_body(known.lock_hash)
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

    def _plan_image(self, image: ManagedImage, db: VulnDB, report: PassReport) -> None:
        spec = load_variant(image.spec, image.variant)
        self.state.ensure_image(image.name, str(image.spec), image.tags)
        known = self.state.image(image.name)
        published = known is not None and bool(known.digest)
        current, spec_changed = self._current_lock(image, spec)
        index, releases = planning.load_index(spec)
        findings = planning.lock_findings(current, db) if current is not None else []
        if published:
            self.state.set_checked(image.name, _status_counts(findings))
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
            report.outcomes.append(Outcome(image.name, "unchanged"))
            return
        lock_hash = planning.package_hash(new)
        if published and known is not None and lock_hash == known.lock_hash:
            report.outcomes.append(Outcome(image.name, "unchanged", reason="no package moves"))
            return
        if current is None or spec_changed:
            # nothing published to compare with: what the new lock has now is the baseline
            findings = planning.lock_findings(new, db)
        self.state.see_fixes(image.name, plan.keys)
        body = json.dumps(new.to_json(), indent=1)
        self.state.put_lock(image.name, lock_hash, body)
        version_tag = f"{_day()}.{self.state.versions_on(image.name, _day()) + 1}"
        changes = planning.lock_changes(current, new)
        doc = {
            "mode": mode,
            "targets": sorted(plan.targets),
            "fixes": plan.keys,
            "fix_findings": [f.key for f in plan.fixes],
            "baseline": sorted({f"{f.id}|{f.package.name}" for f in findings}),
            "changes": changes,
        }
        if not plan.needed:
            reason = _with_changes(reason, changes, current is None)
        job, created = self.state.create_job(image.name, lock_hash, reason, doc, version_tag)
        if created:
            log.info("%s: queued job %d: %s", image.name, job.id, reason,
                     extra=_fields(job, event="job-queued"))  # fmt: skip

    def _runnable(self, report: PassReport) -> list[Job]:
        """The newest unfinished job of each managed image; older ones are superseded."""
        names = {i.name for i in self.fleet.images}
        newest: dict[str, Job] = {}
        for job in self.state.jobs(states=RUNNABLE):
            if job.image not in names:
                continue
            older = newest.get(job.image)
            if older is not None:
                self._supersede(older, job, report)
            newest[job.image] = job
        return list(newest.values())

    def _supersede(self, old: Job, new: Job, report: PassReport) -> None:
        claimed = self.state.claim(old.id, self.owner, self.fleet.lease)
        if claimed is None:
            return
        if self.state.fail(claimed, self.owner, "job-superseded", f"superseded by job {new.id}"):
            report.outcomes.append(Outcome(old.image, "superseded", old.id))

    def _prefetch(self, jobs: list[Job], report: PassReport) -> None:
        """Download every package the jobs need once, before the builds run side by side."""
        from hardbase.build.fetch import fetch_packages

        packages = []
        for job in jobs:
            body = self.state.lock_body(job.lock_hash)
            if body is not None:
                packages.extend(Lock.from_json(json.loads(body), "state").all_packages())
        if not packages:
            return
        try:
            fetch_packages(packages)
        except HardbaseError as exc:  # each build reports it for its own image
            report.warnings.append(f"prefetching packages: {exc.diagnostics()}")

    # -- jobs ---------------------------------------------------------------------------------

    def _run_job(self, job: Job, db: VulnDB) -> Outcome:
        image = self.fleet.image(job.image)
        claimed = self.state.claim(job.id, self.owner, self.fleet.lease)
        if claimed is None:
            return Outcome(job.image, "pending", job.id, reason="another controller holds it")
        try:
            outcome = _JobRun(self, image, claimed, db).run()
            log.info("%s: job %d published %s", job.image, job.id, outcome.digest,
                     extra=_fields(job, event="job-published", digest=outcome.digest))  # fmt: skip
            return outcome
        except JobFailed as exc:
            log.warning("%s: job %d failed: %s", job.image, job.id, exc,
                        extra=_fields(job, event="job-failed", error=str(exc)))  # fmt: skip
            return Outcome(job.image, "failed", job.id, reason=job.reason, error=str(exc))
        except HardbaseError as exc:
            message = exc.diagnostics()
            log.warning("%s: job %d stopped: %s", job.image, job.id, message,
                        extra=_fields(job, event="job-error", error=message))  # fmt: skip
            try:
                self.state.record(job.image, "job-error", job=job.id, error=message)
                self.state.release(claimed, self.owner, message)
            except StateError as inner:
                log.warning("cannot release job %d: %s", job.id, inner.diagnostics())
            return Outcome(job.image, "error", job.id, reason=job.reason, error=message)

    def notify(self, kind: str, payload: dict[str, Any]) -> None:
        if self.notifier is not None:
            self.notifier.send(kind, payload)


def _password_env() -> bytes:
    from hardbase.attest.keys import password_from_env

    return password_from_env()


class _JobRun:
    """One job through its remaining steps."""

    def __init__(self, ctl: Controller, image: ManagedImage, job: Job, db: VulnDB) -> None:
        self.ctl = ctl
        self.state = ctl.state
        self.owner = ctl.owner
        self.fleet = ctl.fleet
        self.image = image
        self.job = job
        self.db = db
        self.work = self.fleet.workdir / "jobs" / str(job.id)
        self.layout = self.work / "image"
        self.spec = load_variant(image.spec, image.variant)
        body = self.state.lock_body(job.lock_hash)
        if body is None:
            raise StateError(f"the lock {job.lock_hash} of job {job.id} is missing")
        self.lock_body = body
        self.lock = Lock.from_json(json.loads(body), f"lock of job {job.id}")
        self.started = dt.datetime.now(dt.UTC)
        self.findings: dict[str, int] | None = None

    @property
    def plan(self) -> dict[str, Any]:
        return dict(self.job.plan)

    def version_tags(self) -> list[str]:
        return [f"{tag}-{self.job.version_tag}" for tag in self.image.tags]

    def payload(self, **extra: Any) -> dict[str, Any]:
        return {
            "image": self.image.name,
            "registry": self.fleet.registry,
            "repository": self.image.repository,
            "job": self.job.id,
            "reason": self.job.reason,
            "changes": self.plan.get("changes", []),
            **extra,
        }

    def fail(self, kind: str, error: str, **detail: Any) -> NoReturn:
        if self.state.fail(self.job, self.owner, kind, error, **detail):
            self.ctl.notify(kind, self.payload(error=error, **detail))
        raise JobFailed(f"{self.image.name}: {error}")

    def run(self) -> Outcome:
        if self.job.state != PUSHED and self.step("build", self.ensure_built):
            if self.job.state == SIGNED:
                self.step("re-sign", lambda: self.sign(advance=False))  # the layout lost them
        if self.job.state == BUILT:
            self.step("verify", self.verify)
        if self.job.state == VERIFIED:
            self.step("sign", self.sign)
        if self.job.state == SIGNED:
            self.step("push", lambda: self.with_registry(self.push))
        if self.job.state == PUSHED:
            self.step("tag", lambda: self.with_registry(self.move_tags))
        return Outcome(self.image.name, "published", self.job.id, self.job.digest, self.job.reason)

    def step(self, name: str, action: Callable[[], _T]) -> _T:
        """Run one step of the job, logged with the image, the job id and its duration."""
        started = time.monotonic()
        log.info("%s: job %d: %s", self.image.name, self.job.id, name,
                 extra=_fields(self.job, event="step-started", step=name))  # fmt: skip
        try:
            return action()
        finally:
            seconds = round(time.monotonic() - started, 3)
            log.info(
                "%s: job %d: %s ended in %.1fs (job %s)", self.image.name, self.job.id, name,
                seconds, self.job.state,
                extra=_fields(self.job, event="step-finished", step=name, seconds=seconds),
            )  # fmt: skip

    # -- build --------------------------------------------------------------------------------

    def _has_build(self) -> str | None:
        from hardbase.oci.layout import Layout

        try:
            return Layout.open(self.layout).find(BUILD_TAG).digest
        except HardbaseError:
            return None

    def ensure_built(self) -> bool:
        """Build the job's image unless its layout already holds it; True when it built."""
        from hardbase.build.pipeline import build

        have = self._has_build()
        if have is not None and have == (self.job.digest or have):
            if self.job.state == QUEUED:
                self.job = self.state.advance(self.job, self.owner, BUILT, "built", digest=have)
            return False
        spec = _JobSpec.of(self.spec, self.work / "spec.lock.json")
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "spec.lock.json").write_text(self.lock_body)
        started = time.time()
        try:
            result = build(spec, self.layout, tag=BUILD_TAG, progress=_PauseProgress("build"))
        except HardbaseError as exc:
            self.fail("build-failed", f"the build failed: {exc.diagnostics()}")
        _pause("build")
        digest = result.index_digest
        if self.job.digest and digest != self.job.digest:
            self.fail(
                "build-failed",
                f"the rebuild gave {digest}, not the verified {self.job.digest}; "
                "the build is not reproducible, so nothing is published",
            )
        self.state.renew(self.job.id, self.owner, self.fleet.lease)
        if self.job.state == QUEUED:
            self.job = self.state.advance(
                self.job, self.owner, BUILT, "built", digest=digest,
                seconds=round(time.time() - started, 3),
            )  # fmt: skip
        return True

    # -- verify -------------------------------------------------------------------------------

    def verify(self) -> None:
        from hardbase.lifecycle.smoke import run_smoke
        from hardbase.vuln.inventory import inventory
        from hardbase.vuln.scan import scan

        found = inventory(self.ref).inventory
        result = scan(found, self.db)
        open_now = [f for f in result.findings if f.status != NOT_AFFECTED_STATUS]
        targeted = set(self.plan.get("fix_findings", []))
        still = sorted({_finding_key(f) for f in open_now} & targeted)
        if still:
            self.fail("gate-failed", f"targeted findings are still present: {', '.join(still)}")
        installed = {(p.name, p.arch): p.version for p in found.packages if p.type == "deb"}
        for change in self.plan.get("changes", []):
            want = change["new"]
            if want and installed.get((change["package"], change["arch"])) != want:
                self.fail(
                    "gate-failed",
                    f"the image has {change['package']} "
                    f"{installed.get((change['package'], change['arch']), 'missing')}, "
                    f"not the locked {want}",
                )
        baseline = set(self.plan.get("baseline", []))
        threshold = self.image.fail_on
        new_bad = [
            f for f in open_now
            if f"{f.id}|{f.package.name}" not in baseline and f.severity >= threshold
        ]  # fmt: skip
        if new_bad:
            first = new_bad[0]
            self.fail(
                "gate-failed",
                f"{len(new_bad)} new findings at or above {threshold.label} "
                f"(first: {first.id} {first.severity.label} in {first.package.name} "
                f"{first.package.version})",
                findings=[f"{f.id}|{f.package.name}|{f.severity.label}" for f in new_bad],
            )
        smoke = "not configured"
        if self.image.smoke:
            outcome = run_smoke(self.layout, BUILD_TAG, self.image.smoke, self.work)
            if not outcome.ran:
                smoke = "skipped"
                log.warning(
                    "%s: smoke test skipped, no container runtime works here (%s)",
                    self.image.name, outcome.output,
                )  # fmt: skip
                self.state.record(
                    self.image.name, "smoke-skipped", job=self.job.id, reason=outcome.output
                )
            elif not outcome.ok:
                self.fail("gate-failed", f"the smoke command failed: {outcome.output[-300:]}")
            else:
                smoke = f"passed ({outcome.runtime})"
        self.job = self.state.advance(
            self.job, self.owner, VERIFIED, "verified",
            findings=_status_counts(open_now), smoke=smoke,
        )  # fmt: skip
        self.findings = _status_counts(open_now)

    # -- sign ---------------------------------------------------------------------------------

    def identity(self) -> str:
        return f"{self.fleet.registry}/{self.image.repository}"

    def sign(self, *, advance: bool = True) -> None:
        """Sign the build and attach its SBOMs and provenance in the local layout (they are
        pushed with it), then judge the signed image by the image's policy."""
        from hardbase.attest.attestation import SLSA_PROVENANCE_V1, attest_image
        from hardbase.attest.sign import sign_image

        key, password, identity = self.fleet.sign_key, self.ctl.key_password, self.identity()
        sign_image(self.ref, key, password, identity=identity)
        sboms = self.sboms()
        for predicate_type, document in sboms.items():
            attest_image(self.ref, key, password, predicate_type, document, identity=identity)
        attest_image(self.ref, key, password, SLSA_PROVENANCE_V1, self.provenance(),
                     identity=identity)  # fmt: skip
        if not advance:
            return  # a resumed job re-attaches what the rebuilt layout lost; it passed already
        verdict, warnings = self.check_policy()
        self.job = self.state.advance(
            self.job, self.owner, SIGNED, "signed", key=str(key), sboms=sorted(sboms),
            policy=verdict, policy_warnings=warnings,
        )  # fmt: skip

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{BUILD_TAG}"

    def sboms(self) -> dict[str, dict[str, Any]]:
        """The SPDX and CycloneDX SBOMs of the build, by attestation predicate type.

        They name the image by its immutable version tag in the registry (not the job's
        local layout), and their creation time is the image's (the lock's newest
        InRelease date, or SOURCE_DATE_EPOCH), so a rebuild of the same lock attests the
        same documents. Of a multi-architecture image, the first architecture's packages
        are described: an attestation of one predicate type replaces the previous one.
        """
        from hardbase.attest.attestation import CYCLONEDX, SPDX
        from hardbase.build.image import created_time
        from hardbase.build.layers import source_date_epoch
        from hardbase.oci.reference import parse_reference
        from hardbase.sbom.generate import build_input, render, wants_copyright
        from hardbase.vuln.inventory import inventory

        created = created_time([r.date for r in self.lock.releases], source_date_epoch())
        when = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        published = f"docker://{self.identity()}:{self.version_tags()[0]}"
        read = inventory(self.ref, arch=self.spec.archs[0], want_paths=wants_copyright)
        sbom = build_input(
            dataclasses.replace(read.inventory, reference=published),
            read.tree.read,
            ref=parse_reference(published),
            name=self.image.repository.rsplit("/", 1)[-1],
        )
        return {
            SPDX: json.loads(render(sbom, "spdx-json", created=when)),
            CYCLONEDX: json.loads(render(sbom, "cyclonedx-json", created=when)),
        }

    def check_policy(self) -> tuple[str, list[str]]:
        """Judge the signed build by the image's policy: (verdict, warnings); a failed rule
        fails the gate, and the event and the webhook carry every failed rule's reason."""
        if self.image.policy is None:
            return "not configured", []
        from hardbase.policy.check import check_image
        from hardbase.policy.model import load_policy

        report = check_image(self.ref, load_policy(self.image.policy), db=self.db)
        warnings = [f"{r.rule}: {r.reason}" for r in report.results if not r.ok and not r.blocking]
        if not report.ok:
            failed = report.failures
            self.fail(
                "gate-failed",
                f"the policy {report.policy} ({self.image.policy.name}) failed "
                f"{len(failed)} of {len(report.results)} rules: "
                + "; ".join(f"{r.rule}: {r.reason}" for r in failed),
                policy=report.policy,
                rules=[
                    {"rule": r.rule, "reason": r.reason, "details": list(r.details[:20])}
                    for r in failed
                ],
                policy_warnings=warnings,
            )
        return f"{report.policy}: passed {len(report.results)} rules", warnings

    def provenance(self) -> dict[str, Any]:
        from hardbase.attest.provenance import Material, slsa_provenance

        lock_sha = hashlib.sha256(self.lock_body.encode()).hexdigest()
        return slsa_provenance(
            spec=_spec_document(self.image.spec),
            packages=[
                Material(p.url, p.sha256, f"{p.name}_{p.version}_{p.arch}")
                for p in self.lock.all_packages()
            ],
            lock=Material(f"hardbase-lock:{self.job.lock_hash}", lock_sha, "lock"),
            started=self.started,
            finished=dt.datetime.now(dt.UTC),
            invocation_id=f"hardbase-watch/job/{self.job.id}",
            internal={"reason": self.job.reason, "relock": self.plan.get("mode", "")},
        )

    # -- push and tag -------------------------------------------------------------------------

    def client(self) -> RegistryClient:
        return RegistryClient(
            self.fleet.registry, self.image.repository, insecure=self.fleet.insecure, retries=2
        )

    def with_registry(self, step: Callable[[], None]) -> None:
        """Run a registry step, waiting with backoff while the registry is unavailable."""
        tries = 0

        def attempt() -> None:
            nonlocal tries
            if tries:
                self.state.renew(self.job.id, self.owner, self.fleet.lease)
            tries += 1
            step()

        def waiting(exc: BaseException, delay: float) -> None:
            if tries == 1 and isinstance(exc, RegistryUnavailable):
                self.state.record(
                    self.image.name, "registry-wait", job=self.job.id, error=exc.diagnostics()
                )
            log.info("%s: registry unavailable, retrying in %.1fs", self.image.name, delay)

        retrying(
            attempt,
            transient=RegistryUnavailable,
            deadline=time.monotonic() + self.fleet.registry_wait,
            before_retry=waiting,
        )

    def push(self) -> None:
        """Push the signed build under its immutable version tags (blobs first, tags last)."""
        from hardbase.errors import ImageError
        from hardbase.oci.copy import copy

        digest = self.job.digest
        tags = self.version_tags()
        client = self.client()
        try:
            for tag in tags:
                there = client.head_manifest(tag)
                if there is not None and there.digest != digest:
                    raise ImageError(
                        f"{self.identity()}:{tag} already names {there.digest}, not {digest}; "
                        "version tags are immutable, so the state database and the registry "
                        "disagree: check the registry"
                    )
            ref = f"docker://{self.identity()}:{tags[0]}"
            result = copy(
                self.ref, ref, insecure=self.fleet.insecure,
                signatures=True, progress=_PauseProgress("push"),
            )  # fmt: skip
            if result.digest != digest:
                raise ImageError(f"pushed {result.digest}, expected the verified {digest}")
            data, media_type, _ = client.get_manifest(digest)
            for tag in tags[1:]:
                client.put_manifest(tag, data, media_type)
        finally:
            client.close()
        self.job = self.state.advance(
            self.job, self.owner, PUSHED, "pushed", digest=digest, tags=tags,
            uploaded=result.stats.uploaded, skipped=result.stats.skipped,
        )  # fmt: skip

    def move_tags(self) -> None:
        """Point the fleet's tags at the pushed digest, then record the publish (once)."""
        _pause("tag")
        digest = self.job.digest
        client = self.client()
        try:
            data, media_type, _ = client.get_manifest(digest)
            for tag in self.image.tags:
                client.put_manifest(tag, data, media_type)
        finally:
            client.close()
        event = self.state.publish(
            self.job, self.owner, digest, list(self.plan.get("fixes", [])),
            tags=list(self.image.tags), version_tags=self.version_tags(),
        )  # fmt: skip
        if event is not None:
            self.ctl.notify(
                PUBLISHED,
                self.payload(
                    digest=digest, tags=list(self.image.tags), version_tags=self.version_tags(),
                    published_at=event.ts,
                ),
            )  # fmt: skip
            if self.findings is not None:
                self.state.set_checked(self.image.name, self.findings)
        fresh = self.state.job(self.job.id)
        assert fresh is not None
        self.job = fresh
        if self.job.state not in FINAL:
            raise StateError(f"job {self.job.id} could not be recorded as published")


def _spec_document(path: Path) -> dict[str, Any]:
    """The spec file as written (the build's external parameters)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {"path": str(path)}
    return data if isinstance(data, dict) else {"path": str(path)}


@dataclasses.dataclass(frozen=True)
class _JobSpec(ImageSpec):
    """The image spec with its lock file in the job's work directory (the user's stays put)."""

    job_lock: Path = Path()

    @classmethod
    def of(cls, spec: ImageSpec, lock: Path) -> _JobSpec:
        fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(ImageSpec)}
        return cls(**fields, job_lock=lock)

    @property
    def lock_path(self) -> Path:
        return self.job_lock
