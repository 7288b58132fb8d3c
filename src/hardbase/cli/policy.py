"""Check an image against a policy: every rule with pass/fail and its reason.

Exits 1 when a rule fails, 2 on usage or input errors. Without --policy the
shipped hardened default (policies/default.yaml) is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from hardbase.cli.dbopts import add_db_options, open_checked
from hardbase.errors import UsageError

if TYPE_CHECKING:
    from hardbase.release.gates import GateReport

PolicyFormat = Literal["text", "json"]  # render_text below, or the report's JSON


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION")
    check = sub.add_parser("check", help="check an image against a policy")
    check.add_argument("ref", metavar="REF", help="image reference, e.g. oci:DIR[:TAG]")
    check.add_argument("--policy", "-p", metavar="FILE", help="policy YAML (default: hardened)")
    check.add_argument("--format", choices=get_args(PolicyFormat), default="text")
    check.add_argument(
        "--vex", nargs="+", action="extend", default=[], metavar="FILE", help="OpenVEX documents"
    )
    add_db_options(check)
    check.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    check.add_argument("--arch", help="platform to check in a multi-arch image (default amd64)")


def run(args: argparse.Namespace) -> int:
    if args.policy_command != "check":
        raise UsageError("say what to do: `hardbase policy check REF --policy FILE`")
    from hardbase.release.gates import default_policy, policy_gate, policy_needs_db
    from hardbase.vuln.vex import VexStatement, load_vex

    policy = Path(args.policy) if args.policy else default_policy()
    statements: list[VexStatement] = []
    for path in args.vex:
        statements.extend(load_vex(Path(path)))
    db = open_checked(args)[0] if policy_needs_db(policy) else None
    try:
        gate = policy_gate(
            args.ref, policy, db, vex=statements, insecure=args.insecure, arch=args.arch
        )
    finally:
        if db is not None:
            db.close()
    if args.format == "json" and gate.policy is not None:
        sys.stdout.write(json.dumps(gate.policy.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(gate))
    sys.stdout.flush()
    gate.check()
    return 0


def render_text(gate: GateReport) -> str:
    """The policy gate's report as `policy check` prints it: one line per rule."""
    report = gate.policy
    if report is None:
        return gate.message() + "\n"
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
