"""Jobs on Celery workers: the controller plans, workers on any host run the jobs.

With `executor: {kind: celery, broker: redis://...}` a pass sends each runnable
job to the broker as a task carrying the job id and the fleet's hash; a
`hardbase worker` takes it, claims the job's lease in the shared (PostgreSQL)
state database and runs `jobs.run_job`, the same checkpointed steps as the
in-process executor. What Celery gives is used as it is:

- `acks_late` with the broker's visibility timeout: a task is acknowledged only
  when it ends, so the job of a worker killed mid-step is delivered again (after
  `executor.visibility_timeout`) and resumes from its last checkpoint;
- retries with backoff (`Task.retry`, Celery's exponential backoff with jitter)
  for a job that stopped on an error, and a short retry while another worker
  holds the job's lease (a redelivery of a job still running);
- routing: image jobs to the `images` queue, source-package builds to `builds`;
- `worker_prefetch_multiplier=1`, as the jobs are long.

Exactly once comes from the state database, not from the broker: a job's
lease and its state-guarded `published` transaction make a redelivered or
duplicated task harmless. The pass waits for every job it sent to end, reading
the job states from the database and the task results from the backend.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hardbase.errors import HardbaseError
from hardbase.lifecycle.executor import ExecutorError
from hardbase.lifecycle.fleet import Fleet
from hardbase.lifecycle.notify import Notifier
from hardbase.lifecycle.report import Outcome, PassReport
from hardbase.lifecycle.state import (
    FAILED,
    FINAL,
    PATCH_RUNNABLE,
    RUNNABLE,
    Job,
    PatchJob,
    StateDB,
)
from hardbase.vuln.db import VulnDB

if TYPE_CHECKING:
    from celery import Celery, Task
    from celery.result import AsyncResult

    from hardbase.lifecycle.controller import Controller

log = logging.getLogger(__name__)

IMAGE_TASK = "hardbase.image-job"
BUILD_TASK = "hardbase.build-job"  # source-package builds (`patch:`), on their own queue
ROUTES = {IMAGE_TASK: "images", BUILD_TASK: "builds"}
QUEUES = ("images", "builds")
FLEET_KEY = "fleet-digest"  # lc_meta: the hash of the fleet the controller runs
_POLL = 1.0  # seconds between two looks at the jobs a pass waits for
_SEND_RETRY = {"max_retries": 30, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 5.0}


def celery_app(fleet: Fleet) -> Celery:
    """The Celery application of `fleet`'s executor (broker and result backend alike)."""
    from celery import Celery

    settings = fleet.executor
    app = Celery("hardbase", broker=settings.broker, backend=settings.broker, set_as_current=False)
    transport = {"visibility_timeout": settings.visibility_timeout, "socket_connect_timeout": 5}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
        task_default_queue="images",
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=7 * 86400,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        result_backend_always_retry=True,
        result_backend_max_retries=20,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=True,
    )
    return app


def broker_name(fleet: Fleet) -> str:
    """The broker URL with any password masked."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(fleet.executor.broker))


def check_broker(app: Celery, fleet: Fleet) -> None:
    """An ExecutorError naming the broker when it cannot be reached."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0.2, timeout=5)
    except Exception as exc:  # kombu raises its OperationalError or the transport's own
        raise ExecutorError(
            f"the Celery broker {broker_name(fleet)} of {fleet.path} cannot be reached "
            f"({exc}); start it or fix executor.broker"
        ) from None


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return dataclasses.asdict(outcome)


def _outcome_from(value: Any) -> Outcome | None:
    if isinstance(value, dict) and isinstance(value.get("result"), str):
        fields = {f.name for f in dataclasses.fields(Outcome)}
        return Outcome(**{k: v for k, v in value.items() if k in fields})
    return None


def final_outcome(job: Job) -> Outcome:
    """The outcome of a job that has ended, read from the state database."""
    if job.state == FAILED:
        return Outcome(job.image, "failed", job.id, reason=job.reason, error=job.error)
    return Outcome(job.image, "published", job.id, job.digest, job.reason)


def patch_outcome(job: PatchJob) -> Outcome:
    """The outcome of a patch job that has ended (published, failed or retired)."""
    return Outcome(f"patch:{job.source}", f"patch-{job.state}", reason=job.version, error=job.error)


def queue_for(task: str) -> str:
    return ROUTES[task]


@dataclass
class _Sent:
    """A job sent to the broker: which task, what the pass reports for it, its result."""

    task: str
    job_id: int
    label: str  # the outcome's image: the image name, or patch:SOURCE
    error_result: str  # the outcome's result when the task gave up: error | patch-error
    result: AsyncResult
    at: float
    doubt: bool = False  # the broker was unreachable since it was sent: it may have lost it


