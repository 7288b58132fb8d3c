"""Show the state of a managed fleet: the last pass and when the next is due; per image the
published digest, open findings by status, the last rebuild and why (the fixable finding ids it
removes, the package changes), and remediation time (fix first seen -> published: last, p50, p95);
then the CVEs patched from source (hardbase's rebuilds: package, origin, time to publish, retired
or not) apart from those Debian fixed.

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
    if args.format == "json":
        doc = {
            "passes": info.to_json(),
            "images": [s.to_json() for s in statuses],
            "patched": [p.to_json() for p in rebuilt],
            "debian_fixed": [f.to_json() for f in by_debian],
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(
            render_passes(info) + render_table(statuses) + render_patched(rebuilt, by_debian)
        )
    return 0
