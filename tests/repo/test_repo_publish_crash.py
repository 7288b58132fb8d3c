"""`hardbase repo publish` SIGKILLed midway: REPO keeps serving a consistent, signed suite.

The publish runs as its own process (tests/paused_publish.py stops it at a named
point: after the first index is written, mid-copy of the first pool file, after it,
just before the suite is switched) and is killed there with SIGKILL. Then: the suite's InRelease is
the one from before, byte for byte, and verifies with gpgv against its indexes; a
second publish of the same version, rebuilt with other bytes (a build that is not
reproducible), succeeds, since no signed index named the killed publish's pool files;
no temp file or link is left; the suite lists each version once. The .debs are
fixtures made with dpkg-deb (tests/archive_fixture.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import build_deb

from archive_fixture import FixtureArchive
from crash_checks import check_suite, kill_when, leftovers, paused_publish, run_hardbase, versions
from hardbase.repo.keys import ArchiveKey, write_archive_key

SUITE = "trixie-hardbase"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> ArchiveKey:
    return write_archive_key(tmp_path_factory.mktemp("key") / "archive", unencrypted=True)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "fixture") as archive:
        yield archive


def _built(archive: FixtureArchive, tmp_path: Path, version: str, content: bytes) -> Path:
    """A .deb of hello `version` whose /usr/bin/hello is `content`, kept apart from the next."""
    deb = build_deb(archive, "hello", version, files={"/usr/bin/hello": content})
    kept = tmp_path / content.decode().replace(" ", "-") / deb.name
    kept.parent.mkdir()
    kept.write_bytes(deb.read_bytes())
    return kept


@pytest.mark.parametrize("point", ["index", "copy", "pool", "switch"])
def test_a_publish_killed_midway_leaves_the_old_suite_and_the_next_publish_completes(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey, point: str
) -> None:
    repo = tmp_path / "repo"
    args = ["-q", "repo", "publish", str(repo), "--release", "trixie", "--key", str(key.secret)]
    first = build_deb(archive, "hello", "1.0-1+hb1")
    assert run_hardbase([*args, str(first)]).returncode == 0
    before = check_suite(repo, SUITE, key.public)

    built = _built(archive, tmp_path, "1.0-1+hb2", b"first build")
    marker = tmp_path / "paused"
    kill_when(paused_publish(point, marker, [*args, str(built)]), marker.exists)

    # REPO serves exactly what it served before, signed and consistent
    assert check_suite(repo, SUITE, key.public) == before
    assert versions(repo, SUITE) == ["hello 1.0-1+hb1"]
    deb = repo / "pool/main/h/hello/hello_1.0-1+hb2_amd64.deb"
    assert deb.exists() == (point in ("pool", "switch"))  # written, but named by no index
    assert bool(leftovers(repo)) == (point == "copy")  # the temp copy the kill left

    # the re-run's build differs (not reproducible): still accepted, as nothing published it
    rebuilt = _built(archive, tmp_path, "1.0-1+hb2", b"second build")
    assert rebuilt.read_bytes() != built.read_bytes()
    done = run_hardbase([*args, str(rebuilt)])
    assert done.returncode == 0, done.stderr
    check_suite(repo, SUITE, key.public)
    assert versions(repo, SUITE) == ["hello 1.0-1+hb1", "hello 1.0-1+hb2"]
    assert versions(repo, SUITE, "main/binary-amd64/Packages") == versions(repo, SUITE)
    assert deb.read_bytes() == rebuilt.read_bytes()
    assert leftovers(repo) == []
    generations = sorted(p.name for p in (repo / "dists").glob(f".{SUITE}.*"))
    assert len(generations) == 2, generations  # the live one and the one before it

    # once published, a file never changes: a third build with other bytes is refused
    third = _built(archive, tmp_path, "1.0-1+hb2", b"third build")
    refused = run_hardbase([*args, str(third)])
    assert refused.returncode == 2 and "new +hb revision" in refused.stderr
    assert deb.read_bytes() == rebuilt.read_bytes()
