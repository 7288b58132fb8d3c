"""The two ways of reading a changelog give the same CVE → fixed pairs (real archive).

For a few real bookworm sources, `debian/changelog` from the `.debian.tar` (through
the signed Sources) and `changelog.Debian.gz` from the smallest binary .deb (through
the signed Packages) are parsed for bookworm and compared. The differences allowed,
and explained: debhelper's dh_installchangelogs trims the binary's copy to recent
entries, so old entries are only in the source's changelog. A CVE only they name
is only in the source's pairs; a CVE named in an old entry and again in a later
one (libssh2's CVE-2019-3863: 1.8.0-2.1, then 1.9.0-1) gets the earlier version
from the source and the later from the binary. Both versions are then before
what the release shipped, which no bookworm package is below, so matching
cannot change; every pair at or after the release is the same.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from hardbase.debian.archive import Archive
from hardbase.debian.source import changelog_from_tarball
from hardbase.util.http import download
from hardbase.vuln.importers.debian_changelog import (
    DebianChangelogImporter,
    binary_artifacts,
    parse_changelog,
    read_doc,
    select_sources,
)

# sources updated in bookworm whose .debian.tar this machine's mirror serves
SOURCES = ("sudo", "libssh2", "atop", "libcue")
RELEASED = {"sudo": "1.9.13p3-1", "libssh2": "1.10.0-3", "atop": "2.8.1-1", "libcue": "2.2.1-4"}


def _lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0


@pytest.mark.archive
@pytest.mark.slow
def test_debian_tar_and_binary_give_the_same_pairs(tmp_path: Path) -> None:
    importer = DebianChangelogImporter(releases=["bookworm"])
    archive = Archive(importer.entries([], "bookworm"), cache_dir=tmp_path / "archive")
    targets = {
        t.source: t for t in select_sources(archive.load_sources(), "bookworm")
        if t.source in SOURCES
    }  # fmt: skip
    assert set(targets) == set(SOURCES)
    index, _ = archive.load(["amd64"])
    packages = [p for p in index.packages() if p.source in SOURCES]
    for name, target in sorted(targets.items()):
        (tar,) = target.artifacts
        local = tmp_path / f"{name}.debian.tar.xz"
        download(tar.url, local, max_size=tar.size, sha256=tar.sha256, size=tar.size)
        from_source = changelog_from_tarball(local, native=False)
        deb = binary_artifacts(target, packages)[0]
        local_deb = tmp_path / f"{name}.deb"
        download(deb.url, local_deb, max_size=deb.size, sha256=deb.sha256, size=deb.size)
        gz, link = read_doc(local_deb, deb.binary)
        assert from_source is not None and gz is not None, (name, link)
        by_source = parse_changelog(from_source.decode(), "bookworm", where=name)
        by_binary = parse_changelog(gzip.decompress(gz).decode(), "bookworm", where=name)
        # every CVE the binary names, the source names
        assert set(by_binary) <= set(by_source), name
        for vid, version in by_source.items():
            other = by_binary.get(vid)
            if other == version:
                continue
            # only in the trimmed-away entries, or named there first: before the release
            assert _lt(version, RELEASED[name]), (name, vid, version, other)
            assert other is None or (_lt(version, other) and _lt(other, RELEASED[name]))
        assert {k: v for k, v in by_source.items() if not _lt(v, RELEASED[name])} == {
            k: v for k, v in by_binary.items() if not _lt(v, RELEASED[name])
        }, name
