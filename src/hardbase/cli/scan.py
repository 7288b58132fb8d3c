"""Scan an image for known vulnerabilities in its Debian, Python and npm packages.

Exits 1 when a fixable finding at or above --fail-on exists (any open finding
with --include-unfixed), 2 on usage or input errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from hardbase.errors import GateFailed

FORMATS = ("table", "json", "sarif", "cyclonedx", "openvex")
LEVELS = ("negligible", "low", "medium", "high", "critical")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="image reference, e.g. oci:DIR[:TAG]")
    parser.add_argument("--format", choices=FORMATS, default="table", help="report format")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")
    parser.add_argument(
        "--fail-on",
        choices=LEVELS,
        metavar="SEVERITY",
        help="exit 1 when a fixable finding of this severity or higher exists "
        f"({', '.join(LEVELS)})",
    )
    unfixed = parser.add_mutually_exclusive_group()
    unfixed.add_argument(
        "--include-unfixed",
        action="store_true",
        help="let --fail-on count findings without a fix too",
    )
    unfixed.add_argument(
        "--ignore-unfixed",
        action="store_true",
        help="leave findings without a fix out of the report",
    )
    parser.add_argument(
        "--vex", nargs="+", action="extend", default=[], metavar="FILE", help="OpenVEX documents"
    )
    parser.add_argument("--db", metavar="PATH|URL", help="vulnerability database file or URL")
    parser.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    parser.add_argument("--arch", help="platform to scan in a multi-arch image (default amd64)")


def run(args: argparse.Namespace) -> int:
    from hardbase.util.fs import write_atomic
    from hardbase.vuln.db import VulnDB
    from hardbase.vuln.inventory import inventory
    from hardbase.vuln.match import FIXABLE, NOT_AFFECTED_STATUS
    from hardbase.vuln.report.interface import get_format
    from hardbase.vuln.scan import failing, scan
    from hardbase.vuln.severity import Severity
    from hardbase.vuln.vex import VexStatement, load_vex

    statements: list[VexStatement] = []
    for path in args.vex:
        statements.extend(load_vex(Path(path)))
    with VulnDB.open(args.db) as db:
        found = inventory(args.ref, insecure=args.insecure, arch=args.arch).inventory
        result = scan(found, db, vex=statements)
    for warning in result.warnings:
        print(f"hardbase: warning: {warning}", file=sys.stderr)
    if args.ignore_unfixed:
        kept = tuple(f for f in result.findings if f.status in (FIXABLE, NOT_AFFECTED_STATUS))
        result = dataclasses.replace(result, findings=kept)
    text = get_format(args.format).render(result)
    if args.output:
        write_atomic(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    fail_on = Severity.parse(args.fail_on) if args.fail_on else None
    bad = failing(result, fail_on, include_unfixed=args.include_unfixed)
    if bad:
        kinds = "findings" if args.include_unfixed else "fixable findings"
        raise GateFailed(
            f"{len(bad)} {kinds} at or above {args.fail_on} in {args.ref} "
            f"(first: {bad[0].id} in {bad[0].package.name} {bad[0].package.version})"
        )
    return 0
