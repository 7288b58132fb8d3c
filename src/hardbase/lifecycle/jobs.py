"""The checkpointed job runner: one job through build, verify, sign, push and tag.

    queued -> built -> verified -> signed -> pushed -> published

Every step's state change and its event are written in one transaction, so a
controller killed anywhere resumes the job at its last checkpoint. Builds are
reproducible (same lock, same digest), so a resumed job rebuilds what it lost
and refuses to go on when the digest differs from the one it verified; tags
move only to that verified digest. The release steps (SBOMs, signature and
attestations, gates, publish) are `hardbase.release`'s, the same as
`hardbase build --sign-key`'s. `JobHooks` are the points a job passes, where a
test can stop it to kill it there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from hardbase.build.lock import Lock
from hardbase.build.spec import ImageSpec
from hardbase.build.variants import load_variant
from hardbase.errors import GateFailed, HardbaseError
from hardbase.lifecycle.fleet import ManagedImage
from hardbase.lifecycle.jobplan import JobPlan
from hardbase.lifecycle.queue import status_counts
from hardbase.lifecycle.report import Outcome
from hardbase.lifecycle.state import (
    BUILT,
    FINAL,
    PUBLISHED,
    PUSHED,
    QUEUED,
    SIGNED,
    VERIFIED,
    Job,
    StateError,
)
from hardbase.oci.registry import RegistryClient, RegistryUnavailable
from hardbase.release.image import BuiltImage
from hardbase.util.progress import NullProgress
from hardbase.util.retry import retrying
from hardbase.vuln.db import VulnDB

if TYPE_CHECKING:
    from hardbase.lifecycle.controller import Controller

log = logging.getLogger(__name__)
_T = TypeVar("_T")

BUILD_TAG = "build"


class JobFailed(GateFailed):
    """A job's build or gate failed; nothing was published."""


class JobHooks:
    """The points a job passes: `build` (the build made progress, and when it ends), `push`
    (the push uploaded something) and `tag` (before the tags move). They do nothing here;
    the crash-safety tests stop a controller at one of them and kill it."""

    def reached(self, point: str) -> None:
        """Called at `point`."""


class _HookProgress(NullProgress):
    """Tells the hooks once the step it watches has made some progress."""

    def __init__(self, hooks: JobHooks, point: str) -> None:
        self.hooks = hooks
        self.point = point

    def advance(self, amount: int = 1) -> None:
        self.hooks.reached(self.point)


def job_fields(job: Job, **extra: Any) -> dict[str, Any]:
    """The structured fields of a job's log records (`--log-format json` shows them)."""
    return {"image": job.image, "job": job.id, "state": job.state, **extra}


def run_job(ctl: Controller, job: Job, db: VulnDB) -> Outcome:
    """Claim `job` and run its remaining steps; what came of it."""
    image = ctl.fleet.image(job.image)
    claimed = ctl.state.claim(job.id, ctl.owner, ctl.fleet.lease)
    if claimed is None:
        return Outcome(job.image, "pending", job.id, reason="another controller holds it")
    try:
        if image.inplace is not None:
            from hardbase.lifecycle.inplace import InPlaceRun

            outcome = InPlaceRun(ctl, image, claimed, db).run()
        else:
            outcome = JobRun(ctl, image, claimed, db).run()
        log.info("%s: job %d published %s", job.image, job.id, outcome.digest,
                 extra=job_fields(job, event="job-published", digest=outcome.digest))  # fmt: skip
        return outcome
    except JobFailed as exc:
        log.warning("%s: job %d failed: %s", job.image, job.id, exc,
                    extra=job_fields(job, event="job-failed", error=str(exc)))  # fmt: skip
        return Outcome(job.image, "failed", job.id, reason=job.reason, error=str(exc))
    except HardbaseError as exc:
        message = exc.diagnostics()
        log.warning("%s: job %d stopped: %s", job.image, job.id, message,
                    extra=job_fields(job, event="job-error", error=message))  # fmt: skip
        try:
            ctl.state.record(job.image, "job-error", job=job.id, error=message)
            ctl.state.release(claimed, ctl.owner, message)
        except StateError as inner:
            log.warning("cannot release job %d: %s", job.id, inner.diagnostics())
        return Outcome(job.image, "error", job.id, reason=job.reason, error=message)


