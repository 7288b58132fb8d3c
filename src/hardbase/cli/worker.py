"""Run a Celery worker that runs the controller's jobs (image rebuilds; source builds).

The fleet file must be the controller's (the worker checks the fleet's hash the
controller recorded in the state database) and name `executor: {kind: celery,
broker: URL}` with `state:` and `vulndb:` on PostgreSQL. The worker takes jobs from
the `images` and `builds` queues (or those --queues names), runs up to
--concurrency at once, and keeps its own download and layer caches (--cache-dir or
HARDBASE_CACHE) and job directories (--workdir); everything else comes from the
lock, the archive, the registry and the database. SIGTERM stops it after its
running jobs (Celery's warm shutdown). Reads HARDBASE_KEY_PASSWORD, the webhook
secret variable and the registry credentials, as `hardbase watch` does.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import get_args

from hardbase.cli.logs import LogFormat


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", "-f", type=Path, required=True, help="the fleet file (YAML)")
    parser.add_argument(
        "--queues", default="images,builds", help="comma-separated queues to take jobs from"
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="jobs run at once (threads; default 1)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where this worker builds its jobs (default: the fleet's)"
    )
    parser.add_argument("--log-format", choices=get_args(LogFormat), default="human")


def run(args: argparse.Namespace) -> int:
    from hardbase.cli.logs import configure
    from hardbase.cli.watch import notifier_for
    from hardbase.errors import UsageError
    from hardbase.lifecycle.executor_celery import WorkerContext, start_worker, worker_app
    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.lifecycle.state import StateDB

    if not 1 <= args.concurrency <= 64:
        raise UsageError(f"--concurrency {args.concurrency} must be from 1 to 64")
    configure(args.log_format, debug=args.debug, quiet=args.quiet)
    fleet = load_fleet(args.fleet)
    if args.workdir is not None:
        fleet = dataclasses.replace(fleet, workdir=args.workdir.resolve())
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    app = worker_app(fleet, queues)  # before the state: a refused worker changes nothing
    with StateDB.open(fleet.state) as state:
        notifier = notifier_for(fleet, state)
        try:
            return start_worker(
                app, WorkerContext(fleet, state, notifier), queues=queues,
                concurrency=args.concurrency,
                loglevel="DEBUG" if args.debug else "WARNING" if args.quiet else "INFO",
            )  # fmt: skip
        finally:
            if notifier is not None:
                notifier.close()