@dataclass(frozen=True)
class _Held:
    """A job that has not ended, as the state database has it: who holds its lease."""

    owner: str | None
    until: float | None


class CeleryExecutor:
    """Sends each runnable job to the broker and waits for the workers to end them."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.app = celery_app(fleet)
        # the pass's own loop waits out a broker that went away; no retries inside a look
        self.app.conf.result_backend_always_retry = False
        check_broker(self.app, fleet)

    def send(self, task: str, job_id: int) -> AsyncResult:
        try:
            return self.app.send_task(
                task, args=[job_id, self.fleet.digest], queue=queue_for(task), retry=True,
                retry_policy=_SEND_RETRY,
            )  # fmt: skip
        except Exception as exc:  # the broker stayed away through every retry
            raise ExecutorError(
                f"cannot send job {job_id} to the Celery broker {broker_name(self.fleet)} ({exc})"
            ) from None

    def _send_all(
        self, state: StateDB, task: str, items: list[tuple[int, str]], error_result: str
    ) -> tuple[dict[int, _Sent], list[Outcome]]:
        state.set_meta(FLEET_KEY, self.fleet.digest)
        sent: dict[int, _Sent] = {}
        failed: list[Outcome] = []
        for job_id, label in items:
            try:
                result = self.send(task, job_id)
            except ExecutorError as exc:
                failed.append(Outcome(label, error_result, job_id, error=str(exc)))
                continue
            sent[job_id] = _Sent(task, job_id, label, error_result, result, time.monotonic())
            state.record(label, "job-sent", job=job_id, task=result.id, queue=queue_for(task))
        return sent, failed

    def run(
        self, ctl: Controller, jobs: list[Job], db: VulnDB, report: PassReport
    ) -> list[Outcome]:
        state = ctl.state
        sent, outcomes = self._send_all(state, IMAGE_TASK, [(j.id, j.image) for j in jobs], "error")

        def held() -> dict[int, _Held]:
            return {j.id: _Held(j.lease_owner, j.lease_until) for j in state.jobs(states=RUNNABLE)}

        def ended(job_id: int) -> Outcome | None:
            job = state.job(job_id)
            return final_outcome(job) if job is not None and job.state in FINAL else None

        return outcomes + self.wait(state, sent, held, ended)

    def run_patches(self, ctl: Controller, jobs: list[PatchJob]) -> list[Outcome]:
        """Source-package builds on the `builds` queue, waited for like image jobs."""
        state = ctl.state
        items = [(j.id, f"patch:{j.source}") for j in jobs]
        sent, outcomes = self._send_all(state, BUILD_TASK, items, "patch-error")

        def held() -> dict[int, _Held]:
            runnable = state.patch_jobs(states=PATCH_RUNNABLE)
            return {j.id: _Held(j.lease_owner, j.lease_until) for j in runnable}

        def ended(job_id: int) -> Outcome | None:
            job = state.patch_job(job_id)
            return patch_outcome(job) if job is not None else None

        return outcomes + self.wait(state, sent, held, ended)

    def wait(
        self,
        state: StateDB,
        sent: dict[int, _Sent],
        held: Callable[[], dict[int, _Held]],
        ended: Callable[[int], Outcome | None],
    ) -> list[Outcome]:
        """Until every sent job has ended (database) or its task gave up (result backend).

        A task the broker may have lost (it was unreachable, and since it came back the
        task has not started within the visibility timeout while nobody holds the job's
        lease: a broker that restarted without its data) is sent again; a duplicate is
        harmless, as the job's lease and state decide who runs it."""
        outcomes: list[Outcome] = []
        while sent:
            running = {i: h for i, h in held().items() if i in sent}
            for job_id in [i for i in sent if i not in running]:
                outcome = ended(job_id)
                if outcome is not None:
                    outcomes.append(outcome)
                    del sent[job_id]
            for job_id, lease in running.items():
                outcome = self._look(state, sent[job_id], lease)
                if outcome is not None:
                    outcomes.append(outcome)
                    del sent[job_id]
            if sent:
                time.sleep(_POLL)
        return outcomes

    def _look(self, state: StateDB, item: _Sent, lease: _Held) -> Outcome | None:
        """What the task of a job that has not ended says: an outcome when it gave up."""
        gave_up = Outcome(item.label, item.error_result, item.job_id)
        try:
            status = item.result.state
            if status == "SUCCESS":
                told = _outcome_from(item.result.result)
                gave_up.error = f"the task ended: {item.result.result}"
                return told or gave_up
            if status == "FAILURE":
                gave_up.error = f"the task failed: {item.result.result}"
                return gave_up
        except Exception as exc:  # the backend (the broker's Redis) is away: wait for it
            log.info("job %d: cannot read its task's state (%s); waiting", item.job_id, exc)
            item.doubt, item.at = True, time.monotonic()
            return None
        lease_free = lease.owner is None or (lease.until or 0) < time.time()
        lost = item.doubt and status == "PENDING" and lease_free
        if lost and time.monotonic() - item.at > self.fleet.executor.visibility_timeout:
            try:
                item.result = self.send(item.task, item.job_id)
            except ExecutorError as exc:
                log.info("%s", exc)
                return None
            item.at, item.doubt = time.monotonic(), False
            state.record(item.label, "job-sent", job=item.job_id, task=item.result.id,
                         again=True, queue=queue_for(item.task))  # fmt: skip
        return None


