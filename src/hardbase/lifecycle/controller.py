"""The controller: one pass syncs feeds and archives, plans rebuilds and runs them as jobs.

A pass: import the fleet's feeds (`feeds`); for each managed image match its
lock against the database and the archive, relock, and queue a job keyed by
image + lock hash (`queue`). Jobs then run concurrently (one per image, up to
`concurrency`; or on Celery workers, `executor`), each under a lease, through the
checkpointed steps of `jobs.JobRun`:

    queued -> built -> verified -> signed -> pushed -> published

so a controller killed anywhere resumes each job at its last checkpoint, and
the release steps are `hardbase.release`'s, the same as `hardbase build`'s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from hardbase.errors import HardbaseError
from hardbase.lifecycle.executor import Executor, InProcess
from hardbase.lifecycle.feeds import publish_db, sync_feeds
from hardbase.lifecycle.fleet import Fleet, ManagedImage, PatchSettings
from hardbase.lifecycle.jobs import BUILD_TAG as BUILD_TAG
from hardbase.lifecycle.jobs import JobFailed as JobFailed
from hardbase.lifecycle.jobs import JobHooks
from hardbase.lifecycle.notify import Notifier
from hardbase.lifecycle.queue import plan_image
from hardbase.lifecycle.report import Outcome as Outcome
from hardbase.lifecycle.report import PassReport as PassReport
from hardbase.lifecycle.state import RUNNABLE, Job, StateDB, new_owner
from hardbase.lifecycle.status import PASS_EVENT
from hardbase.vuln.db import VulnDB

log = logging.getLogger(__name__)


class Controller:
    """Runs passes over a fleet; thread-safe for the jobs of one pass.

    `hooks` are told the points each job passes (`jobs.JobHooks`); tests stop there."""

    def __init__(
        self,
        fleet: Fleet,
        state: StateDB,
        *,
        owner: str | None = None,
        notifier: Notifier | None = None,
        key_password: bytes | None = None,
        hooks: JobHooks | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.fleet = fleet
        self.state = state
        self.owner = owner or new_owner()
        self.notifier = notifier
        self.key_password = key_password if key_password is not None else _password_env()
        self.hooks = hooks or JobHooks()
        self.executor = executor or InProcess()
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
            if sync_feeds(self.fleet, self.state, db, report) and self.fleet.publish_db:
                publish_db(self.fleet, self.state, db, self.key_password, report)
            patched = self._patch_pass(db, report)
            for image in self.fleet.images:
                if image.name in patched:
                    continue  # the patch pass queued its job; it is planned again next pass
                try:
                    if image.inplace is not None:
                        from hardbase.lifecycle.inplace import plan_inplace

                        outcome = plan_inplace(self, image, db)
                    else:
                        outcome = plan_image(self.state, image, db, patch=self._patching(image))
                except HardbaseError as exc:
                    message = exc.diagnostics()
                    log.warning("%s: cannot plan a rebuild: %s", image.name, message)
                    self.state.record(image.name, "plan-failed", error=message)
                    outcome = Outcome(image.name, "error", error=message)
                if outcome is not None:
                    report.outcomes.append(outcome)
            jobs = self._runnable(report)
            report.outcomes.extend(self.executor.run(self, jobs, db, report))
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

    # -- source patching ----------------------------------------------------------------------

    def _patching(self, image: ManagedImage) -> PatchSettings | None:
        """The fleet's patch settings when `image` may hold hardbase's rebuilds."""
        from hardbase.lifecycle.patchjobs import patching_on

        return self.fleet.patch if patching_on(image, self.fleet.patch) else None

    def _patch_pass(self, db: VulnDB, report: PassReport) -> set[str]:
        """Retire, build and publish patches, relock onto them (`lifecycle.patchjobs`): the
        images it queued a job for."""
        if self.fleet.patch is None:
            return set()
        from hardbase.lifecycle.patchjobs import patch_pass

        try:
            return patch_pass(self, db, report)
        except HardbaseError as exc:
            message = exc.diagnostics()
            log.warning("the patch pass stopped: %s", message)
            self.state.record("*", "patch-pass-failed", error=message)
            report.warnings.append(f"patching: {message}")
            return set()

    # -- jobs ---------------------------------------------------------------------------------

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

    def notify(self, kind: str, payload: dict[str, Any]) -> None:
        if self.notifier is not None:
            self.notifier.send(kind, payload)


def _password_env() -> bytes:
    from hardbase.attest.names import password_from_env

    return password_from_env()
