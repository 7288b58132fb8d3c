"""Matching: every status in every ecosystem, merging across sources, VEX, support notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.util.progress import NullProgress
from hardbase.vuln.db import FIXED, Advisory, Affected, VulnDB
from hardbase.vuln.importers.interface import get_importer
from hardbase.vuln.match import (
    FIXABLE,
    NO_FIX,
    NOT_AFFECTED_STATUS,
    WONT_FIX_STATUS,
    Finding,
    match_inventory,
)
from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease
from hardbase.vuln.scan import EMPTY_DB_WARNING, failing, scan
from hardbase.vuln.severity import Severity
from hardbase.vuln.vex import load_vex

DATA = Path(__file__).parents[1] / "data" / "vuln"  # the fixtures in tests/data/vuln

BOOKWORM = OSRelease("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")


def deb(name: str, version: str, source: str = "", source_version: str = "") -> InstalledPackage:
    return InstalledPackage(
        "deb", name, version, source or name, source_version or version, "amd64",
        f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12",
        "sha256:" + "a" * 64, f"var/lib/dpkg/status.d/{name}",
    )  # fmt: skip


def pypi(name: str, version: str) -> InstalledPackage:
    path = f"usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA"
    return InstalledPackage(
        "pypi", name, version, purl=f"pkg:pypi/{name.lower()}@{version}", path=path
    )


def npm(name: str, version: str) -> InstalledPackage:
    return InstalledPackage("npm", name, version, purl=f"pkg:npm/{name}@{version}",
                            path=f"app/node_modules/{name}/package.json")  # fmt: skip


def load_all(db: VulnDB) -> None:
    get_importer("osv").run(db, [str(DATA / "osv")], NullProgress())
    get_importer("debian-tracker").run(db, [str(DATA / "tracker.json")], NullProgress())
    get_importer("debian-security-support").run(db, [str(DATA / "support")], NullProgress())
    # what the changelog importer would have recorded
    db.replace("debian-changelog", (), [
        Affected("CVE-2099-2001", "debian-changelog", "debian:12", "fixture-openssl", FIXED,
                 "3.0.13-1~deb12u1"),
        Affected("CVE-2099-4001", "debian-changelog", "debian:12", "fixture-openssl", FIXED,
                 "3.0.14-1~deb12u1"),
        Affected("CVE-2099-4002", "debian-changelog", "debian:12", "fixture-openssl", FIXED,
                 "3.0.9-1"),
    ])  # fmt: skip


def inventory(*packages: InstalledPackage, os: OSRelease = BOOKWORM) -> Inventory:
    return Inventory("oci:/images/fixture:latest", "sha256:" + "b" * 64, os, packages, "amd64")


def by_id(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {(f.package.name, f.id): f for f in findings}


@pytest.fixture
def loaded(db: VulnDB) -> VulnDB:
    load_all(db)
    return db


def test_debian_statuses_by_source_package(loaded: VulnDB) -> None:
    libssl = deb("libssl3", "3.0.11-1~deb12u2", "fixture-openssl")
    found = by_id(match_inventory(inventory(libssl), loaded))
    fixable = found[("libssl3", "CVE-2099-2001")]
    assert fixable.status == FIXABLE
    assert fixable.fixed_version == "3.0.13-1~deb12u1"
    assert fixable.severity is Severity.HIGH  # the tracker's urgency
    assert fixable.data_source == "debian-tracker, debian-changelog"  # merged, decider first
    assert fixable.summary == "Fixture: fixed by a bookworm security upload"
    postponed = found[("libssl3", "CVE-2099-2002")]
    assert (postponed.status, postponed.fixed_version) == (NO_FIX, None)
    assert postponed.severity is Severity.LOW and "postponed" in postponed.note
    ignored = found[("libssl3", "CVE-2099-2003")]
    assert ignored.status == WONT_FIX_STATUS and ignored.severity is Severity.NEGLIGIBLE
    assert found[("libssl3", "CVE-2099-2004")].status == NOT_AFFECTED_STATUS
    assert ("libssl3", "CVE-2099-2005") not in found  # undetermined: not imported
    assert ("libssl3", "CVE-2099-2006") not in found  # fixed before the installed version
    assert found[("libssl3", "CVE-2099-4001")].fixed_version == "3.0.14-1~deb12u1"
    assert ("libssl3", "CVE-2099-4002") not in found  # changelog: fixed long ago


def test_binnmu_binary_matches_by_source_version(loaded: VulnDB) -> None:
    libssl = deb("libssl3", "3.0.13-1~deb12u1+b1", "fixture-openssl", "3.0.13-1~deb12u1")
    found = by_id(match_inventory(inventory(libssl), loaded))
    assert ("libssl3", "CVE-2099-2001") not in found


def test_debian_osv_and_tracker_merge_by_upstream(loaded: VulnDB) -> None:
    zlib = deb("zlib1g", "1:1.2.13.dfsg-1", "fixture-zlib")
    findings = match_inventory(inventory(zlib), loaded)
    assert len(findings) == 1
    f = findings[0]
    assert f.id == "CVE-2099-1003" and f.aliases == ("DEBIAN-CVE-2099-1003",)
    assert f.fixed_version == "1:1.2.13.dfsg-1+deb12u1"
    assert f.severity is Severity.MEDIUM  # the tracker's urgency beats OSV's CVSS
    assert f.cvss_score is not None and f.cvss_score > 9
    assert f.data_source == "debian-tracker, osv"


def test_other_debian_release_is_not_matched_against_bookworm_data(loaded: VulnDB) -> None:
    trixie = OSRelease("debian", "13", "trixie", "Debian GNU/Linux 13 (trixie)")
    libssl = deb("libssl3t64", "3.0.11-1", "fixture-openssl")
    found = by_id(match_inventory(inventory(libssl, os=trixie), loaded))
    assert set(found) == {("libssl3t64", "CVE-2099-2001")}
    assert found[("libssl3t64", "CVE-2099-2001")].fixed_version == "3.1.5-1"


@pytest.mark.parametrize(
    ("version", "status", "fixed"),
    [("2.30.0", FIXABLE, "2.31.0"), ("2.31.0", None, None), ("3.0.0", NO_FIX, None),
     ("3.0.2", NO_FIX, None), ("3.0.3", None, None), ("1.0", FIXABLE, "2.31.0")],
)  # fmt: skip
def test_pypi(loaded: VulnDB, version: str, status: str | None, fixed: str | None) -> None:
    findings = match_inventory(inventory(pypi("Fixture_Requests", version)), loaded)
    if status is None:
        assert findings == []
        return
    (f,) = findings
    assert (f.id, f.status, f.fixed_version) == ("CVE-2099-1001", status, fixed)
    assert set(f.aliases) == {"HBFIX-2024-0001", "GHSA-hbfx-0001-0001"}
    assert f.severity is Severity.CRITICAL and f.data_source == "osv"


def test_pypi_no_fix(loaded: VulnDB) -> None:
    (f,) = match_inventory(inventory(pypi("fixture-yaml", "1.2")), loaded)
    assert (f.status, f.severity) == (NO_FIX, Severity.LOW)
    assert match_inventory(inventory(pypi("fixture-yaml", "0.9")), loaded) == []


@pytest.mark.parametrize(
    ("version", "fixed"),
    [("4.17.20", "4.17.21"), ("4.17.21", None), ("5.0.0-beta.1", "5.0.0-rc.1"), ("5.0.0", None)],
)
def test_npm(loaded: VulnDB, version: str, fixed: str | None) -> None:
    findings = match_inventory(inventory(npm("fixture-lodash", version)), loaded)
    if fixed is None:
        assert findings == []
    else:
        (f,) = findings
        assert (f.status, f.fixed_version, f.severity) == (FIXABLE, fixed, Severity.MEDIUM)


def test_unparsable_versions_are_skipped(loaded: VulnDB) -> None:
    assert match_inventory(inventory(npm("fixture-lodash", "latest"), pypi("fixture-yaml", "x y")),
                           loaded) == []  # fmt: skip


def test_findings_are_sorted_deterministically(loaded: VulnDB) -> None:
    inv = inventory(pypi("fixture-requests", "2.30.0"), deb("libssl3", "3.0.11-1~deb12u2",
                    "fixture-openssl"), npm("fixture-lodash", "4.0.0"))  # fmt: skip
    first = match_inventory(inv, loaded)
    reversed_inv = Inventory(inv.reference, inv.digest, inv.os, inv.packages[::-1])
    assert match_inventory(reversed_inv, loaded) == first
    severities = [f.severity for f in first]
    assert severities == sorted(severities, reverse=True)


def test_scan_applies_vex_and_support(loaded: VulnDB) -> None:
    inv = inventory(deb("libssl3", "3.0.11-1~deb12u2", "fixture-openssl"),
                    deb("fixture-limited", "1.0"), pypi("fixture-requests", "2.30.0"))  # fmt: skip
    inv = Inventory(inv.reference, inv.digest, inv.os, inv.packages, inv.architecture)
    result = scan(inv, loaded, vex=load_vex(DATA / "vex.json"))
    found = by_id(list(result.findings))
    vexed = found[("libssl3", "CVE-2099-2002")]
    assert vexed.status == NOT_AFFECTED_STATUS and vexed.data_source.startswith("vex")
    assert "vulnerable_code_not_in_execute_path" in vexed.note
    # under_investigation does not suppress
    assert found[("fixture-requests", "CVE-2099-1001")].status == FIXABLE
    assert [(s.package.name, s.kind) for s in result.support] == [("fixture-limited", "limited")]
    assert result.warnings == ()
    assert result.by_status()[FIXABLE] == 3


def test_gate(loaded: VulnDB) -> None:
    result = scan(inventory(deb("libssl3", "3.0.11-1~deb12u2", "fixture-openssl")), loaded)
    # CVE-2099-4001 comes from a changelog entry without an urgency: unknown severity,
    # which fails every threshold unless the gate is told otherwise (fail closed)
    unrated = by_id(list(result.findings))[("libssl3", "CVE-2099-4001")]
    assert unrated.severity is Severity.UNKNOWN and unrated.severity_source == ""
    assert {f.id for f in failing(result, Severity.HIGH)} == {"CVE-2099-2001", "CVE-2099-4001"}
    assert {f.id for f in failing(result, Severity.CRITICAL)} == {"CVE-2099-4001"}
    assert {f.id for f in failing(result, Severity.HIGH, fail_on_unknown=False)} == {
        "CVE-2099-2001"}  # fmt: skip
    assert {f.id for f in failing(result, Severity.CRITICAL, fail_on_unknown=False)} == set()
    assert {
        f.id for f in failing(result, Severity.LOW, include_unfixed=True, fail_on_unknown=False)
    } == {"CVE-2099-2001", "CVE-2099-2002"}
    assert {f.id for f in failing(result, Severity.UNKNOWN, fail_on_unknown=False)} == {
        "CVE-2099-2001", "CVE-2099-4001"}  # fmt: skip
    assert failing(result, None) == []


@pytest.mark.parametrize(
    ("urgency", "expected"),
    [("low", Severity.LOW), ("medium", Severity.MEDIUM), ("high", Severity.HIGH),
     ("emergency", Severity.CRITICAL), ("critical", Severity.CRITICAL),
     ("", Severity.UNKNOWN), ("bogus", Severity.UNKNOWN)],
)  # fmt: skip
def test_changelog_urgency_is_the_last_resort_and_says_so(
    db: VulnDB, urgency: str, expected: Severity
) -> None:
    row = Affected("CVE-2099-4101", "debian-changelog", "debian:12", "fixture-openssl", FIXED,
                   "3.0.14-1~deb12u1", urgency=urgency)  # fmt: skip
    db.replace("debian-changelog", (), [row])
    (finding,) = scan(inventory(deb("libssl3", "3.0.11-1~deb12u2", "fixture-openssl")), db).findings
    assert finding.severity is expected
    assert finding.severity_source == ("debian-changelog-urgency" if urgency in (
        "low", "medium", "high", "emergency", "critical") else "")  # fmt: skip
    # a CVSS score from OSV outranks the changelog's urgency
    db.replace("osv", [Advisory("CVE-2099-4101", "osv", severity="low", cvss_score=3.1,
               cvss_vector="CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N")], [])  # fmt: skip
    (finding,) = scan(inventory(deb("libssl3", "3.0.11-1~deb12u2", "fixture-openssl")), db).findings
    assert finding.severity is Severity.LOW and finding.severity_source == "osv-cvss"


def test_empty_database_warns(db: VulnDB) -> None:
    result = scan(inventory(deb("libc6", "2.36-9")), db)
    assert result.warnings[0] == EMPTY_DB_WARNING
    assert [c.name for c in result.coverage if c.missing and c.packages] == [
        "debian-fixed", "debian-open"]  # fmt: skip
    assert result.findings == ()


def test_non_debian_os_warns(loaded: VulnDB) -> None:
    ubuntu = OSRelease("ubuntu", "24.04", "noble", "Ubuntu 24.04")
    result = scan(inventory(deb("libssl3", "3.0.11-1~deb12u2", "fixture-openssl"), os=ubuntu),
                  loaded)  # fmt: skip
    assert result.findings == ()
    assert "not a numbered Debian release" in result.warnings[0]


def test_support_pattern_names(loaded: VulnDB, tmp_path: Path) -> None:
    result = scan(inventory(deb("php-fixture", "1.0", "fixture-php-horde")), loaded)
    assert [(s.kind, s.date) for s in result.support] == [("ended", "2099-02-28")]


def test_vex_for_another_image_does_not_apply(loaded: VulnDB, tmp_path: Path) -> None:
    """A statement about image A's subcomponent says nothing about image B."""
    import json

    other = "pkg:oci/other@sha256:" + "c" * 64
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.invalid/vex/fixture-other-image",
        "author": "hardbase test fixture",
        "timestamp": "2024-06-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": "CVE-2099-2002"},
            "products": [{"@id": other, "subcomponents": [{"@id": "pkg:deb/debian/libssl3"}]}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }],
    }  # fmt: skip
    path = tmp_path / "other.vex.json"
    path.write_text(json.dumps(doc))
    result = scan(inventory(deb("libssl3", "3.0.11-1~deb12u2", "fixture-openssl")), loaded,
                  vex=load_vex(path))  # fmt: skip
    assert by_id(list(result.findings))[("libssl3", "CVE-2099-2002")].status != NOT_AFFECTED_STATUS


def test_a_pre_release_named_only_in_versions_is_fixed_by_the_next_fix(db: VulnDB) -> None:
    """The real PYSEC-2023-61 (tests/data/vuln/pypa, CC-BY 4.0): its ranges start at
    `introduced: 3.2`, its `versions` list names 3.2rc1, and 3.2.19 fixes it."""
    get_importer("osv").run(db, [str(DATA / "pypa")], NullProgress())
    found = by_id(match_inventory(inventory(pypi("django", "3.2rc1"),
                                            pypi("Django", "3.2.18")), db))  # fmt: skip
    rc = found["django", "CVE-2023-31047"]  # reported under its CVE alias
    assert "PYSEC-2023-61" in rc.aliases
    assert (rc.status, rc.fixed_version) == (FIXABLE, "3.2.19")
    assert found["Django", "CVE-2023-31047"].fixed_version == "3.2.19"
    clean = match_inventory(inventory(pypi("django", "3.2.19"), pypi("django", "3.1")), db)
    assert not [f for f in clean if f.id == "CVE-2023-31047"]
