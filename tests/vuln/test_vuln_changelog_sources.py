"""The debian-changelog importer on the fixture archive: changelogs from Sources.

The fixture archive (tests/archive_fixture.py) publishes real source packages built
with dpkg-source and real .debs, signed; the changelogs are fixtures, not real
advisories. Checks that the `.debian.tar` is read instead of a binary, that native
sources, tarballs over the cap and files the mirror lacks fall back to the smallest
binary, that a binary over its cap is skipped with a warning, and that a broken .deb
is an error sentence, not a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.util.progress import NullProgress
from hardbase.vuln.db import VulnDB
from hardbase.vuln.importers import debian_changelog
from hardbase.vuln.importers.debian_changelog import DebianChangelogImporter
from hardbase.vuln.importers.interface import FeedError

DATA = Path(__file__).parents[1] / "data" / "vuln"
CHANGELOG = (DATA / "changelog-sid-then-stable.txt").read_text()
VERSION = "3.0.13-1~deb12u1"  # the changelog's newest entry

NATIVE_CHANGELOG = """\
fixture-support (1:12+2026.01.01) bookworm-security; urgency=medium

  * Fixture entry written for hardbase's tests, not a real changelog.
  * Fix CVE-2099-5001.

 -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000
"""


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "fixture") as archive:
        yield archive


def _publish(archive: FixtureArchive) -> None:
    for suite in ("bookworm", "bookworm-updates", "bookworm-security"):
        archive.publish(suite)


def _deb_with_changelog(archive: FixtureArchive, name: str, source: str, version: str,
                        changelog: str) -> None:  # fmt: skip
    import gzip

    archive.add_package(
        name, version, source=source, suite="bookworm-security",
        files={f"/usr/share/doc/{name}/changelog.Debian.gz": gzip.compress(changelog.encode())},
    )  # fmt: skip


def _run(archive: FixtureArchive, tmp_path: Path) -> tuple[VulnDB, dict[str, int]]:
    db = VulnDB.open(tmp_path / "vuln.db")
    importer = DebianChangelogImporter(releases=["bookworm"], cache_dir=tmp_path / "cache")
    stats = importer.run(db, [archive.url, f"signed-by={archive.keyring}"], NullProgress())
    return db, dict(stats.details)


def _fixed(db: VulnDB, source: str) -> dict[str, str]:
    return {r.advisory_id: r.fixed_version for r in db.affected_for({"debian:12": [source]})}


def test_reads_the_debian_tar_not_a_binary(archive: FixtureArchive, tmp_path: Path) -> None:
    archive.add_source("fixture-openssl", VERSION, CHANGELOG, suite="bookworm-security",
                       binaries=["libfixture3"])  # fmt: skip
    _deb_with_changelog(archive, "libfixture3", "fixture-openssl", VERSION, CHANGELOG)
    _publish(archive)
    db, details = _run(archive, tmp_path)
    assert _fixed(db, "fixture-openssl")["CVE-2099-3001"] == VERSION
    assert details["read"] == 1 and details["from_binaries"] == 0
    fetched = [p for p in archive.requests if "/pool/" in p]
    assert len(fetched) == 1 and fetched[0].endswith(".debian.tar.xz"), fetched
    assert not any("binary-amd64/Packages" in p for p in archive.requests)
    # incremental: unchanged sources are not downloaded again
    archive.requests.clear()
    importer = DebianChangelogImporter(releases=["bookworm"], cache_dir=tmp_path / "cache")
    again = importer.run(db, [archive.url, f"signed-by={archive.keyring}"], NullProgress())
    assert again.unchanged == 1 and not [p for p in archive.requests if "/pool/" in p]
    db.close()


def test_a_native_source_is_read_from_its_tarball(archive: FixtureArchive, tmp_path: Path) -> None:
    archive.add_source("fixture-support", "1:12+2026.01.01", NATIVE_CHANGELOG,
                       suite="bookworm-security")  # fmt: skip
    _publish(archive)
    db, _ = _run(archive, tmp_path)
    assert _fixed(db, "fixture-support") == {"CVE-2099-5001": "1:12+2026.01.01"}
    assert [p for p in archive.requests if "/pool/" in p][0].endswith(".tar.xz")
    db.close()


def test_a_debian_tar_the_mirror_lacks_falls_back_to_the_smallest_binary(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    published = archive.add_source("fixture-openssl", VERSION, CHANGELOG,
                                   suite="bookworm-security", binaries=["libfixture3"])  # fmt: skip
    _deb_with_changelog(archive, "libfixture3", "fixture-openssl", VERSION, CHANGELOG)
    _publish(archive)
    for tar in (archive.root / published.directory).glob("*.debian.tar.*"):
        tar.unlink()  # the signed Sources still lists it
    db, details = _run(archive, tmp_path)
    assert _fixed(db, "fixture-openssl")["CVE-2099-3001"] == VERSION
    assert details["from_binaries"] == 1 and details["read"] == 1
    assert any(p.endswith(".deb") for p in archive.requests)
    db.close()


def test_over_the_caps_falls_back_then_skips_with_a_warning(
    archive: FixtureArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    archive.add_source("fixture-openssl", VERSION, CHANGELOG, suite="bookworm-security",
                       binaries=["libfixture3"], files={"big": b"\0" * 4096})  # fmt: skip
    _deb_with_changelog(archive, "libfixture3", "fixture-openssl", VERSION, CHANGELOG)
    archive.add_source("fixture-support", "1:12+2026.01.01", NATIVE_CHANGELOG,
                       suite="bookworm-security")  # fmt: skip
    _publish(archive)
    tars = {s.name: (archive.root / s.directory) for s in archive.sources()}
    sizes = {n: max(f.stat().st_size for f in d.iterdir()) for n, d in tars.items()}
    # the caps are the importer's settings; lowered so the fixture files exceed them
    monkeypatch.setattr(debian_changelog, "MAX_SOURCE_TARBALL", 1)
    deb_size = max(d.stat().st_size for d in (archive.root / "pool").rglob("*.deb"))
    monkeypatch.setattr(debian_changelog, "MAX_FALLBACK_DEB", deb_size)
    caplog.set_level(logging.WARNING)
    db, details = _run(archive, tmp_path)
    assert sizes  # both sources published
    assert _fixed(db, "fixture-openssl")["CVE-2099-3001"] == VERSION  # from the binary
    # the native source has no binary: skipped, warned about, not marked as read
    assert _fixed(db, "fixture-support") == {}
    assert details["failed"] == 1 and details["read"] == 1
    assert "fixture-support" in caplog.text and "cap" in caplog.text
    state = db.source("debian-changelog")
    assert state is not None and "bookworm/fixture-support" not in state.state
    assert "bookworm/fixture-openssl" in state.state
    db.close()


def test_a_deb_with_a_bad_header_is_an_error_sentence(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    _deb_with_changelog(archive, "libfixture3", "fixture-openssl", VERSION, CHANGELOG)
    archive.add_source("fixture-openssl", VERSION, CHANGELOG, suite="bookworm-security",
                       binaries=["libfixture3"])  # fmt: skip
    # the deb's ar header is corrupted before publishing, so its signed hash matches
    deb = next((archive.root / "pool").rglob("libfixture3_*.deb"))
    data = bytearray(deb.read_bytes())
    data[8 + 48 : 8 + 58] = b"999999999x"  # the first member's size field
    deb.write_bytes(bytes(data))
    _publish(archive)
    published = archive.sources()[0]
    for tar in (archive.root / published.directory).glob("*.debian.tar.*"):
        tar.unlink()
    with pytest.raises(FeedError) as raised:
        _run(archive, tmp_path)
    assert "corrupt" in raised.value.diagnostics()
