"""The scan gate's `GateReport`: each failed check with its reason, the event detail, and
the one sentence a user reads. The findings are fixtures made here, not real records."""

from __future__ import annotations

import pytest

from hardbase.errors import GateFailed
from hardbase.release.gates import GateReport, fail_on_gate, finding_key, scan_gate
from hardbase.vuln.match import Finding
from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease
from hardbase.vuln.scan import Gate, ScanResult
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


def scanned(*findings: Finding) -> ScanResult:
    image = Inventory("oci:fixture", "", OSRelease(id="debian"), (NETBASE,))
    return ScanResult(image, findings)


def test_fail_on_is_the_scan_gate_with_one_check() -> None:
    result = scanned(finding("FIXTURE-LOW", Severity.LOW), finding("FIXTURE-HI", Severity.HIGH))
    passed = fail_on_gate("oci:fixture", result, Gate(threshold=Severity.CRITICAL))
    assert passed is not None and passed.ok and passed.gate == "scan"
    failed = fail_on_gate("oci:fixture", result, Gate(threshold=Severity.HIGH))
    assert failed is not None and not failed.ok
    assert [f.rule for f in failed.failures] == ["fail-on"]
    assert failed.message() == (
        "1 fixable findings at or above high in oci:fixture (first: FIXTURE-HI in netbase 6.5)"
    )
    assert failed.detail() == {"findings": ["FIXTURE-HI|netbase|high"]}
    with pytest.raises(GateFailed) as raised:
        failed.check()
    assert raised.value.exit_code == 1


def test_fail_on_counts_unknown_and_unfixed_as_the_gate_says() -> None:
    result = scanned(
        finding("FIXTURE-UNRATED", Severity.UNKNOWN),
        finding("FIXTURE-NOFIX", Severity.CRITICAL, status="no-fix"),
    )
    report = fail_on_gate("oci:fixture", result, Gate(threshold=Severity.CRITICAL))
    assert report is not None
    assert report.message().startswith(
        "1 fixable findings at or above critical, 1 of them of unknown severity in oci:fixture"
    )
    unfixed = Gate(threshold=Severity.CRITICAL, include_unfixed=True, fail_on_unknown=False)
    report = fail_on_gate("oci:fixture", result, unfixed)
    assert report is not None
    assert report.message().startswith("1 findings at or above critical in oci:fixture")


def test_exit_code_alone_fails_on_any_open_finding_with_its_code() -> None:
    result = scanned(finding("FIXTURE-LOW", Severity.LOW))
    assert fail_on_gate("oci:fixture", result, Gate()) is None  # no gate asked for
    report = fail_on_gate("oci:fixture", result, Gate(any_finding=True))
    assert report is not None and not report.ok
    assert report.message().startswith("1 findings in oci:fixture (first: FIXTURE-LOW")
    with pytest.raises(GateFailed) as raised:
        report.check(exit_code=5)
    assert raised.value.exit_code == 5
