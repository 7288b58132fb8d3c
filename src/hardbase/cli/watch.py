"""Run the continuous patching controller over a fleet file.

Each pass imports the fleet's vulnerability feeds, reads every archive's
InRelease, rebuilds the images whose packages have a fixable finding or a
newer security/updates version, verifies, signs and pushes them, moves their
tags and records every step. `--once` runs one pass and exits: 0 when every
job published (or nothing was due), 1 when a gate or a patch build failed, 3
when jobs are left to resume. Each pass and each job step is logged on stderr (image, job id,
step, seconds), as human lines or, with --log-format json, JSON lines; -q
logs warnings only. Reads HARDBASE_KEY_PASSWORD (signing key), the webhook secret
variable the fleet names, and the registry credentials variables.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, get_args

from hardbase.cli.logs import LogFormat

if TYPE_CHECKING:
    from hardbase.lifecycle.fleet import Fleet
    from hardbase.lifecycle.notify import Notifier
    from hardbase.lifecycle.state import StateDB

log = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", "-f", type=Path, required=True, help="the fleet file (YAML)")
    parser.add_argument("--once", action="store_true", help="run one pass and exit")
    parser.add_argument(
        "--log-format",
        choices=get_args(LogFormat),
        default="human",
        help="how progress is logged on stderr: human lines (default) or JSON lines with the "
        "image, job id, step and seconds of each job step (for journald or a log shipper)",
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.cli.logs import configure
    from hardbase.lifecycle.controller import Controller, PassReport
    from hardbase.lifecycle.executor import executor_for
    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.lifecycle.state import StateDB

    configure(args.log_format, debug=args.debug, quiet=args.quiet)
    fleet = load_fleet(args.fleet)
    executor = executor_for(fleet)  # a broker that cannot be reached stops here, before state
    with StateDB.open(fleet.state) as state:
        notifier = notifier_for(fleet, state)
        controller = Controller(fleet, state, notifier=notifier, executor=executor)

        def show(report: PassReport) -> None:
            for o in report.outcomes:
                detail = o.error or o.reason
                line = f"{o.image}: {o.result}" + (f" {o.digest}" if o.digest else "")
                print(line + (f" ({detail})" if detail else ""), flush=True)
            for warning in report.warnings:
                print(f"hardbase: warning: {warning}", file=sys.stderr, flush=True)

        def stop(signum: int, frame: FrameType | None) -> None:
            controller.stop()

        try:
            if args.once:
                report = controller.run_once()
                show(report)
            else:
                signal.signal(signal.SIGTERM, stop)
                signal.signal(signal.SIGINT, stop)
                controller.run_forever(show)
                return 0
        finally:
            if notifier is not None:
                notifier.close()
    if report.count("failed") or report.count("patch-failed"):
        return 1
    if any(report.count(r) for r in ("error", "pending", "patch-error", "patch-pending")):
        return 3
    return 0


def notifier_for(fleet: Fleet, state: StateDB) -> Notifier | None:
    """The fleet's webhook notifier (failed deliveries become events), or None."""
    from hardbase.lifecycle.notify import Notifier

    if fleet.webhook is None:
        return None
    secret = os.environ.get(fleet.webhook.secret_env, "")
    if not secret:
        log.warning("%s is not set: webhooks are signed with an empty secret",
                    fleet.webhook.secret_env)  # fmt: skip

    def failed(kind: str, error: str) -> None:
        state.record("*", "webhook-failed", notification=kind, error=error)

    return Notifier(
        fleet.webhook.url, secret.encode(), retries=fleet.webhook.retries,
        timeout=fleet.webhook.timeout, on_failure=failed,
    )  # fmt: skip
