"""Importers against fixture feeds in real formats, from files, zips and a local HTTP server."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from hardbase.util.progress import NullProgress
from hardbase.vuln.db import FIXED, NOT_AFFECTED, OPEN, WONT_FIX, VulnDB
from hardbase.vuln.importers.interface import FeedError, get_importer

DATA = Path(__file__).parents[1] / "data" / "vuln"  # the fixtures in tests/data/vuln


def _osv_zip(tmp_path: Path) -> Path:
    out = tmp_path / "all.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted((DATA / "osv").glob("*.json")):
            zf.write(path, path.name)
    return out


def _check_osv(db: VulnDB) -> None:
    rows = db.affected_for({"pypi": ["fixture-requests", "fixture-yaml"], "npm": ["fixture-lodash"],
                            "debian:12": ["fixture-zlib"]})  # fmt: skip
    by_id = {r.advisory_id: r for r in rows}
    assert set(by_id) == {"HBFIX-2024-0001", "HBFIX-2024-0002", "DEBIAN-CVE-2099-1003",
                          "HBFIX-2024-0006"}  # fmt: skip
    assert "HBFIX-2024-0004" not in by_id  # withdrawn
    req = by_id["HBFIX-2024-0001"]
    assert req.package == "fixture-requests"  # PEP 503 normalised from Fixture_Requests
    assert req.status == FIXED and req.versions == ("2.30.0", "3.0.0")
    assert [r.type for r in req.ranges] == ["ECOSYSTEM", "ECOSYSTEM"]
    assert ("last_affected", "3.0.2") in req.ranges[1].events
    assert by_id["HBFIX-2024-0006"].status == OPEN
    assert by_id["HBFIX-2024-0006"].package == "fixture-yaml"
    assert by_id["DEBIAN-CVE-2099-1003"].urgency == "high"
    advisories = db.advisories_for(["HBFIX-2024-0001", "DEBIAN-CVE-2099-1003", "HBFIX-2024-0002"])
    first = advisories["HBFIX-2024-0001"][0]
    assert first.aliases == ("CVE-2099-1001", "GHSA-hbfx-0001-0001")
    assert first.cvss_score == 9.8 and first.severity == "critical"
    debian = advisories["DEBIAN-CVE-2099-1003"][0]
    assert debian.upstream == ("CVE-2099-1003",)
    assert debian.cvss_vector.startswith("CVSS:4.0") and debian.severity == "critical"
    assert advisories["HBFIX-2024-0002"][0].severity == "medium"  # database_specific fallback


def test_osv_from_directory(db: VulnDB) -> None:
    stats = get_importer("osv").run(db, [str(DATA / "osv")], NullProgress())
    assert stats.advisories == 4
    assert stats.details["withdrawn"] == 1
    assert stats.details["other_ecosystem"] == 2  # the RubyGems entry and the Packagist record
    _check_osv(db)
    source = db.source("osv")
    assert source is not None and source.records == 4


def test_osv_from_zip_over_http(db: VulnDB, feed_server: str, tmp_path: Path) -> None:
    zipped = _osv_zip(tmp_path)
    served = DATA / "osv-served.zip"
    served.write_bytes(zipped.read_bytes())
    try:
        get_importer("osv").run(db, [f"{feed_server}/osv-served.zip"], NullProgress())
    finally:
        served.unlink()
    _check_osv(db)


def test_osv_reimport_replaces_rows(db: VulnDB, tmp_path: Path) -> None:
    importer = get_importer("osv")
    importer.run(db, [str(DATA / "osv")], NullProgress())
    importer.run(db, [str(_osv_zip(tmp_path))], NullProgress())
    assert db.counts()["advisories"] == 4


def test_osv_missing_location_is_a_clear_error(db: VulnDB, feed_server: str) -> None:
    with pytest.raises(FeedError, match="404"):
        get_importer("osv").run(db, [f"{feed_server}/nope.zip"], NullProgress())
    with pytest.raises(FeedError, match="does not exist"):
        get_importer("osv").run(db, ["/nonexistent/osv.zip"], NullProgress())


def test_osv_bad_zip(db: VulnDB, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(FeedError, match="not a readable zip"):
        get_importer("osv").run(db, [str(bad)], NullProgress())


def test_tracker_over_http(db: VulnDB, feed_server: str) -> None:
    stats = get_importer("debian-tracker").run(db, [f"{feed_server}/tracker.json"], NullProgress())
    assert stats.details["undetermined"] == 1
    assert stats.details["other_release"] == 1  # sid
    rows = {(r.advisory_id, r.ecosystem): r for r in db.affected_for(
        {"debian:12": ["fixture-openssl"], "debian:13": ["fixture-openssl"]})}  # fmt: skip
    fixed = rows[("CVE-2099-2001", "debian:12")]
    assert (fixed.status, fixed.fixed_version, fixed.urgency) == (FIXED, "3.0.13-1~deb12u1", "high")
    assert rows[("CVE-2099-2001", "debian:13")].fixed_version == "3.1.5-1"
    postponed = rows[("CVE-2099-2002", "debian:12")]
    assert postponed.status == OPEN and postponed.note == "postponed: Minor issue"
    assert rows[("CVE-2099-2003", "debian:12")].status == WONT_FIX
    assert rows[("CVE-2099-2004", "debian:12")].status == NOT_AFFECTED
    assert ("CVE-2099-2005", "debian:12") not in rows
    desc = db.advisories_for(["CVE-2099-2001"])["CVE-2099-2001"][0]
    assert desc.summary.startswith("Fixture: fixed by")


def test_tracker_rejects_non_json(db: VulnDB, tmp_path: Path) -> None:
    bad = tmp_path / "tracker.json"
    bad.write_text("<html>not json</html>")
    with pytest.raises(FeedError, match="not the security tracker's JSON"):
        get_importer("debian-tracker").run(db, [str(bad)], NullProgress())


def test_security_support_from_directory(db: VulnDB) -> None:
    stats = get_importer("debian-security-support").run(db, [str(DATA / "support")], NullProgress())
    assert stats.affected == 4
    notes = {n.package: n for n in db.support_notes(["debian:12"])}
    assert notes["fixture-ended"].kind == "ended"
    assert notes["fixture-ended"].date == "2099-01-31"
    assert notes["fixture-ended"].last_version == "1.0-1"
    assert notes["fixture-limited"].ecosystem == "debian"
    assert notes["fixture-limited"].note == "Fixture: only suitable for trusted content"
    assert notes["fixture-bare"].note == ""


def test_security_support_over_http(db: VulnDB, feed_server: str) -> None:
    get_importer("debian-security-support").run(db, [f"{feed_server}/support"], NullProgress())
    assert {n.package for n in db.support_notes(["debian:12"])} == {
        "fixture-ended", "fixture-php-.*", "fixture-limited", "fixture-bare"}  # fmt: skip


def test_security_support_from_the_installed_package(db: VulnDB) -> None:
    root = Path("/usr/share/debian-security-support")
    if not root.is_dir():
        pytest.skip("debian-security-support is not installed")
    stats = get_importer("debian-security-support").run(db, [], NullProgress())
    assert stats.affected > 10


def test_unknown_importer() -> None:
    with pytest.raises(FeedError, match="no vulnerability source named"):
        get_importer("nvd")
