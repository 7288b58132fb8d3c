"""Show the state of a managed fleet: the last pass and when the next is due; per image the
published digest, open findings by status, the last rebuild and why (the fixable finding ids it
removes, the package changes), and remediation time (fix first seen -> published: last, p50, p95);
then the CVEs patched from source (hardbase's rebuilds: package, origin, time to publish, retired
or not) apart from those Debian fixed.

Reads the state database the fleet file names (or --state URL). With --fleet, the jobs in
flight (whose lease a controller or worker holds) and, for a fleet whose jobs run on Celery
(`executor: {kind: celery}`), the workers (Celery's inspect: jobs running, jobs run, queues)
and how many jobs wait in each queue.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from hardbase.errors import UsageError

if TYPE_CHECKING:
    from hardbase.lifecycle.executor_celery import ClusterStatus
    from hardbase.lifecycle.state import Job

StatusFormat = Literal["table", "json"]  # run() writes both: the tables, or one JSON document


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", "-f", type=Path, help="the fleet file (YAML)")
    parser.add_argument("--state", metavar="URL", help="state database URL (instead of --fleet)")
    parser.add_argument("--format", choices=get_args(StatusFormat), default="table")


def run(args: argparse.Namespace) -> int:
    from hardbase.lifecycle.executor import in_flight
    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.lifecycle.state import StateDB
    from hardbase.lifecycle.status import (
        debian_fixed,
        fleet_status,
        passes,
        patched,
        render_passes,
        render_patched,
        render_table,
    )

    names = None
    interval = None
    fleet = None
    if args.state:
        url = args.state
    elif args.fleet:
        fleet = load_fleet(args.fleet)
        url, names, interval = fleet.state, [i.name for i in fleet.images], fleet.interval
    else:
        raise UsageError("give --fleet FILE or --state URL")
    with StateDB.open(url) as state:
        statuses = fleet_status(state, names)
        info = passes(state, interval)
        rebuilt, by_debian = patched(state), debian_fixed(state)
        flying = in_flight(state) if fleet is not None else []
    cluster, unreachable = None, ""
    if fleet is not None and fleet.executor.kind == "celery":
        from hardbase.lifecycle.executor import ExecutorError
        from hardbase.lifecycle.executor_celery import cluster_status

        try:
            cluster = cluster_status(fleet)
        except ExecutorError as exc:  # what status is for: say so, show the rest
            unreachable = exc.diagnostics()
    if args.format == "json":
        doc: dict[str, Any] = {
            "passes": info.to_json(),
            "images": [s.to_json() for s in statuses],
            "patched": [p.to_json() for p in rebuilt],
            "debian_fixed": [f.to_json() for f in by_debian],
        }
        if fleet is not None:
            doc["in_flight"] = [_flying_json(job) for job in flying]
            if fleet.executor.kind == "celery":
                doc["executor"] = cluster.to_json() if cluster else {"error": unreachable}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(
            render_passes(info) + render_table(statuses) + render_patched(rebuilt, by_debian)
        )
        if fleet is not None:
            sys.stdout.write(_render_flying(flying))
        if cluster is not None:
            sys.stdout.write(_render_cluster(cluster))
        elif unreachable:
            sys.stdout.write(f"\nworkers: unknown, {unreachable}\n")
    return 0


def _flying_json(job: Job) -> dict[str, Any]:
    return {"image": job.image, "job": job.id, "state": job.state, "owner": job.lease_owner}


def _render_flying(jobs: list[Job]) -> str:
    lines = [f"\njobs in flight: {len(jobs)}"]
    lines += [f"  {j.image}  job {j.id}  {j.state}  on {j.lease_owner}" for j in jobs]
    return "\n".join(lines) + "\n"


def _render_cluster(cluster: ClusterStatus) -> str:
    queued = ", ".join(f"{q} {n}" for q, n in cluster.queues.items())
    lines = [f"\nbroker {cluster.broker}: waiting {queued}", f"workers: {len(cluster.workers)}"]
    lines += [
        f"  {w.name}  running {w.active}  run {w.processed}  queues {','.join(w.queues)}"
        for w in cluster.workers
    ]
    return "\n".join(lines) + "\n"
