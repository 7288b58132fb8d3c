"""A scan counts only the ecosystems its coverage reports on, with the same result.

The advisories and affected rows below are FIXTURES (made-up HBFIX ids) written
straight into a real database file; both readers (VulnDB and the sqlite3 reader) are
checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.vuln.db import VulnDB
from hardbase.vuln.dbread import SqliteReader
from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease
from hardbase.vuln.records import Advisory, Affected, AffectedStatus, VulnReader
from hardbase.vuln.scan import coverage, coverage_ecosystems

ROWS = [
    ("HBFIX-1", "debian-changelog", "debian:12", "openssl", AffectedStatus.FIXED),
    ("HBFIX-2", "debian-changelog", "debian:13", "openssl", AffectedStatus.FIXED),
    ("HBFIX-3", "debian-tracker", "debian:13", "zlib", AffectedStatus.OPEN),
    ("HBFIX-4", "debian-tracker", "debian:12", "zlib", AffectedStatus.WONT_FIX),
    ("HBFIX-5", "osv", "pypi", "requests", AffectedStatus.FIXED),
    ("HBFIX-6", "osv", "npm", "left-pad", AffectedStatus.FIXED),
]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "vuln.db"
    with VulnDB.open(path) as db:
        for source in sorted({r[1] for r in ROWS}):
            mine = [r for r in ROWS if r[1] == source]
            db.replace(
                source,
                [Advisory(r[0], source) for r in mine],
                [Affected(r[0], source, r[2], r[3], r[4], fixed_version="9") for r in mine],
            )
    return path


def _inventory() -> Inventory:
    packages = (
        InstalledPackage("deb", "openssl", "3.0", purl="pkg:deb/debian/openssl@3.0"),
        InstalledPackage("pypi", "requests", "2.0", purl="pkg:pypi/requests@2.0"),
    )
    return Inventory("dir:/x", "", OSRelease("debian", "13"), packages)


@pytest.mark.parametrize("reader", ["VulnDB", "SqliteReader"])
def test_counts_of_the_image_ecosystems_give_the_same_coverage(db_path: Path, reader: str) -> None:
    db: VulnReader = VulnDB.open(db_path) if reader == "VulnDB" else SqliteReader(db_path, "x")
    inv = _inventory()
    some = db.ecosystem_counts(coverage_ecosystems(inv))
    assert {key[1] for key in some} == {"debian:13", "pypi", "npm"}  # not debian:12
    assert coverage(inv, some) == coverage(inv, db.ecosystem_counts())
    by_name = {c.name: c for c in coverage(inv, some)}
    assert (by_name["debian-fixed"].records, by_name["debian-open"].records) == (1, 1)
    assert by_name["debian-open"].sources == ("debian-tracker",)


def test_an_image_of_no_debian_release_counts_only_language_ecosystems() -> None:
    inv = Inventory("dir:/x", "", OSRelease("alpine", "3.20"), ())
    assert coverage_ecosystems(inv) == ["pypi", "npm", "go", "maven", "crates.io"]
