"""The archive client against the fixture archive: verification, refusals, caching."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.debian.archive import Archive
from hardbase.debian.model import SourceEntry
from hardbase.errors import ArchiveError, FetchError, IntegrityError, SignatureError


def _populate(archive: FixtureArchive) -> None:
    archive.add_package("libfoo1", "1.0-1", depends="libc6 (>= 2.36)", source="foo")
    archive.add_package("libc6", "2.36-9")
    archive.add_package("data", "1", arch="all")
    archive.add_package("libfoo1", "1.0-1+deb12u1", suite="stable-security", source="foo")


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def start(self, task: str, total: int) -> None:
        self.events.append(("start", total))

    def advance(self, amount: int = 1) -> None:
        self.events.append(("advance", amount))

    def finish(self) -> None:
        self.events.append(("finish", None))


def test_loads_verified_indexes_across_suites(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    fixture_archive.publish("stable-security", valid_until=datetime.now(UTC) + timedelta(days=7))
    progress = _Recorder()
    archive = Archive(
        [fixture_archive.entry("stable", "stable-security")],
        cache_dir=tmp_path / "cache",
        progress=progress,
    )
    index, releases = archive.load(["amd64"])

    assert len(index) == 4
    assert [p.version for p in index.candidates("libfoo1", "amd64")] == ["1.0-1+deb12u1", "1.0-1"]
    newest = index.candidates("libfoo1", "amd64")[0]
    assert (newest.suite, newest.source, newest.source_version) == (
        "stable-security", "foo", "1.0-1+deb12u1",
    )  # fmt: skip
    assert newest.url.startswith(fixture_archive.url)
    assert [p.name for p in index.candidates("data", "amd64")] == ["data"]
    assert [(r.suite, r.codename) for r in releases] == [
        ("stable", "stable"), ("stable-security", "stable-security"),
    ]  # fmt: skip
    assert releases[0].valid_until is None and releases[1].valid_until is not None
    assert len(releases[0].sha256) == 64
    assert ("start", 2) in progress.events and progress.events[-1] == ("finish", None)


def test_rerun_with_unchanged_archive_downloads_only_inrelease(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    archive = Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "cache")
    first, _ = archive.load(["amd64"])
    fixture_archive.requests.clear()
    second, _ = archive.load(["amd64"])
    assert fixture_archive.requests == ["/dists/stable/InRelease"]
    assert list(first.packages()) == list(second.packages())


def test_republish_with_new_version_is_seen(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable-security")
    archive = Archive([fixture_archive.entry("stable-security")], cache_dir=tmp_path / "cache")
    index, _ = archive.load(["amd64"])
    assert index.candidates("libfoo1", "amd64")[0].version == "1.0-1+deb12u1"
    fixture_archive.add_package("libfoo1", "1.0-1+deb12u2", suite="stable-security", source="foo")
    fixture_archive.publish("stable-security")
    index, _ = archive.load(["amd64"])
    assert index.candidates("libfoo1", "amd64")[0].version == "1.0-1+deb12u2"


def test_falls_back_to_gz_then_plain_and_uses_by_hash(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable", compressions=(".gz",))
    fixture_archive.publish("stable-security", compressions=("",), by_hash=True)
    index, _ = Archive(
        [fixture_archive.entry("stable", "stable-security")], cache_dir=tmp_path / "c"
    ).load(["amd64"])
    assert len(index) == 4
    assert any("/by-hash/SHA256/" in path for path in fixture_archive.requests)


def test_missing_xz_on_the_mirror_falls_back_to_plain(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable", compressions=(".xz", ""))
    (fixture_archive.root / "dists/stable/main/binary-amd64/Packages.xz").unlink()
    index, _ = Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c").load(["amd64"])
    assert len(index) == 3


def test_refuses_a_signature_by_another_key(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    keyring = fixture_archive.foreign_keyring()
    entry = fixture_archive.entry("stable", keyring=keyring)
    with pytest.raises(SignatureError) as caught:
        Archive([entry], cache_dir=tmp_path / "c").load(["amd64"])
    message = caught.value.diagnostics()
    assert f"{fixture_archive.url}dists/stable/InRelease" in message
    assert str(keyring) in message and "not in the keyring" in message


def test_refuses_a_tampered_inrelease(fixture_archive: FixtureArchive, tmp_path: Path) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    fixture_archive.tamper_inrelease("stable")
    with pytest.raises(SignatureError, match="bad signature"):
        Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c").load(["amd64"])


def test_refuses_text_outside_the_signature(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    fixture_archive.append_outside_signature("stable", "\nSuite: evil\n")
    with pytest.raises(SignatureError, match="text after its signature"):
        Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c").load(["amd64"])


def test_refuses_an_unsigned_release(fixture_archive: FixtureArchive, tmp_path: Path) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    release = fixture_archive.root / "dists/stable/Release"
    fixture_archive.inrelease("stable").write_bytes(release.read_bytes())
    with pytest.raises(SignatureError, match="not a single clearsigned message"):
        Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c").load(["amd64"])


def test_refuses_a_missing_keyring(fixture_archive: FixtureArchive, tmp_path: Path) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    entry = fixture_archive.entry("stable", keyring=tmp_path / "nope.gpg")
    with pytest.raises(SignatureError, match="nope.gpg .*does not exist"):
        Archive([entry], cache_dir=tmp_path / "c").load(["amd64"])


def test_refuses_an_index_that_does_not_match_the_release(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    fixture_archive.corrupt_index("stable", ext=".xz")
    with pytest.raises(IntegrityError, match=r"Packages\.xz does not match the size and SHA256"):
        Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c").load(["amd64"])


def test_refuses_an_index_the_release_does_not_list(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    with pytest.raises(IntegrityError, match="lists no main/binary-arm64/Packages"):
        Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c").load(["arm64"])


def test_refuses_an_expired_release(fixture_archive: FixtureArchive, tmp_path: Path) -> None:
    _populate(fixture_archive)
    now = datetime.now(UTC)
    fixture_archive.publish(
        "stable", date=now - timedelta(days=10), valid_until=now - timedelta(days=3)
    )
    archive = Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c")
    with pytest.raises(ArchiveError, match="expired on .*Valid-Until"):
        archive.load(["amd64"])
    # The same release was fine while it was valid.
    past = Archive(
        [fixture_archive.entry("stable")], cache_dir=tmp_path / "c", now=now - timedelta(days=5)
    )
    assert len(past.load(["amd64"])[0]) == 3


def test_refuses_a_rollback_to_an_older_release(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    now = datetime.now(UTC).replace(microsecond=0)
    fixture_archive.publish("stable", date=now)
    archive = Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c")
    archive.load(["amd64"])
    fixture_archive.publish("stable", date=now - timedelta(days=1))
    with pytest.raises(ArchiveError, match="rollback"):
        archive.load(["amd64"])
    # Another cache has no memory of the newer release, so it accepts this one.
    assert (
        len(Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "d").load(["amd64"])[0])
        == 3
    )


def test_refuses_a_release_for_another_suite(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    # A signed release of one suite served as another one.
    target = fixture_archive.root / "dists/testing"
    target.mkdir(parents=True)
    (target / "InRelease").write_bytes(fixture_archive.inrelease("stable").read_bytes())
    with pytest.raises(ArchiveError, match="not 'testing'"):
        Archive([fixture_archive.entry("testing")], cache_dir=tmp_path / "c").load(["amd64"])


def test_unknown_suite_names_the_url(fixture_archive: FixtureArchive, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="dists/nosuch/InRelease does not exist"):
        Archive([fixture_archive.entry("nosuch")], cache_dir=tmp_path / "c").load(["amd64"])


def test_unreachable_mirror(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    entry = SourceEntry(uris=(f"http://127.0.0.1:{port}/debian",), suites=("stable",))
    archive = Archive([entry], cache_dir=tmp_path / "c", retries=0, timeout=5)
    with pytest.raises(FetchError) as caught:
        archive.load(["amd64"])
    assert caught.value.diagnostics().startswith(
        f"cannot reach http://127.0.0.1:{port}/debian/dists/stable/InRelease; "
        "check the mirror URL or network"
    )


def test_a_corrupt_parsed_cache_is_rebuilt(fixture_archive: FixtureArchive, tmp_path: Path) -> None:
    _populate(fixture_archive)
    fixture_archive.publish("stable")
    archive = Archive([fixture_archive.entry("stable")], cache_dir=tmp_path / "c")
    archive.load(["amd64"])
    for pickled in (tmp_path / "c" / "parsed").iterdir():
        pickled.write_bytes(b"garbage")
    assert len(archive.load(["amd64"])[0]) == 3
