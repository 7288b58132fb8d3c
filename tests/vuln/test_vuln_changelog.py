"""The debian-changelog importer: the parser (offline fixture), .deb reading, the real archive."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.debian.model import BinaryPackage, SourceFile, SourcePackage
from hardbase.util.progress import NullProgress
from hardbase.vuln.db import VulnDB
from hardbase.vuln.importers.debian_changelog import (
    DebianChangelogImporter,
    changelog_from_deb,
    ids_in,
    parse_changelog,
    release_number,
    select_binaries,
    select_sources,
)

DATA = Path(__file__).parents[1] / "data" / "vuln"  # the fixtures in tests/data/vuln


def test_sid_then_stable_pitfall() -> None:
    text = (DATA / "changelog-sid-then-stable.txt").read_text()
    fixed = parse_changelog(text, "bookworm")
    assert fixed == {
        # named in unstable after the release, fixed for bookworm by the next bookworm upload
        "CVE-2099-3001": "3.0.13-1~deb12u1",
        "CVE-2099-3002": "3.0.13-1~deb12u1",
        "CVE-2099-3004": "3.0.13-1~deb12u1",
        # a bookworm upload names it first: that one fixes it, later mentions do not move it
        "CVE-2099-3003": "3.0.11-1~deb12u2",
        "GHSA-c2f5-w9v7-2gh8": "3.0.11-1~deb12u2",
        "CVE-2099-3005": "3.0.11-1~deb12u1",
        # history the release was cut from: fixed at its own version
        "CVE-2099-3006": "3.0.9-1",
        "CVE-2099-3007": "3.0.8-1",
        # an experimental version above the later bookworm upload was never in bookworm
        "CVE-2099-3008": "3.0.11-1~deb12u1",
    }


def test_other_release_reads_the_same_changelog_differently() -> None:
    text = (DATA / "changelog-sid-then-stable.txt").read_text()
    fixed = parse_changelog(text, "trixie")
    # nothing targets trixie, and every entry predates trixie's release: own versions
    assert fixed["CVE-2099-3001"] == "3.0.13-1"
    assert fixed["CVE-2099-3003"] == "3.0.11-1~deb12u2"


def test_ids_in() -> None:
    assert ids_in("CVE-2024-12345, GHSA-c2f5-w9v7-2gh8 and CVE-2024-12345 again; CVE-24-1") == [
        "CVE-2024-12345",
        "GHSA-c2f5-w9v7-2gh8",
    ]


def _bin(name: str, source: str, version: str, suite: str, size: int) -> BinaryPackage:
    return BinaryPackage(name, version, "amd64", source, version, f"pool/{name}.deb", "0" * 64,
                         size, "http://127.0.0.1/debian", suite)  # fmt: skip


def test_select_binaries_picks_updated_sources_and_their_binaries() -> None:
    packages = [
        _bin("libssl3", "openssl", "3.0.17-1~deb12u2", "bookworm-security", 2000),
        _bin("openssl", "openssl", "3.0.17-1~deb12u2", "bookworm-security", 9000),
        _bin("libssl-doc", "openssl", "3.0.17-1~deb12u2", "bookworm-security", 500),
        _bin("libssl3", "openssl", "3.0.15-1~deb12u1", "bookworm", 2000),
        _bin("zlib1g", "zlib", "1:1.2.13.dfsg-1", "bookworm", 100),
        _bin("tzdata", "tzdata", "2025b-0+deb12u1", "bookworm", 100),
        _bin("linux-libc-dev", "linux", "6.1.140-1", "bookworm-security", 100),
    ]
    targets = {t.source: t for t in select_binaries(packages, "bookworm")}
    assert set(targets) == {"openssl", "tzdata", "linux"}
    assert targets["openssl"].version == "3.0.17-1~deb12u2"
    assert [a.binary for a in targets["openssl"].artifacts] == ["libssl-doc", "libssl3", "openssl"]
    assert targets["openssl"].ecosystem == "debian:12"


def _src(name: str, version: str, suite: str, *files: str) -> SourcePackage:
    listed = tuple(SourceFile(f, "0" * 64, 100) for f in files)
    return SourcePackage(name, version, f"pool/main/{name[0]}/{name}", listed, (name,),
                         "http://127.0.0.1/debian", suite)  # fmt: skip


def test_select_sources_takes_the_debian_tar_or_the_native_tarball() -> None:
    sources = [
        _src("openssl", "3.0.17-1~deb12u2", "bookworm-security", "openssl_3.0.17-1~deb12u2.dsc",
             "openssl_3.0.17.orig.tar.gz", "openssl_3.0.17-1~deb12u2.debian.tar.xz"),
        _src("openssl", "3.0.15-1~deb12u1", "bookworm", "openssl_3.0.15-1~deb12u1.debian.tar.xz"),
        _src("zlib", "1:1.2.13.dfsg-1", "bookworm", "zlib_1.2.13.dfsg-1.debian.tar.xz"),
        _src("debian-security-support", "1:12+2025.06.30", "bookworm-security",
             "debian-security-support_12+2025.06.30.dsc",
             "debian-security-support_12+2025.06.30.tar.xz"),
        # trixie's upload rebuilt for bookworm: the last debNNuM names the release
        _src("mxml", "3.3.1-1~deb13u1~deb12u1", "bookworm",
             "mxml_3.3.1-1~deb13u1~deb12u1.debian.tar.xz"),
    ]  # fmt: skip
    targets = {t.source: t for t in select_sources(sources, "bookworm")}
    assert set(targets) == {"openssl", "debian-security-support", "mxml"}
    (tar,) = targets["openssl"].artifacts
    assert tar.kind == "debian-tar" and tar.url.endswith("openssl_3.0.17-1~deb12u2.debian.tar.xz")
    assert [a.kind for a in targets["debian-security-support"].artifacts] == ["native-tar"]
    assert "mxml" not in {t.source for t in select_sources(sources, "trixie")}


def test_release_number_takes_the_last_debnnum() -> None:
    assert release_number("0.261630-1~deb13u1~deb12u1") == 12
    assert release_number("1.0-1+deb12u3") == 12
    assert release_number("1.0-1") is None


def _build_deb(tmp_path: Path, name: str, changelog: bytes | None, link_to: str = "") -> Path:
    root = tmp_path / f"{name}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Fixture <f@example.invalid>\n"
        "Description: fixture package written by hardbase's tests\n"
    )
    doc = root / "usr" / "share" / "doc"
    doc.mkdir(parents=True)
    if link_to:
        (doc / name).symlink_to(link_to)
    elif changelog is not None:
        (doc / name).mkdir()
        (doc / name / "changelog.Debian.gz").write_bytes(gzip.compress(changelog))
    out = tmp_path / f"{name}.deb"
    subprocess.run(["dpkg-deb", "-Zxz", "--root-owner-group", "--build", str(root), str(out)],
                   check=True, capture_output=True)  # fmt: skip
    return out


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_changelog_from_a_real_deb(tmp_path: Path) -> None:
    text = (DATA / "changelog-sid-then-stable.txt").read_bytes()
    deb = _build_deb(tmp_path, "fixture-openssl", text)
    data = changelog_from_deb(deb, "fixture-openssl")
    assert data is not None and gzip.decompress(data) == text
    linked = _build_deb(tmp_path, "libfixture", None, link_to="fixture-openssl")
    assert changelog_from_deb(linked, "libfixture") is None


@pytest.mark.archive
def test_real_bookworm_openssl_changelog(tmp_path: Path) -> None:
    """Downloads openssl's smallest binary from bookworm-security and checks the pairs."""
    db = VulnDB.open(tmp_path / "vuln.db")
    importer = DebianChangelogImporter(
        releases=["bookworm"], cache_dir=tmp_path / "cache", only_sources=["openssl"]
    )
    stats = importer.run(db, [], NullProgress())
    assert stats.details["read"] == 1 and stats.affected > 50
    rows = {r.advisory_id: r.fixed_version for r in db.affected_for({"debian:12": ["openssl"]})}
    # fixed in unstable (3.0.10-1) and for bookworm by the rebased security upload
    assert rows["CVE-2023-3817"] == "3.0.10-1~deb12u1"
    # fixed upstream before bookworm was released: at the unstable version bookworm shipped
    assert rows["CVE-2023-2650"] == "3.0.9-1"
    # each row keeps the `urgency=` of the entry that fixed it (the real changelog's header:
    # "openssl (3.0.10-1~deb12u1) bookworm; urgency=medium")
    urgencies = {r.advisory_id: r.urgency for r in db.affected_for({"debian:12": ["openssl"]})}
    assert urgencies["CVE-2023-3817"] == "medium"
    assert all(u in ("low", "medium", "high", "emergency", "critical") for u in urgencies.values())

    def dpkg_lt(a: str, b: str) -> bool:
        return subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0

    # every fix is at or after bookworm's first version, or before what bookworm shipped
    for version in rows.values():
        assert not dpkg_lt("3.0.9-1", version) or "deb12u" in version, version
    # incremental: a second run downloads nothing
    again = importer.run(db, [], NullProgress())
    assert again.unchanged == 1 and again.details["read"] == 0
    assert db.count_source("debian-changelog") == stats.affected
    db.close()