class JobRun:
    """One job through its remaining steps."""

    def __init__(self, ctl: Controller, image: ManagedImage, job: Job, db: VulnDB) -> None:
        self.ctl = ctl
        self.state = ctl.state
        self.owner = ctl.owner
        self.fleet = ctl.fleet
        self.hooks = ctl.hooks
        self.image = image
        self.job = job
        self.db = db
        self.work = self.fleet.workdir / "jobs" / str(job.id)
        self.layout = self.work / "image"
        self.plan = JobPlan.from_json(job.plan)
        self.started = dt.datetime.now(dt.UTC)
        self.findings: dict[str, int] | None = None
        self.load()

    def load(self) -> None:
        """Read what the job builds: the spec and the lock (`lifecycle/inplace.py`: a plan)."""
        self.spec = load_variant(self.image.spec_path, self.image.variant)
        body = self.state.lock_body(self.job.lock_hash)
        if body is None:
            raise StateError(f"the lock {self.job.lock_hash} of job {self.job.id} is missing")
        self.lock_body = body
        self.lock = Lock.from_json(json.loads(body), f"lock of job {self.job.id}")
        if self.fleet.patch is not None and self.image.patch:
            from hardbase.lifecycle.patchjobs import spec_for_lock

            # a lock that takes hardbase's rebuilds was resolved with the fleet's archive
            self.spec = spec_for_lock(self.spec, self.lock, self.fleet.patch)

    def version_tags(self) -> list[str]:
        return [f"{tag}-{self.job.version_tag}" for tag in self.image.tags]

    def identity(self) -> str:
        return f"{self.fleet.registry}/{self.image.repository}"

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{BUILD_TAG}"

    def payload(self, **extra: Any) -> dict[str, Any]:
        return {
            "image": self.image.name,
            "registry": self.fleet.registry,
            "repository": self.image.repository,
            "job": self.job.id,
            "reason": self.job.reason,
            "changes": [c.to_json() for c in self.plan.changes],
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
                 extra=job_fields(self.job, event="step-started", step=name))  # fmt: skip
        try:
            return action()
        finally:
            seconds = round(time.monotonic() - started, 3)
            log.info(
                "%s: job %d: %s ended in %.1fs (job %s)", self.image.name, self.job.id, name,
                seconds, self.job.state,
                extra=job_fields(self.job, event="step-finished", step=name, seconds=seconds),
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
            progress = _HookProgress(self.hooks, "build")
            result = build(spec, self.layout, tag=BUILD_TAG, progress=progress)
        except HardbaseError as exc:
            self.fail("build-failed", f"the build failed: {exc.diagnostics()}")
        self.hooks.reached("build")
        self.record_build(result.index_digest, started)
        return True

    def record_build(self, digest: str, started: float, **detail: Any) -> None:
        """Check a (re)build's digest against the verified one and record the `built` step."""
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
                seconds=round(time.time() - started, 3), **detail,
            )  # fmt: skip

    # -- verify -------------------------------------------------------------------------------

    def verify(self) -> None:
        """The scan gate (`release.gates.scan_gate`), then the smoke command."""
        from hardbase.release.gates import scan_gate
        from hardbase.vuln.inventory import inventory
        from hardbase.vuln.scan import scan
        from hardbase.vuln.vex import rebuild_statements

        found = inventory(self.ref).inventory
        # hardbase's rebuilds say which CVEs their patches fix (the OpenVEX `fixed` the sign
        # step attests): the rescan takes them as fixed
        result = scan(found, self.db, vex=rebuild_statements(found))
        installed = {(p.name, p.arch): p.version for p in found.packages if p.type == "deb"}
        gate = scan_gate(
            "the rebuilt image", result.findings, installed,
            targeted=self.plan.fix_findings,
            locked=[(c.package, c.arch, c.new) for c in self.plan.changes],
            baseline=self.plan.baseline, threshold=self.image.fail_on,
        )  # fmt: skip
        if not gate.ok:
            self.fail("gate-failed", gate.message(), **gate.detail())
        smoke = self.smoke()
        counts = status_counts(result.findings)
        self.job = self.state.advance(
            self.job, self.owner, VERIFIED, "verified", findings=counts, smoke=smoke
        )
        self.findings = counts

    def smoke(self) -> str:
        """Run the image's smoke command, when it has one; what came of it."""
        if not self.image.smoke:
            return "not configured"
        from hardbase.lifecycle.smoke import run_smoke

        outcome = run_smoke(self.layout, BUILD_TAG, self.image.smoke, self.work)
        if not outcome.ran:
            log.warning(
                "%s: smoke test skipped, no container runtime works here (%s)",
                self.image.name, outcome.output,
            )  # fmt: skip
            self.state.record(
                self.image.name, "smoke-skipped", job=self.job.id, reason=outcome.output
            )
            return "skipped"
        if not outcome.ok:
            self.fail("gate-failed", f"the smoke command failed: {outcome.output[-300:]}")
        return f"passed ({outcome.runtime})"

    # -- sign ---------------------------------------------------------------------------------

    def sign(self, *, advance: bool = True) -> None:
        """Sign the build and attach its SBOMs and provenance in the local layout (they are
        pushed with it), then judge the signed image by the image's policy."""
        from hardbase.release.sboms import attach_sboms, file_names, release_sboms
        from hardbase.release.sign import sign_release

        image = BuiltImage.in_layout(self.layout, BUILD_TAG, self.spec, self.lock, self.identity())
        sboms = release_sboms(image)
        attach_sboms(image, sboms, file_names(sboms, self.spec.name))
        key = self.fleet.sign_key
        sign_release(
            image, sboms, key, self.ctl.key_password, started=self.started,
            finished=dt.datetime.now(dt.UTC), invocation_id=f"hardbase-watch/job/{self.job.id}",
        )  # fmt: skip
        if not advance:
            return  # a resumed job re-attaches what the rebuilt layout lost; it passed already
        verdict, warnings = self.check_policy()
        self.job = self.state.advance(
            self.job, self.owner, SIGNED, "signed", key=str(key),
            sboms=sorted({s.predicate_type for s in sboms}),
            policy=verdict, policy_warnings=warnings,
        )  # fmt: skip

    def check_policy(self) -> tuple[str, list[str]]:
        """Judge the signed build by the image's policy: (verdict, warnings); a failed rule
        fails the gate, and the event and the webhook carry every failed rule's reason."""
        if self.image.policy is None:
            return "not configured", []
        from hardbase.release.gates import policy_gate

        gate = policy_gate(self.ref, self.image.policy, self.db, subject="the rebuilt image")
        if not gate.ok:
            self.fail("gate-failed", gate.message(), **gate.detail())
        return gate.verdict(), list(gate.warnings)

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
        from hardbase.release.publish import push_versions

        client = self.client()
        try:
            pushed = push_versions(
                self.ref, client, self.identity(), self.job.digest, self.version_tags(),
                insecure=self.fleet.insecure, progress=_HookProgress(self.hooks, "push"),
            )  # fmt: skip
        finally:
            client.close()
        self.job = self.state.advance(
            self.job, self.owner, PUSHED, "pushed", digest=pushed.digest, tags=list(pushed.tags),
            uploaded=pushed.uploaded, skipped=pushed.skipped,
        )  # fmt: skip

    def move_tags(self) -> None:
        """Point the fleet's tags at the pushed digest, then record the publish (once)."""
        from hardbase.release.publish import move_tags

        self.hooks.reached("tag")
        digest = self.job.digest
        client = self.client()
        try:
            move_tags(client, digest, self.image.tags)
        finally:
            client.close()
        event = self.state.publish(
            self.job, self.owner, digest, list(self.plan.fixes),
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
        if fresh is None or fresh.state not in FINAL:
            raise StateError(f"job {self.job.id} could not be recorded as published")
        self.job = fresh


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
