"""An image built from Debian (the fixture archive) plus hardbase's own archive.

hardbase's archive holds a `+hb1` rebuild of one library; the resolver's
highest-version rule must pick it, the image must hold its files, and the lock
must say which archive each package came from. Packages are real fixture .debs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from repo_helpers import build_deb, image_file

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from hardbase.debian.version import patched_version
from hardbase.repo.keys import ArchiveKey, write_archive_key
from hardbase.repo.publish import publish
from hardbase.repo.serve import RepoServer

LIB = "usr/lib/x86_64-linux-gnu/libhello.so.1"


@pytest.fixture
def debian(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "debian") as archive:
        archive.add_package("libhello1", "1.0-1", suite="trixie", source="hello",
                            files={"/" + LIB: b"vulnerable"})  # fmt: skip
        archive.add_package("hello", "1.0-1", suite="trixie", depends="libhello1 (>= 1.0)",
                            files={"/usr/bin/hello": b"#!hello\n"})  # fmt: skip
        archive.publish("trixie")
        yield archive


@pytest.fixture
def key(tmp_path: Path) -> ArchiveKey:
    return write_archive_key(tmp_path / "archive", unencrypted=True)


def spec(tmp_path: Path, debian: FixtureArchive, repo_url: str, keyring: Path) -> Path:
    data = {
        "name": "hello",
        "release": "trixie",
        "packages": ["hello"],
        "sources": [
            {"uris": [debian.url], "suites": ["trixie"], "signed-by": str(debian.keyring)},
            {"uris": [repo_url], "suites": ["trixie-hardbase"], "signed-by": str(keyring)},
        ],
        "entrypoint": ["/usr/bin/hello"],
    }
    path = tmp_path / "hello.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_patched_package_is_picked_and_the_lock_says_where_from(
    tmp_path: Path, debian: FixtureArchive, key: ArchiveKey
) -> None:
    version = patched_version("1.0-1", release_number="13")
    rebuilt = build_deb(debian, "libhello1", version, source="hello",
                        files={"/" + LIB: b"fixed"})  # fmt: skip
    repo = tmp_path / "repo"
    publish(repo, "trixie", [rebuilt], key.secret)
    with RepoServer(repo) as server:
        path = spec(tmp_path, debian, server.url, key.public)
        assert main(["-q", "build", str(path), "--output", str(tmp_path / "out")]) == 0
        url = server.url
    lock = json.loads((tmp_path / "hello.lock.json").read_text())
    packages = {p["name"]: p for p in lock["archs"]["amd64"]["packages"]}
    assert packages["libhello1"]["version"] == "1.0-1+deb13u0+hb1"
    assert packages["libhello1"]["suite"] == "trixie-hardbase"
    assert packages["libhello1"]["url"] == (
        f"{url}pool/main/h/hello/libhello1_1.0-1+deb13u0+hb1_amd64.deb"
    )
    assert packages["hello"]["url"].startswith(debian.url)
    assert packages["hello"]["suite"] == "trixie"
    releases = {(r["uri"], r["suite"]) for r in lock["inRelease"]}
    assert releases == {(debian.url, "trixie"), (url, "trixie-hardbase")}
    assert image_file(tmp_path / "out", LIB) == b"fixed"


def test_debians_next_upload_wins_over_the_rebuild(
    tmp_path: Path, debian: FixtureArchive, key: ArchiveKey
) -> None:
    rebuilt = build_deb(debian, "libhello1", patched_version("1.0-1", release_number="13"),
                        source="hello")  # fmt: skip
    repo = tmp_path / "repo"
    publish(repo, "trixie", [rebuilt], key.secret)
    debian.add_package(
        "libhello1", "1.0-1+deb13u1", suite="trixie", source="hello"
    )  # Debian's own fix
    debian.publish("trixie")
    with RepoServer(repo) as server:
        path = spec(tmp_path, debian, server.url, key.public)
        assert main(["-q", "lock", str(path)]) == 0
    lock = json.loads((tmp_path / "hello.lock.json").read_text())
    packages = {p["name"]: p for p in lock["archs"]["amd64"]["packages"]}
    assert packages["libhello1"]["version"] == "1.0-1+deb13u1"
    assert packages["libhello1"]["suite"] == "trixie"


def test_a_missing_archive_key_in_the_spec_is_exit_2(
    tmp_path: Path, debian: FixtureArchive, key: ArchiveKey, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    publish(repo, "trixie", [build_deb(debian, "libhello1", "1.0-1+hb1")], key.secret)
    with RepoServer(repo) as server:
        path = spec(tmp_path, debian, server.url, tmp_path / "missing.gpg")
        assert main(["-q", "build", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.gpg" in err and "does not exist" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "hello.lock.json").exists()
