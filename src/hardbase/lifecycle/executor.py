"""Where a pass's jobs run: the executor seam between planning and running.

The controller plans (feeds, matching, jobs in the state database) and hands
the runnable jobs to an executor. `InProcess` (the default) runs them on
threads of the controller's own process, as one pass always has; the Celery
executor (`executor_celery`) sends each to a worker on any host. Either way a
job runs through `jobs.run_job` under its lease, so the checkpoints and the
exactly-once publish are the state database's, not the executor's.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from hardbase.build.lock import Lock
from hardbase.errors import HardbaseError
from hardbase.lifecycle.fleet import Fleet
from hardbase.lifecycle.report import Outcome, PassReport
from hardbase.lifecycle.state import RUNNABLE, Job, PatchJob, StateDB
from hardbase.vuln.db import VulnDB

if TYPE_CHECKING:
    from hardbase.lifecycle.controller import Controller


class ExecutorError(HardbaseError):
    """The executor cannot take jobs (its broker cannot be reached, or it is set up wrongly)."""


class Executor(Protocol):
    """Runs a pass's runnable jobs to an outcome each."""

    def run(
        self, ctl: Controller, jobs: list[Job], db: VulnDB, report: PassReport
    ) -> list[Outcome]:
        """Run `jobs` (one per image) and return what came of each."""
        ...

    def run_patches(self, ctl: Controller, jobs: list[PatchJob]) -> list[Outcome]:
        """Run the source-package builds `jobs` (`lifecycle.patchjobs`); what came of each."""
        ...


class InProcess:
    """The jobs on up to `fleet.concurrency` threads of this process (no broker)."""

    def run(
        self, ctl: Controller, jobs: list[Job], db: VulnDB, report: PassReport
    ) -> list[Outcome]:
        from hardbase.lifecycle.jobs import run_job

        _prefetch(ctl, jobs, report)
        with ThreadPoolExecutor(max_workers=ctl.fleet.concurrency) as pool:
            futures = [pool.submit(run_job, ctl, job, db) for job in jobs]
            return [future.result() for future in futures]

    def run_patches(self, ctl: Controller, jobs: list[PatchJob]) -> list[Outcome]:
        from hardbase.lifecycle.patchjobs import run_patch_job

        builds = ctl.fleet.patch.max_builds if ctl.fleet.patch is not None else 1
        with ThreadPoolExecutor(max_workers=builds) as pool:
            return [o.as_outcome() for o in pool.map(lambda j: run_patch_job(ctl, j.id), jobs)]


def _prefetch(ctl: Controller, jobs: list[Job], report: PassReport) -> None:
    """Download every package the jobs need once, before the builds run side by side."""
    from hardbase.build.fetch import fetch_packages

    packages = []
    for job in jobs:
        body = ctl.state.lock_body(job.lock_hash)
        if body is not None and ctl.fleet.image(job.image).inplace is None:
            packages.extend(Lock.from_json(json.loads(body), "state").all_packages())
    if not packages:
        return
    try:
        fetch_packages(packages)
    except HardbaseError as exc:  # each build reports it for its own image
        report.warnings.append(f"prefetching packages: {exc.diagnostics()}")


def executor_for(fleet: Fleet) -> Executor:
    """The executor the fleet's `executor:` names; Celery's checks its broker first."""
    if fleet.executor.kind == "celery":
        from hardbase.lifecycle.executor_celery import CeleryExecutor

        return CeleryExecutor(fleet)
    return InProcess()


def in_flight(state: StateDB) -> list[Job]:
    """The jobs some controller or worker holds the lease of now, oldest first."""
    now = time.time()
    return [
        job
        for job in state.jobs(states=RUNNABLE)
        if job.lease_owner is not None and (job.lease_until or 0) >= now
    ]
