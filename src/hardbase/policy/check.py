"""The policy evaluator: measure an image, apply VEX and exceptions, run every rule.

`check_image()` is the one entry point `policy check`, `build --policy` and
the lifecycle controller share. It never raises for a failed rule: the
report says what passed and failed, and `PolicyReport.ok` is the verdict.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hardbase.errors import HardbaseError
from hardbase.evaluate.facts import ImageFacts, collect_facts
from hardbase.evaluate.measure import (
    Artifacts,
    distro_support,
    find_artifacts,
    find_vulnerabilities,
)
from hardbase.policy.interface import RuleResult, Subject
from hardbase.policy.model import ExceptionEntry, Policy
from hardbase.policy.rules import rules_for
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import NOT_AFFECTED_STATUS, Finding
from hardbase.vuln.vex import VexStatement, load_vex, purl_matches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyReport:
    """Every rule's verdict on one image."""

    reference: str
    digest: str
    policy: str
    results: tuple[RuleResult, ...]
    suppressed: tuple[tuple[Finding, str], ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when there was at least one rule and none that blocks failed."""
        return bool(self.results) and not any(r.blocking for r in self.results)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if r.blocking]

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.digest,
            "policy": self.policy,
            "ok": self.ok,
            "rules": [
                {
                    "rule": r.rule,
                    "ok": r.ok,
                    "level": r.level,
                    "reason": r.reason,
                    "details": list(r.details),
                }
                for r in self.results
            ],
            "suppressed": [
                {"id": f.id, "package": f.package.name, "version": f.package.version, "by": by}
                for f, by in self.suppressed
            ],
            "warnings": list(self.warnings),
        }


def exception_applies(entry: ExceptionEntry, finding: Finding, facts: ImageFacts) -> bool:
    """Whether an allowlist entry covers this finding in this image (expiry not judged)."""
    if entry.id not in finding.ids:
        return False
    if entry.scope != "*" and not purl_matches(entry.scope, finding.package):
        return False
    if entry.image == "*":
        return True
    names = [facts.reference, facts.digest, facts.index_digest]
    return any(n and (n == entry.image or fnmatch.fnmatchcase(n, entry.image)) for n in names) or (
        entry.image.startswith("pkg:oci/")
        and bool(facts.digest)
        and entry.image.split("@", 1)[-1].split("?", 1)[0] in (facts.digest, facts.index_digest)
    )


def apply_exceptions(
    findings: Sequence[Finding], entries: Sequence[ExceptionEntry], facts: ImageFacts, today: date
) -> tuple[list[Finding], list[tuple[Finding, str]], tuple[str, ...]]:
    """(open findings, suppressed findings with the reason, expired entries)."""
    current = [e for e in entries if e.expires >= today]
    expired = tuple(
        f"{e.id} ({e.scope}, expired {e.expires})" for e in entries if e.expires < today
    )
    kept: list[Finding] = []
    suppressed: list[tuple[Finding, str]] = []
    for f in findings:
        if f.status == NOT_AFFECTED_STATUS:
            suppressed.append((f, f.note or "VEX"))
            continue
        entry = next((e for e in current if exception_applies(e, f, facts)), None)
        if entry is not None:
            reason = f"exception until {entry.expires}: {entry.justification}"
            suppressed.append((dataclasses.replace(f, status=NOT_AFFECTED_STATUS), reason))
            continue
        kept.append(f)
    return kept, suppressed, expired


def needs_scan(policy: Policy) -> bool:
    """Whether judging `policy` needs a vulnerability scan (and so the database)."""
    m = policy.model
    return m.vulnerabilities is not None or (m.support is not None and m.support.packages_not_ended)


def check_image(
    ref: str,
    policy: Policy,
    *,
    db: VulnDB | None = None,
    vex: Sequence[VexStatement] = (),
    insecure: bool = False,
    today: date | None = None,
    facts: ImageFacts | None = None,
) -> PolicyReport:
    """Measure `ref` and judge it by `policy` (VEX from the policy and `vex` applied)."""
    today = today or datetime.now(UTC).date()
    facts = facts or collect_facts(ref, insecure=insecure)
    statements = list(vex)
    for doc in policy.model.vex:
        statements.extend(load_vex(policy.path(doc)))
    warnings: list[str] = list(facts.warnings)
    scan_result = None
    fix_ages: tuple[Any, ...] = ()
    if needs_scan(policy):
        if db is None:
            with VulnDB.open() as opened:
                scan_result, fix_ages = find_vulnerabilities(facts, opened, statements, today=today)
        else:
            scan_result, fix_ages = find_vulnerabilities(facts, db, statements, today=today)
        warnings.extend(scan_result.warnings)
    findings = scan_result.findings if scan_result else ()
    kept, suppressed, expired = apply_exceptions(findings, policy.model.exceptions, facts, today)
    m = policy.model
    artifacts = Artifacts(None, None, None)
    if m.sbom is not None or m.provenance is not None:
        artifacts = find_artifacts(facts, insecure=insecure)
    subject = Subject(
        facts=facts,
        scan=scan_result,
        findings=tuple(kept),
        suppressed=tuple(suppressed),
        fix_ages=fix_ages,
        artifacts=artifacts,
        support=distro_support(facts, today=today),
        today=today,
        verify=_verifier(ref, insecure),
    )
    results = tuple(rule.check(subject) for rule in rules_for(policy, expired))
    if not results:
        results = (
            RuleResult("policy", False, f"{policy.where} has no rules; an empty policy fails"),
        )
    return PolicyReport(
        reference=str(ref),
        digest=facts.digest,
        policy=policy.model.name,
        results=results,
        suppressed=tuple(suppressed),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _verifier(ref: str, insecure: bool) -> Any:
    cache: dict[str, object] = {}

    def verify(key: str) -> object:
        if key not in cache:
            from hardbase.attest.verify import verify_image

            try:
                cache[key] = verify_image(ref, Path(key), insecure=insecure)
            except HardbaseError as exc:
                cache[key] = exc.diagnostics()
        return cache[key]

    return verify