# -- the worker side -------------------------------------------------------------------------


@dataclass
class WorkerContext:
    """What a worker process's tasks share: its fleet, the state database and the notifier."""

    fleet: Fleet
    state: StateDB
    notifier: Notifier | None = None


def run_task(
    ctx: WorkerContext, task: Task, name: str, job_id: int, fleet_digest: str, errors: int = 0
) -> dict[str, Any]:
    """One job (`name`: IMAGE_TASK or BUILD_TASK) on this worker: its outcome, or
    `task.retry` (which raises) while another worker holds it or after an error."""
    kwargs = {"job_id": job_id, "fleet_digest": fleet_digest, "errors": errors + 1}
    try:
        outcome, lease = _run(ctx, name, job_id, fleet_digest)
    except HardbaseError as exc:  # the state database is away, say: retried like a job error
        if errors >= ctx.fleet.executor.retries:
            raise
        log.warning("job %d: %s; retrying", job_id, exc.diagnostics())
        raise task.retry(args=(), kwargs=kwargs, countdown=_backoff(errors)) from None
    if lease is not None:  # another worker holds it (a redelivery of a job still running)
        remaining = (lease.until or 0) - time.time()
        wait = min(max(1.0, remaining), ctx.fleet.executor.visibility_timeout / 2, 30.0)
        kwargs["errors"] = errors
        raise task.retry(args=(), kwargs=kwargs, countdown=wait)
    if outcome.result.endswith("error") and errors < ctx.fleet.executor.retries:
        raise task.retry(args=(), kwargs=kwargs, countdown=_backoff(errors))
    return _outcome_json(outcome)


def _backoff(errors: int) -> float:
    from celery.utils.time import get_exponential_backoff_interval

    return float(get_exponential_backoff_interval(2, errors, 300, True))


def _run(
    ctx: WorkerContext, name: str, job_id: int, fleet_digest: str
) -> tuple[Outcome, _Held | None]:
    """Run the job: (its outcome, the lease another holds when it could not be claimed)."""
    from hardbase.lifecycle.controller import Controller
    from hardbase.lifecycle.jobs import run_job
    from hardbase.lifecycle.patchjobs import run_patch_job

    fleet = ctx.fleet
    if fleet_digest != fleet.digest:
        return Outcome("?", "error", job_id, error=fleet_mismatch(fleet)), None
    ctl = Controller(fleet, ctx.state, notifier=ctx.notifier)  # a lease owner of its own
    if name == BUILD_TASK:
        patch = ctx.state.patch_job(job_id)
        if patch is None or patch.state not in PATCH_RUNNABLE:
            return _ended(job_id, patch), None
        outcome = run_patch_job(ctl, job_id).as_outcome()
        after = ctx.state.patch_job(job_id)
        if outcome.result == "patch-pending" and after and after.state in PATCH_RUNNABLE:
            return outcome, _Held(after.lease_owner, after.lease_until)
        return (_ended(job_id, after) if outcome.result == "patch-pending" else outcome), None
    job = ctx.state.job(job_id)
    if job is None or job.state in FINAL:
        return _ended(job_id, job), None
    with VulnDB.open(fleet.vulndb) as db:
        outcome = run_job(ctl, job, db)
    if outcome.result == "pending":
        fresh = ctx.state.job(job_id)
        if fresh is None or fresh.state in FINAL:
            return _ended(job_id, fresh), None
        return outcome, _Held(fresh.lease_owner, fresh.lease_until)
    return outcome, None


def _ended(job_id: int, job: Job | PatchJob | None) -> Outcome:
    if job is None:
        return Outcome("?", "error", job_id, error=f"job {job_id} does not exist")
    return patch_outcome(job) if isinstance(job, PatchJob) else final_outcome(job)


def fleet_mismatch(fleet: Fleet) -> str:
    return (
        f"the worker's fleet {fleet.path} ({fleet.digest[:19]}) is not the one the controller "
        "runs; start the worker with the controller's fleet file"
    )


