"""Check an image against a policy: every rule with pass/fail and its reason.

Exits 1 when a rule fails, 2 on usage or input errors. Without --policy the
shipped hardened default (policies/default.yaml) is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hardbase.cli.dbopts import add_db_options, open_checked
from hardbase.errors import GateFailed, UsageError


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION")
    check = sub.add_parser("check", help="check an image against a policy")
    check.add_argument("ref", metavar="REF", help="image reference, e.g. oci:DIR[:TAG]")
    check.add_argument("--policy", "-p", metavar="FILE", help="policy YAML (default: hardened)")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--vex", nargs="+", action="extend", default=[], metavar="FILE", help="OpenVEX documents"
    )
    add_db_options(check)
    check.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    check.add_argument("--arch", help="platform to check in a multi-arch image (default amd64)")


def run(args: argparse.Namespace) -> int:
    if args.policy_command != "check":
        raise UsageError("say what to do: `hardbase policy check REF --policy FILE`")
    from hardbase.evaluate.facts import collect_facts
    from hardbase.policy import check_image, load_policy
    from hardbase.policy.check import needs_scan
    from hardbase.policy.model import default_policy_path
    from hardbase.vuln.vex import VexStatement, load_vex

    policy = load_policy(Path(args.policy) if args.policy else default_policy_path())
    statements: list[VexStatement] = []
    for path in args.vex:
        statements.extend(load_vex(Path(path)))
    db = open_checked(args)[0] if needs_scan(policy) else None
    try:
        facts = collect_facts(args.ref, insecure=args.insecure, arch=args.arch)
        report = check_image(
            args.ref, policy, db=db, vex=statements, insecure=args.insecure, facts=facts
        )
    finally:
        if db is not None:
            db.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    sys.stdout.flush()
    if not report.ok:
        failed = report.failures
        first = failed[0] if failed else None
        raise GateFailed(
            f"{args.ref} fails the policy {report.policy}: {len(failed)} rules failed"
            + (f" (first: {first.rule}: {first.reason})" if first else "")
        )
    return 0


def render_text(report: object) -> str:
    from hardbase.policy.check import PolicyReport

    assert isinstance(report, PolicyReport)
    lines = [f"policy {report.policy} on {report.reference} ({report.digest or 'no digest'})"]
    for r in report.results:
        mark = "PASS" if r.ok else ("WARN" if r.level == "warning" else "FAIL")
        lines.append(f"  {mark}  {r.rule}: {r.reason}")
    for finding, by in report.suppressed:
        lines.append(f"  note  {finding.id} in {finding.package.name} suppressed: {by}")
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    lines.append("result: " + ("pass" if report.ok else "FAIL"))
    return "\n".join(lines) + "\n"
