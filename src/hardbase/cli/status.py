"""Show the state of a managed fleet: the last pass and when the next is due; per image the
published digest, open findings by status, the last rebuild and why (the fixable finding ids it
removes, the package changes), and remediation time (fix first seen -> published: last, p50, p95).

Reads the state database the fleet file names (or --state URL).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", "-f", type=Path, help="the fleet file (YAML)")
    parser.add_argument("--state", metavar="URL", help="state database URL (instead of --fleet)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.lifecycle.state import StateDB
    from hardbase.lifecycle.status import fleet_status, passes, render_passes, render_table

    names = None
    interval = None
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
    if args.format == "json":
        doc = {"passes": info.to_json(), "images": [s.to_json() for s in statuses]}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_passes(info) + render_table(statuses))
    return 0