def register_tasks(app: Celery, ctx: WorkerContext) -> None:
    """The tasks this worker runs, bound to its context."""

    @app.task(name=IMAGE_TASK, bind=True, max_retries=None, acks_late=True)  # type: ignore[untyped-decorator]
    def image_job(task: Task, job_id: int, fleet_digest: str, errors: int = 0) -> dict[str, Any]:
        return run_task(ctx, task, IMAGE_TASK, job_id, fleet_digest, errors)

    @app.task(name=BUILD_TASK, bind=True, max_retries=None, acks_late=True)  # type: ignore[untyped-decorator]
    def build_job(task: Task, job_id: int, fleet_digest: str, errors: int = 0) -> dict[str, Any]:
        return run_task(ctx, task, BUILD_TASK, job_id, fleet_digest, errors)


def _keep_logging(**_: Any) -> None:
    """Celery's `setup_logging` signal: answered, so Celery leaves logging alone."""


def worker_name() -> str:
    import os

    return f"hardbase-{os.getpid()}@{socket.gethostname()}"


def worker_app(fleet: Fleet, queues: Sequence[str]) -> Celery:
    """The Celery application a worker of `fleet` runs, its broker reached.

    Refused (ExecutorError) when the fleet's executor is not Celery, a queue is not one
    of QUEUES, or the broker cannot be reached."""
    if fleet.executor.kind != "celery":
        raise ExecutorError(
            f"{fleet.path} runs its jobs in-process; a worker needs executor: "
            "{kind: celery, broker: URL}"
        )
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        raise ExecutorError(
            f"no queue {', '.join(unknown) or '(none given)'}; the queues are {', '.join(QUEUES)}"
        )
    app = celery_app(fleet)
    check_broker(app, fleet)
    return app


def start_worker(
    app: Celery,
    ctx: WorkerContext,
    *,
    queues: Sequence[str],
    concurrency: int,
    loglevel: str = "INFO",
) -> int:
    """Run the Celery worker `app` until it is stopped; its exit code. Refused
    (ExecutorError) when the controller recorded another fleet in the state database."""
    recorded = ctx.state.meta(FLEET_KEY)
    if recorded is not None and recorded != ctx.fleet.digest:
        raise ExecutorError(fleet_mismatch(ctx.fleet))
    register_tasks(app, ctx)
    from celery import signals

    # The logging stays the CLI's (`cli/logs.py`): a receiver here means Celery sets up none.
    signals.setup_logging.connect(_keep_logging, weak=False)
    worker = app.Worker(
        queues=list(queues), concurrency=concurrency, pool="threads", hostname=worker_name(),
        loglevel=loglevel, quiet=True, without_mingle=True,
    )  # fmt: skip
    worker.start()
    return int(worker.exitcode or 0)


# -- operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerState:
    """One worker as Celery's inspect sees it."""

    name: str
    active: int  # jobs running now
    processed: int  # tasks it has run since it started
    queues: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ClusterStatus:
    """The broker's side of a Celery fleet: its workers and how many jobs wait per queue."""

    broker: str
    workers: tuple[WorkerState, ...]
    queues: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "workers": [w.to_json() for w in self.workers],
            "queues": dict(self.queues),
        }


def cluster_status(fleet: Fleet, timeout: float = 1.0) -> ClusterStatus:
    """Ask the workers (Celery's inspect, waiting `timeout` for replies) and the broker's
    queues; ExecutorError when the broker cannot be reached."""
    app = celery_app(fleet)
    check_broker(app, fleet)
    inspect = app.control.inspect(timeout=timeout)
    try:
        stats = inspect.stats() or {}
        active = inspect.active() or {}
        consuming = inspect.active_queues() or {}
        depths = {queue: _depth(app, queue) for queue in QUEUES}
    except Exception as exc:  # the broker went away between the check and the questions
        raise ExecutorError(
            f"the Celery broker {broker_name(fleet)} stopped answering ({exc})"
        ) from None
    workers = tuple(
        WorkerState(
            name=name,
            active=len(active.get(name) or []),
            processed=sum(int(n) for n in (stats[name].get("total") or {}).values()),
            queues=tuple(sorted(q.get("name", "") for q in consuming.get(name) or [])),
        )
        for name in sorted(stats)
    )
    return ClusterStatus(broker_name(fleet), workers, depths)


def _depth(app: Celery, queue: str) -> int:
    """Messages waiting in `queue` (0 when the broker has never seen it)."""
    from kombu.exceptions import ChannelError

    with app.connection_for_read() as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:
            return 0
        return int(declared.message_count)
