"""Go, Maven and crates.io: OSV records imported and matched with each ecosystem's ordering.

The records in tests/data/vuln/lang are FIXTURES (made-up HBFIX ids and ranges) in
OSV's real format, on the real package names and versions the test subjects hold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.util.progress import NullProgress
from hardbase.vuln.db import VulnDB
from hardbase.vuln.importers.interface import get_importer
from hardbase.vuln.inventory import inventory
from hardbase.vuln.match import FIXABLE, compare_go, compare_maven, match_inventory
from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease
from hardbase.vuln.scan import coverage
from lang_subjects import debian_payload, rust_fixture

LANG = Path(__file__).parents[1] / "data" / "vuln" / "lang"


@pytest.fixture
def lang_db(tmp_path: Path) -> VulnDB:
    db = VulnDB.open(tmp_path / "vuln.db")
    stats = get_importer("osv").run(db, [str(LANG)], NullProgress())
    assert stats.advisories == 4 and stats.details["other_ecosystem"] == 0
    return db


def _pkg(kind: str, name: str, version: str) -> InstalledPackage:
    return InstalledPackage(kind, name, version, purl=f"pkg:{kind}/{name}@{version}", path="opt/x")


def _fixes(db: VulnDB, *packages: InstalledPackage) -> dict[tuple[str, str], str | None]:
    inv = Inventory("dir:/x", "", OSRelease(), tuple(packages))
    return {
        (f.package.name, f.package.version): f.fixed_version
        for f in match_inventory(inv, db)
        if f.status == FIXABLE
    }


@pytest.mark.parametrize(
    ("kind", "name", "version", "fixed"),
    [
        ("golang", "stdlib", "v1.19.8", "1.19.9"),
        ("golang", "stdlib", "v1.19", "1.19.9"),  # go1.19's old spelling of 1.19.0
        ("golang", "stdlib", "v1.15.16", None),
        ("golang", "stdlib", "v1.19.9", None),
        ("golang", "github.com/Example/Fixture", "v0.0.0-20220101000000-aaaaaaaaaaaa",
         "0.0.0-20230101000000-abcdefabcdef"),
        ("golang", "github.com/example/fixture", "v0.0.0-20220101000000-aaaaaaaaaaaa", None),
        ("golang", "github.com/example/legacy", "v2.8.2+incompatible", "2.8.3"),
        ("golang", "github.com/example/legacy", "v2.8.3+incompatible", None),
        ("maven", "org.apache.logging.log4j:log4j-core", "2.19.0", "2.19.1"),
        ("maven", "org.apache.logging.log4j:log4j-core", "2.0-rc1", "2.19.1"),  # rc > beta9
        ("maven", "org.apache.logging.log4j:log4j-core", "2.0-beta8", None),
        ("maven", "org.apache.logging.log4j:log4j-core", "2.19.1", None),
        ("maven", "org.apache.logging.log4j:log4j-core", "2.20.0-rc2", "2.20.0"),
        ("maven", "org.apache.logging.log4j:log4j-core", "2.20.0.GA", None),  # == 2.20.0
        ("cargo", "smallvec", "1.6.0", "1.6.1"),
        ("cargo", "smallvec", "0.6.2", None),
    ],
)  # fmt: skip
def test_version_semantics(
    lang_db: VulnDB, kind: str, name: str, version: str, fixed: str | None
) -> None:
    found = _fixes(lang_db, _pkg(kind, name, version))
    assert found.get((name, version)) == fixed


def test_orderings() -> None:
    assert compare_go("v1.22", "v1.22.0") == 0
    assert compare_go("v0.0.0-20220101000000-aaaaaaaaaaaa", "v0.1.0") < 0
    assert compare_maven("1.0-SNAPSHOT", "1.0") < 0 < compare_maven("1.0-sp1", "1.0")
    assert compare_maven("1.0.0-ga", "1") == 0 and compare_maven("1.0-1", "1-1") == 0
    assert compare_maven("2.0.0-M1", "2.0.0-rc1") < 0 < compare_maven("10", "9")
    assert compare_maven("2.0.0.M1", "2.0.0") < 0  # a milestone precedes its release


@pytest.mark.archive
def test_real_subjects_matched(lang_db: VulnDB, tmp_path: Path) -> None:
    root = tmp_path / "root"
    rust_fixture(root / "opt/rust-app")
    go = debian_payload("bullseye", "docker-registry") / "usr/bin/docker-registry"
    (root / "opt/registry").write_bytes(go.read_bytes())
    (root / "opt/registry").chmod(0o755)
    jar = debian_payload("trixie", "liblog4j2-java") / "usr/share/java/log4j-core.jar"
    (root / "opt/log4j-core.jar").write_bytes(jar.read_bytes())
    inv = inventory(f"dir:{root}").inventory
    fixes = {
        (f.id, f.package.name, f.package.version, f.fixed_version)
        for f in match_inventory(inv, lang_db)
        if f.status == FIXABLE
    }
    assert fixes == {
        ("CVE-2099-2101", "stdlib", "v1.15.15", "1.15.16"),
        ("HBFIX-2026-0103", "org.apache.logging.log4j:log4j-core", "2.19.0", "2.19.1"),
        ("HBFIX-2026-0104", "smallvec", "1.6.0", "1.6.1"),
    }
    counts = lang_db.ecosystem_counts()
    cov = {c.name: c for c in coverage(inv, counts)}
    assert (cov["go"].packages, cov["maven"].packages, cov["crates.io"].packages) == (1, 1, 3)
    assert not any(c.missing for c in cov.values())
