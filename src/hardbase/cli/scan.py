"""Scan an image for known vulnerabilities in its Debian, Python and npm packages.

Exits 1 when a fixable finding at or above --fail-on exists (any open finding
with --include-unfixed), or one of unknown severity (unless
--no-fail-on-unknown); 2 on usage or input errors, including a vulnerability
database that is missing, empty or older than --max-db-age.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from hardbase.cli.dbopts import add_db_options, open_checked_reader
from hardbase.errors import UsageError
from hardbase.vuln.report import ReportFormatName
from hardbase.vuln.severity import GATE_LEVELS

if TYPE_CHECKING:
    from hardbase.vuln.ignore import IgnoreEntry
    from hardbase.vuln.scan import ScanResult


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="image reference, e.g. oci:DIR[:TAG]")
    parser.add_argument(
        "--format", choices=get_args(ReportFormatName), default="table", help="report format"
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")
    parser.add_argument(
        "--fail-on",
        choices=GATE_LEVELS,
        metavar="SEVERITY",
        help="exit 1 when a fixable finding of this severity or higher exists "
        f"({', '.join(GATE_LEVELS)}; `unknown` fails on any finding)",
    )
    parser.add_argument(
        "--fail-on-unknown",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let a finding of unknown severity fail any --fail-on threshold (default: on)",
    )
    parser.add_argument(
        "--severity",
        metavar="LIST",
        help="report (and gate on) only these severities, comma-separated, e.g. HIGH,CRITICAL "
        f"({', '.join(GATE_LEVELS)}); unknown findings still fail the gate unless "
        "--no-fail-on-unknown",
    )
    parser.add_argument(
        "--exit-code",
        type=int,
        metavar="N",
        help="exit N instead of 1 when the gate fails; without --fail-on, any reported open "
        "finding fails it (as in Trivy)",
    )
    parser.add_argument(
        "--ignorefile",
        action="append",
        default=[],
        metavar="FILE",
        help="findings to leave out: `.hardbaseignore` lines `ID [PACKAGE] exp:YYYY-MM-DD "
        "REASON`, or `.trivyignore` lines `ID [exp:YYYY-MM-DD]`; repeatable (default: "
        "./.hardbaseignore and ./.trivyignore when present)",
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
    add_db_options(parser)
    parser.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    parser.add_argument("--arch", help="platform to scan in a multi-arch image (default amd64)")
    parser.add_argument(
        "--no-layer-cache",
        action="store_true",
        help="read every layer again, neither using nor filling the per-layer inventory cache "
        "(CACHE/layer-inventory, by each layer's diff_id)",
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.release.gates import fail_on_gate
    from hardbase.util.fs import write_atomic
    from hardbase.vuln.ignore import default_ignore_files, parse_ignore_file
    from hardbase.vuln.inventory import inventory
    from hardbase.vuln.match import FIXABLE, NOT_AFFECTED_STATUS
    from hardbase.vuln.report.interface import get_format
    from hardbase.vuln.scan import Gate, scan
    from hardbase.vuln.severity import Severity, parse_levels
    from hardbase.vuln.vex import VexStatement, load_vex

    if args.fail_on == "unknown" and not args.fail_on_unknown:
        raise UsageError("--fail-on unknown and --no-fail-on-unknown contradict each other")
    if args.exit_code is not None and not 0 <= args.exit_code <= 255:
        raise UsageError(f"--exit-code {args.exit_code}: give a number from 0 to 255")
    try:
        levels = parse_levels(args.severity) if args.severity else None
    except ValueError as exc:
        raise UsageError(f"--severity {args.severity}: {exc}") from None
    statements: list[VexStatement] = []
    for path in args.vex:
        statements.extend(load_vex(Path(path)))
    files = [Path(p) for p in args.ignorefile] or default_ignore_files(Path.cwd())
    ignores = [entry for path in files for entry in parse_ignore_file(path)]
    db, age_warnings = open_checked_reader(args)
    try:
        found = inventory(
            args.ref, insecure=args.insecure, arch=args.arch, layer_cache=not args.no_layer_cache
        ).inventory
        result = scan(found, db, vex=statements)
    finally:
        db.close()
    result = dataclasses.replace(result, warnings=(*age_warnings, *result.warnings))
    for warning in result.warnings[len(age_warnings) :]:
        print(f"hardbase: warning: {warning}", file=sys.stderr)
    if ignores:
        result = _drop_ignored(result, ignores, files)
    if args.ignore_unfixed:
        kept = tuple(f for f in result.findings if f.status in (FIXABLE, NOT_AFFECTED_STATUS))
        result = dataclasses.replace(result, findings=kept)
    gate = Gate(
        threshold=Severity[args.fail_on.upper()] if args.fail_on else None,
        include_unfixed=args.include_unfixed,
        fail_on_unknown=args.fail_on_unknown,
        severities=levels,
        any_finding=args.exit_code is not None,
    )
    report = fail_on_gate(args.ref, result, gate)
    if levels is not None:
        hidden = sum(1 for f in result.findings if f.severity not in levels)
        kept = tuple(f for f in result.findings if f.severity in levels)
        if hidden:
            print(f"hardbase: note: --severity hides {hidden} findings", file=sys.stderr)
        result = dataclasses.replace(result, findings=kept)
    text = get_format(args.format).render(result)
    if args.output:
        write_atomic(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if report is not None and not report.ok and args.exit_code == 0:
        print(f"hardbase: note: {report.message()} (--exit-code 0)", file=sys.stderr)
    elif report is not None:
        report.check(args.exit_code)
    return 0


def _drop_ignored(result: ScanResult, ignores: list[IgnoreEntry], files: list[Path]) -> ScanResult:
    """The result without the findings the ignore files name, warning of expired entries."""
    from hardbase.vuln.ignore import apply_ignores

    left, ignored, expired = apply_ignores(result.findings, ignores, date.today())
    for e in expired:
        print(
            f"hardbase: warning: {e.where}: the entry for {e.id} expired on {e.expires} "
            "and no longer applies",
            file=sys.stderr,
        )
    if ignored:
        print(
            f"hardbase: note: {len(ignored)} findings ignored by "
            f"{', '.join(str(p) for p in files)}",
            file=sys.stderr,
        )
    return dataclasses.replace(result, findings=tuple(left))
