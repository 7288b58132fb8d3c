"""The scan gate's `GateReport`: each failed check with its reason, the event detail, and
the one sentence a user reads. The findings are fixtures made here, not real records."""

from __future__ import annotations

import pytest

from hardbase.errors import GateFailed
from hardbase.release.gates import GateReport, finding_key, scan_gate
from hardbase.vuln.match import Finding
from hardbase.vuln.model import InstalledPackage
from hardbase.vuln.severity import Severity

NETBASE = InstalledPackage("deb", "netbase", "6.5", arch="all")


def finding(id_: str, severity: Severity, status: str = "fixable") -> Finding:
    return Finding(id_, (), NETBASE, "6.6", status, severity, "fixture")


def gate(findings: list[Finding], **kw: object) -> GateReport:
    args: dict[str, object] = {
        "targeted": (), "locked": (), "baseline": (), "threshold": Severity.HIGH,
    }  # fmt: skip
    args.update(kw)
    return scan_gate("the rebuilt image", findings, {("netbase", "all"): "6.5"}, **args)  # type: ignore[arg-type]


def test_a_clean_rebuild_passes() -> None:
    report = gate([finding("FIXTURE-1", Severity.LOW)], locked=[("netbase", "all", "6.5")])
    assert report.ok and report.detail() == {}
    assert report.check() is report


def test_each_failed_check_is_reported() -> None:
    old = finding("FIXTURE-OLD", Severity.CRITICAL)
    new = finding("FIXTURE-NEW", Severity.CRITICAL)
    report = gate(
        [old, new],
        targeted=[finding_key(old)],
        locked=[("netbase", "all", "6.6")],
        baseline=["FIXTURE-OLD|netbase"],
    )
    assert not report.ok
    assert [f.rule for f in report.failures] == [
        "targeted-fixed",
        "locked-versions",
        "new-findings",
    ]
    message = report.message()
    assert "targeted findings are still present: finding:FIXTURE-OLD:netbase" in message
    assert "the image has netbase 6.5, not the locked 6.6" in message
    assert "1 new findings at or above high (first: FIXTURE-NEW critical" in message
    assert report.detail() == {"findings": ["FIXTURE-NEW|netbase|critical"]}
    with pytest.raises(GateFailed, match="targeted findings"):
        report.check()


def test_not_affected_findings_do_not_count() -> None:
    report = gate([finding("FIXTURE-2", Severity.CRITICAL, status="not-affected")])
    assert report.ok


def test_an_empty_policy_fails() -> None:
    report = GateReport("policy", "empty", "oci:x", 0)
    assert not report.ok
    assert "it has no rules" in report.message()
