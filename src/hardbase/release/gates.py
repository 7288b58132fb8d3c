"""The gates a release must pass, each giving one `GateReport`.

The scan gate judges a rebuild against what it was for: the findings it
targeted are gone, every package has its locked version, and no new finding at
or above the threshold appeared; `hardbase scan --fail-on` is the same gate with
one check: no open finding at or above the threshold (`fail_on_gate`). The
policy gate runs `policy.check_image`, the evaluator `hardbase policy check`,
`hardbase build --policy` and the controller share. A failed gate raises
nothing here: `GateReport.ok` is the verdict, `message()` the sentence a user
reads, `detail()` the fields an event and a webhook carry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hardbase.errors import GateFailed
from hardbase.vuln.match import NOT_AFFECTED_STATUS, Finding
from hardbase.vuln.severity import Severity

if TYPE_CHECKING:
    from hardbase.policy.check import PolicyReport
    from hardbase.vuln.db import VulnDB
    from hardbase.vuln.scan import Gate as FindingGate
    from hardbase.vuln.scan import ScanResult
    from hardbase.vuln.vex import VexStatement

Gate = Literal["scan", "policy"]
# the scan gate's rules whose details are findings (`ID|PACKAGE|SEVERITY`)
FINDING_RULES = ("new-findings", "fail-on")


@dataclass(frozen=True)
class GateFailure:
    """One failed check: which, why, and the items it is about (findings, files)."""

    rule: str
    reason: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateReport:
    """A gate's verdict on one image."""

    gate: Gate
    name: str  # the policy's name, or the scan gate's threshold
    subject: str  # the image, as the sentence names it
    checked: int  # how many rules (or checks) were judged
    failures: tuple[GateFailure, ...] = ()
    warnings: tuple[str, ...] = ()
    policy: PolicyReport | None = None  # a policy gate's full report (for rendering)

    @property
    def ok(self) -> bool:
        """Passed: something was judged and nothing failed (an empty policy fails)."""
        return self.checked > 0 and not self.failures

    def verdict(self) -> str:
        if self.gate == "policy":
            return f"{self.name}: passed {self.checked} rules"
        return f"passed {self.checked} checks at {self.name}"

    def message(self) -> str:
        """The one sentence that says why the gate failed."""
        if self.gate == "scan":
            return "; ".join(f.reason for f in self.failures) or f"{self.subject}: nothing checked"
        if not self.failures:
            return (
                f"{self.subject} fails the policy {self.name}: it has no rules (an empty "
                "policy fails rather than passes)"
            )
        return (
            f"{self.subject} fails the policy {self.name}: failed {len(self.failures)} of "
            f"{self.checked} rules: " + "; ".join(f"{f.rule}: {f.reason}" for f in self.failures)
        )

    def detail(self) -> dict[str, Any]:
        """What a gate-failed event and its webhook carry besides the message."""
        if self.gate == "scan":
            found = [d for f in self.failures if f.rule in FINDING_RULES for d in f.details]
            return {"findings": found} if found else {}
        return {
            "policy": self.name,
            "rules": [
                {"rule": f.rule, "reason": f.reason, "details": list(f.details[:20])}
                for f in self.failures
            ],
            "policy_warnings": list(self.warnings),
        }

    def check(self, exit_code: int | None = None) -> GateReport:
        """Raise GateFailed with `message()` unless the gate passed: exit 1, or `exit_code`."""
        if not self.ok:
            failed = GateFailed(self.message())
            if exit_code is not None:
                failed.exit_code = exit_code
            raise failed
        return self


def policy_gate(
    ref: str,
    policy_path: Path,
    db: VulnDB | None,
    *,
    subject: str | None = None,
    vex: Sequence[VexStatement] = (),
    insecure: bool = False,
    arch: str | None = None,
) -> GateReport:
    """Judge the image `ref` by the policy in `policy_path`."""
    from hardbase.evaluate.facts import collect_facts
    from hardbase.policy.check import check_image
    from hardbase.policy.model import load_policy

    policy = load_policy(policy_path)
    facts = collect_facts(ref, insecure=insecure, arch=arch)
    report = check_image(ref, policy, db=db, vex=vex, insecure=insecure, facts=facts)
    return GateReport(
        "policy",
        report.policy,
        subject or ref,
        len(report.results),
        tuple(GateFailure(r.rule, r.reason, r.details) for r in report.failures),
        tuple(f"{r.rule}: {r.reason}" for r in report.results if not r.ok and not r.blocking),
        report,
    )


