"""The debian-changelog importer reads hardbase's own archive (`archive=hardbase`).

A **fixture** rebuild (made-up source and `CVE-2099-*` id, built with dpkg-source by
tests/archive_fixture.py) is published to REPO's bookworm-hardbase suite; the
importer, pointed at REPO, records the CVE as fixed in bookworm at the +hb version.
"""

from __future__ import annotations

from pathlib import Path

from archive_fixture import FixtureArchive
from hardbase.repo.keys import write_archive_key
from hardbase.repo.publish import publish
from hardbase.repo.serve import RepoServer
from hardbase.util.progress import NullProgress
from hardbase.vuln.db import VulnDB
from hardbase.vuln.importers.debian_changelog import DebianChangelogImporter

VERSION = "1.0-1+deb12u0+hb1"
CHANGELOG = (
    f"fixture-lib ({VERSION}) bookworm; urgency=medium\n\n"
    "  * Fixture rebuild: fix CVE-2099-4242 with debian/patches/fix.patch.\n\n"
    " -- hardbase <rebuilds@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n\n"
    "fixture-lib (1.0-1) bookworm; urgency=medium\n\n"
    "  * Fixture entry written for hardbase's tests, not a real upload.\n\n"
    " -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2025 10:00:00 +0000\n"
)


def test_the_importer_reads_the_rebuilds_changelog_from_repo(tmp_path: Path) -> None:
    key = write_archive_key(tmp_path / "archive", unencrypted=True)
    with FixtureArchive(tmp_path / "fixture") as archive:
        source = archive.add_source("fixture-lib", VERSION, CHANGELOG, suite="unpublished")
        dsc = archive.root / source.directory / f"fixture-lib_{VERSION}.dsc"
        repo = tmp_path / "repo"
        publish(repo, "bookworm", [dsc], key.secret)
    db = VulnDB.open(tmp_path / "vuln.db")
    with RepoServer(repo) as server:
        importer = DebianChangelogImporter(releases=["bookworm"], cache_dir=tmp_path / "cache")
        importer.run(
            db, [server.url, "archive=hardbase", f"signed-by={key.public}"], NullProgress()
        )
    fixed = {
        r.advisory_id: r.fixed_version for r in db.affected_for({"debian:12": ["fixture-lib"]})
    }
    assert fixed == {"CVE-2099-4242": VERSION}