@pytest.mark.archive
@pytest.mark.slow
def test_real_bookworm_versions_and_distribution_labels(tmp_path: Path) -> None:
    """Real bookworm sources whose fixes the old parser lost or misdated.

    Rebuilds from trixie (`~deb13u1~deb12u1`) were taken for trixie; entries labelled
    `stable` or `oldstable-proposed-updates` were not seen as uploads to bookworm.
    """
    names = [
        "libcrypt-pbkdf2-perl", "libbytes-random-secure-perl", "mxml", "amavisd-new",
        "python-git", "python-django",
    ]  # fmt: skip
    db = VulnDB.open(tmp_path / "vuln.db")
    importer = DebianChangelogImporter(releases=["bookworm"], cache_dir=tmp_path / "cache")
    stats = importer.run(db, [f"bookworm:{','.join(names)}"], NullProgress())
    assert stats.details["read"] == len(names), stats
    rows = {
        (r.package, r.advisory_id): r.fixed_version for r in db.affected_for({"debian:12": names})
    }
    db.close()
    for cve in ("CVE-2026-9641", "CVE-2026-9638", "CVE-2017-20240"):
        assert rows["libcrypt-pbkdf2-perl", cve] == "0.261630-1~deb13u1~deb12u1"
    assert rows["libbytes-random-secure-perl", "CVE-2026-11625"] == "0.29-4~deb13u1~deb12u1"
    assert rows["mxml", "CVE-2026-5037"] == "3.3.1-1+deb13u1~deb12u1"
    # `stable` uploads made while bookworm was stable
    assert rows["amavisd-new", "CVE-2024-28054"] == "1:2.13.0-3+deb12u1"
    assert rows["python-git", "CVE-2023-40267"] == "3.1.30-1+deb12u1"
    assert rows["python-git", "CVE-2023-41040"] == "3.1.30-1+deb12u2"
    # named by an `oldstable-proposed-updates` entry made after trixie's release (the
    # python3.11 fix changed a test's expectations), not by the next security upload
    assert rows["python-django", "CVE-2025-6069"] == "3:3.2.25-0+deb12u3"