def policy_needs_db(policy_path: Path) -> bool:
    """Whether judging the policy needs the vulnerability database."""
    from hardbase.policy.check import needs_scan
    from hardbase.policy.model import load_policy

    return needs_scan(load_policy(policy_path))


def default_policy() -> Path:
    """The shipped hardened policy (policies/default.yaml)."""
    from hardbase.policy.model import default_policy_path

    return default_policy_path()


def finding_key(f: Finding) -> str:
    """How a job's plan names a finding it targets."""
    return f"finding:{f.id}:{f.package.source_name or f.package.name}"


def scan_gate(
    subject: str,
    findings: Iterable[Finding],
    installed: dict[tuple[str, str], str],
    *,
    targeted: Iterable[str],
    locked: Iterable[tuple[str, str, str]],
    baseline: Iterable[str],
    threshold: Severity,
) -> GateReport:
    """Judge a rebuild's scan: targeted findings gone, locked versions in, nothing new.

    `installed` maps (package, arch) to the version the image holds; `locked` lists
    (package, arch, version) the new lock moved to; `baseline` names, as `ID|PACKAGE`,
    the findings the image had before, which may stay.
    """
    open_now = [f for f in findings if f.status != NOT_AFFECTED_STATUS]
    failures: list[GateFailure] = []
    still = sorted({finding_key(f) for f in open_now} & set(targeted))
    if still:
        failures.append(GateFailure(
            "targeted-fixed", f"targeted findings are still present: {', '.join(still)}",
            tuple(still),
        ))  # fmt: skip
    for package, arch, want in locked:
        have = installed.get((package, arch))
        if want and have != want:
            failures.append(GateFailure(
                "locked-versions",
                f"the image has {package} {have or 'missing'}, not the locked {want}",
            ))  # fmt: skip
            break
    known = set(baseline)
    new_bad = [
        f for f in open_now if f"{f.id}|{f.package.name}" not in known and f.severity >= threshold
    ]
    if new_bad:
        first = new_bad[0]
        failures.append(GateFailure(
            "new-findings",
            f"{len(new_bad)} new findings at or above {threshold.label} "
            f"(first: {first.id} {first.severity.label} in {first.package.name} "
            f"{first.package.version})",
            tuple(f"{f.id}|{f.package.name}|{f.severity.label}" for f in new_bad),
        ))  # fmt: skip
    return GateReport("scan", threshold.label, subject, 3, tuple(failures))


def fail_on_gate(subject: str, result: ScanResult, gate: FindingGate) -> GateReport | None:
    """`hardbase scan --fail-on`: the open findings `gate` selects fail `subject` (None when
    no threshold was asked for, so there is nothing to judge)."""
    if not gate.active:
        return None
    name = gate.threshold.label if gate.threshold is not None else "any open finding"
    bad = gate.failing(result)
    if not bad:
        return GateReport("scan", name, subject, 1)
    kinds = "findings" if gate.include_unfixed or gate.threshold is None else "fixable findings"
    unknown = sum(1 for f in bad if f.severity is Severity.UNKNOWN)
    also = f", {unknown} of them of unknown severity" if unknown else ""
    where = f" at or above {gate.threshold.label}" if gate.threshold is not None else ""
    first = bad[0]
    reason = (
        f"{len(bad)} {kinds}{where}{also} in {subject} "
        f"(first: {first.id} in {first.package.name} {first.package.version})"
    )
    found = tuple(f"{f.id}|{f.package.name}|{f.severity.label}" for f in bad)
    return GateReport("scan", name, subject, 1, (GateFailure("fail-on", reason, found),))
