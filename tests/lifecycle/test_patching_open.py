"""Which CVEs the tracker leaves open in a managed image, with severity and a known candidate.

The tracker document here is a **fixture** in the security tracker's real JSON
shape (source → CVE → release → status), with made-up `fixture-*` packages and
`CVE-2099-*` ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardbase.build.lock import Lock, LockedPackage
from hardbase.lifecycle.fleet import PatchSettings, UserPatch
from hardbase.lifecycle.patching import NO_DSA, OPEN_STATUS, POSTPONED, open_cves, to_patch
from hardbase.util.progress import NullProgress
from hardbase.vuln.db import VulnDB
from hardbase.vuln.importers.interface import FeedError, get_importer
from hardbase.vuln.severity import Severity


def _row(status: str, urgency: str, **extra: str) -> dict[str, object]:
    return {"status": status, "repositories": {"bookworm": "1.0-1"}, "urgency": urgency, **extra}


TRACKER = {
    "fixture-calc": {
        "CVE-2099-0101": {"description": "Fixture: open", "releases": {
            "bookworm": _row("open", "high"), "trixie": _row("open", "high")}},
        "CVE-2099-0102": {"description": "Fixture: no-dsa", "releases": {
            "bookworm": _row("open", "low", nodsa="Minor issue")}},
        "CVE-2099-0103": {"description": "Fixture: postponed", "releases": {
            "bookworm": _row("open", "medium**", nodsa="Minor", nodsa_reason="postponed")}},
        "CVE-2099-0104": {"description": "Fixture: ignored", "releases": {
            "bookworm": _row("open", "high", nodsa="Not worth it", nodsa_reason="ignored")}},
        "CVE-2099-0105": {"description": "Fixture: resolved", "releases": {
            "bookworm": {**_row("resolved", "high"), "fixed_version": "1.0-2"}}},
        "CVE-2099-0106": {"description": "Fixture: open in trixie only", "releases": {
            "trixie": _row("open", "high")}},
    },
    "fixture-elsewhere": {
        "CVE-2099-0199": {"description": "Fixture: a package no image has", "releases": {
            "bookworm": _row("open", "critical")}},
    },
}  # fmt: skip


def _pkg(name: str, source: str, version: str = "1.0-1") -> LockedPackage:
    return LockedPackage(name, version, "amd64", source, version, f"pool/{name}.deb", "0" * 64, 1,
                         "base", "bookworm")  # fmt: skip


LOCK = Lock("fixture", "0" * 64, "bookworm", (),
            {"amd64": (_pkg("libcalc1", "fixture-calc"), _pkg("calc", "fixture-calc"),
                       _pkg("libother", "fixture-other"))}, {})  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> VulnDB:
    feed = tmp_path / "tracker.json"
    feed.write_text(json.dumps(TRACKER))
    vdb = VulnDB.open(tmp_path / "vuln.db")
    get_importer("debian-tracker").run(vdb, [str(feed)], NullProgress())
    return vdb


def test_open_no_dsa_and_postponed_for_the_images_release_with_severity(db: VulnDB) -> None:
    found = open_cves(LOCK, db)
    assert [(o.cve, o.status, o.severity) for o in found] == [
        ("CVE-2099-0101", OPEN_STATUS, Severity.HIGH),
        ("CVE-2099-0102", NO_DSA, Severity.LOW),
        ("CVE-2099-0103", POSTPONED, Severity.MEDIUM),
    ]
    assert {(o.source, o.version, o.release) for o in found} == {
        ("fixture-calc", "1.0-1", "bookworm")
    }
    assert found[0].packages == ("calc", "libcalc1")
    assert not any(o.has_candidate for o in found)  # no patches: directory given


def test_a_patches_dir_file_naming_the_cve_is_a_candidate_and_min_severity_filters(
    db: VulnDB, tmp_path: Path
) -> None:
    mine = UserPatch(tmp_path / "fix.patch", ("CVE-2099-0103",), "vendor, https://fixture.invalid")
    settings = PatchSettings(Severity.MEDIUM, ("newer-debian", "patches-dir"), tmp_path / "repo",
                             tmp_path / "k.key", patches=(mine,))  # fmt: skip
    found = open_cves(LOCK, db, settings)
    assert [(o.cve, o.has_candidate) for o in found] == [
        ("CVE-2099-0101", False), ("CVE-2099-0102", False), ("CVE-2099-0103", True)
    ]  # fmt: skip
    assert [o.cve for o in to_patch(found, settings)] == ["CVE-2099-0101", "CVE-2099-0103"]
    only_debian = PatchSettings(Severity.MEDIUM, ("newer-debian",), tmp_path / "repo",
                                tmp_path / "k.key", patches=(mine,))  # fmt: skip
    assert not any(o.has_candidate for o in open_cves(LOCK, db, only_debian))


def test_a_record_for_a_package_no_image_has_changes_nothing(db: VulnDB) -> None:
    found = open_cves(LOCK, db)
    assert "CVE-2099-0199" not in {o.cve for o in found}
    other = Lock("o", "0" * 64, "bookworm", (), {"amd64": (_pkg("libother", "fixture-other"),)}, {})
    assert open_cves(other, db) == []


def test_a_malformed_tracker_json_is_refused_and_the_previous_data_kept(
    db: VulnDB, tmp_path: Path
) -> None:
    before = open_cves(LOCK, db)
    bad = tmp_path / "broken.json"
    bad.write_text('{"fixture-calc": {"CVE-2099-0101": ')
    with pytest.raises(FeedError) as info:
        get_importer("debian-tracker").run(db, [str(bad)], NullProgress())
    assert info.value.diagnostics() == (
        f"{bad} is not the security tracker's JSON; check the location: "
        "Expecting value: line 1 column 36 (char 35)"
    )
    assert open_cves(LOCK, db) == before
