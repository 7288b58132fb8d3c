"""/metrics in Prometheus' text format, read from the databases at scrape time (so a
`--no-watch` service next to other controllers reports the same numbers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from hardbase.server import queries
from hardbase.server.context import ServiceContext
from hardbase.server.imagedata import counts
from hardbase.server.status import last_feed_sync

BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0,
           7 * 86400.0)  # fmt: skip


class _Collector:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        snap, db_version = ctx.snapshot()
        times = [t for s in snap.images for t in s.remediation]
        buckets: list[tuple[str, float]] = []
        for bound in BUCKETS:
            buckets.append((_le(bound), float(sum(1 for t in times if t <= bound))))
        buckets.append(("+Inf", float(len(times))))
        yield HistogramMetricFamily(
            "hardbase_remediation_seconds",
            "Seconds from a fix first seen to the image that has it published",
            buckets=buckets,
            sum_value=sum(times),
        )
        open_findings = GaugeMetricFamily(
            "hardbase_open_findings", "Open findings of the published image",
            labels=["image", "severity", "status"],
        )  # fmt: skip
        for s in snap.images:
            findings = ctx.data.findings(s.lock_hash, db_version)
            if findings is None:
                for status, n in counts(None, s.findings_by_status).by_status.items():
                    open_findings.add_metric([s.name, "unknown", status], n)
                continue
            grouped: dict[tuple[str, str], int] = {}
            for f in findings:
                key = (f.severity.label, f.status)
                grouped[key] = grouped.get(key, 0) + 1
            for (severity, status), n in sorted(grouped.items()):
                open_findings.add_metric([s.name, severity, status], n)
        yield open_findings
        jobs = CounterMetricFamily("hardbase_jobs", "Jobs by their state", labels=["state"])
        for state, n in sorted(queries.job_counts(ctx.state).items()):
            jobs.add_metric([state], n)
        yield jobs
        synced = last_feed_sync(ctx)
        age = GaugeMetricFamily(
            "hardbase_feed_sync_age_seconds",
            "Seconds since the vulnerability feeds were last imported (-1: never)",
        )
        age.add_metric([], -1.0 if synced is None else time.time() - synced)
        yield age
        images = GaugeMetricFamily("hardbase_images", "Managed images by status colour",
                                   labels=["status"])  # fmt: skip
        colours: dict[str, int] = {c: 0 for c in ("green", "amber", "red", "grey")}
        for s in snap.images:
            colours[s.status] += 1
        for colour, n in colours.items():
            images.add_metric([colour], n)
        yield images
        if ctx.fleet.executor.kind == "celery":
            yield from _celery_metrics(ctx)


def _celery_metrics(ctx: ServiceContext) -> Iterator[Metric]:
    """Queue depths and per-worker job counts of a fleet whose jobs run on Celery; a
    broker that does not answer is `hardbase_broker_up 0` and no queue or worker series."""
    from hardbase.lifecycle.executor import ExecutorError
    from hardbase.lifecycle.executor_celery import cluster_status

    up = GaugeMetricFamily("hardbase_broker_up", "1 when the Celery broker answered the scrape")
    try:
        cluster = cluster_status(ctx.fleet, timeout=0.5)
    except ExecutorError:
        up.add_metric([], 0.0)
        yield up
        return
    up.add_metric([], 1.0)
    yield up
    depth = GaugeMetricFamily(
        "hardbase_queue_depth", "Jobs waiting in a Celery queue", labels=["queue"]
    )
    for queue, n in cluster.queues.items():
        depth.add_metric([queue], float(n))
    yield depth
    running = GaugeMetricFamily(
        "hardbase_worker_jobs_running", "Jobs a worker runs now", labels=["worker"]
    )
    done = CounterMetricFamily(
        "hardbase_worker_jobs", "Tasks a worker has run since it started", labels=["worker"]
    )
    for worker in cluster.workers:
        running.add_metric([worker.name], float(worker.active))
        done.add_metric([worker.name], float(worker.processed))
    yield running
    yield done


def _le(bound: float) -> str:
    return str(bound)


def registry(ctx: ServiceContext) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Collector(ctx))
    return reg


def render(reg: Any) -> bytes:
    data: bytes = generate_latest(reg)
    return data
