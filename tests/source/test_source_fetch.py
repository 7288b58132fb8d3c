"""`hardbase source fetch` on the signed fixture archive (tests/archive_fixture.py).

The fixture publishes real source packages built with `dpkg-source --build` in a
signed Sources.xz; the changelogs are fixtures, not real Debian uploads. Checks the
highest version across suites, binary names and binNMU versions resolving to their
source, the cache, and that a tampered .dsc or tarball, an unknown package or
version, or a foreign keyring each exit 2 with one sentence and leave no output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from hardbase.debian.model import BinaryPackage
from hardbase.errors import IntegrityError
from hardbase.source.fetch import (
    SourceNotFound,
    fetch_source,
    parse_source_field,
    release_entries,
    source_of,
)


def changelog(name: str, version: str, suite: str) -> str:
    return (
        f"{name} ({version}) {suite}; urgency=medium\n\n"
        "  * Fixture entry written for hardbase's tests, not a real upload.\n\n"
        " -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n"
    )


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_source(
            "fixture-zlib", "1.3-1", changelog("fixture-zlib", "1.3-1", "trixie"),
            suite="trixie", binaries=["libfixturez1"], files={"zlib.c": "int main;\n"},
        )  # fmt: skip
        archive.add_source(
            "fixture-zlib", "1.3-1+deb13u1",
            changelog("fixture-zlib", "1.3-1+deb13u1", "trixie-security"),
            suite="trixie-security", binaries=["libfixturez1"], files={"zlib.c": "int fixed;\n"},
        )  # fmt: skip
        archive.add_source(
            "fixture-tzdata", "2026a", changelog("fixture-tzdata", "2026a", "trixie"),
            suite="trixie",
        )  # fmt: skip
        for suite in ("trixie", "trixie-security"):
            archive.publish(suite)
        yield archive


def _entries(archive: FixtureArchive) -> list:  # type: ignore[type-arg]
    return release_entries(
        "trixie", mirror=archive.url, suites=["trixie-security", "trixie"],
        keyring=archive.keyring,
    )  # fmt: skip


def _cli(archive: FixtureArchive, tmp_path: Path, *args: str) -> int:
    return main(
        ["--cache-dir", str(tmp_path / "cache"), "-q", "source", "fetch", *args,
         "--release", "trixie", "--mirror", archive.url, "--suite", "trixie-security",
         "--suite", "trixie", "--keyring", str(archive.keyring)]
    )  # fmt: skip


def test_fetches_the_highest_version_verified_and_unpacked(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fetched = fetch_source(
        "fixture-zlib", out, entries=_entries(archive), cache_dir=tmp_path / "cache"
    )
    assert (fetched.name, fetched.version, fetched.suite) == (
        "fixture-zlib", "1.3-1+deb13u1", "trixie-security",
    )  # fmt: skip
    assert fetched.tree == out / "fixture-zlib-1.3"
    assert (fetched.tree / "zlib.c").read_text() == "int fixed;\n"
    changelog_text = (fetched.tree / "debian" / "changelog").read_text()
    assert changelog_text.startswith("fixture-zlib (1.3-1+deb13u1)")
    names = [f.name for f in fetched.files]
    assert names[0] == "fixture-zlib_1.3-1+deb13u1.dsc" and fetched.dsc == out / names[0]
    assert "fixture-zlib_1.3.orig.tar.gz" in names
    assert "fixture-zlib_1.3-1+deb13u1.debian.tar.xz" in names
    for file in fetched.files:  # provenance: what was checked is what is on disk
        assert hashlib.sha256(fetched.path(file).read_bytes()).hexdigest() == file.sha256
        assert file.url.startswith(archive.url) and file.url.endswith("/" + file.name)
    assert fetched.release.suite == "trixie-security" and len(fetched.release.sha256) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "fixture", "out"]


def test_a_version_a_binary_name_and_a_binnmu_version_name_the_source(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    fetched = fetch_source(
        "libfixturez1", tmp_path / "a", entries=_entries(archive), version="1.3-1+b2",
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert (fetched.name, fetched.version, fetched.suite) == ("fixture-zlib", "1.3-1", "trixie")
    assert (fetched.tree / "zlib.c").read_text() == "int main;\n"
    native = fetch_source(
        "fixture-tzdata", tmp_path / "b", entries=_entries(archive), cache_dir=tmp_path / "cache"
    )
    assert native.tree == tmp_path / "b" / "fixture-tzdata-2026a"
    assert (native.tree / "debian" / "changelog").is_file()


def test_the_cache_is_used_and_rechecked(archive: FixtureArchive, tmp_path: Path) -> None:
    fetch_source("fixture-zlib", tmp_path / "a", entries=_entries(archive),
                 cache_dir=tmp_path / "cache")  # fmt: skip
    archive.requests.clear()
    fetch_source("fixture-zlib", tmp_path / "b", entries=_entries(archive),
                 cache_dir=tmp_path / "cache")  # fmt: skip
    assert not [p for p in archive.requests if "/pool/" in p]
    # a cached file changed on disk is downloaded again, not trusted
    cached = next((tmp_path / "cache" / "sources").rglob("*"), None)
    for path in (tmp_path / "cache" / "sources").rglob("*"):
        if path.is_file():
            cached = path
            path.write_bytes(b"changed")
    assert cached is not None
    fetch_source("fixture-zlib", tmp_path / "c", entries=_entries(archive),
                 cache_dir=tmp_path / "cache")  # fmt: skip
    assert len([p for p in archive.requests if "/pool/" in p]) == 3


def test_source_field_and_binary_resolution() -> None:
    assert parse_source_field("", "zlib1g", "1:1.3-1") == ("zlib1g", "1:1.3-1")
    assert parse_source_field("zlib", "zlib1g", "1:1.3-1") == ("zlib", "1:1.3-1")
    assert parse_source_field("zlib (1:1.3-1)", "zlib1g", "1:1.3-1+b1") == ("zlib", "1:1.3-1")
    pkg = BinaryPackage(
        name="zlib1g", version="1:1.3-1+b1", arch="amd64", source="zlib",
        source_version="1:1.3-1", filename="pool/z.deb", sha256="0" * 64, size=1,
        base_uri="http://x/", suite="trixie",
    )  # fmt: skip
    assert source_of(pkg) == ("zlib", "1:1.3-1")


def test_cli_prints_the_files_and_the_tree(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(archive, tmp_path, "fixture-zlib=1.3-1", "--output", str(tmp_path / "o")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "fixture-zlib 1.3-1 (trixie)"
    assert out[-1] == str(tmp_path / "o" / "fixture-zlib-1.3")
    assert len(out) == 5 and all(len(line.split()[0]) == 64 for line in out[1:4])


def _tamper(archive: FixtureArchive, suffix: str) -> Path:
    source = next(s for s in archive.sources("trixie-security"))
    version = "1.3" if suffix == ".orig.tar.gz" else source.version
    path = archive.root / source.directory / f"{source.name}_{version}{suffix}"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, other hash
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("suffix", [".dsc", ".orig.tar.gz", ".debian.tar.xz"])
def test_a_file_that_does_not_match_the_signed_index_is_refused(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    path = _tamper(archive, suffix)
    out = tmp_path / "out"
    assert _cli(archive, tmp_path, "fixture-zlib", "--output", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and path.name in err
    assert "does not match the size and SHA256 the signed Sources index" in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    with pytest.raises(IntegrityError):
        fetch_source("fixture-zlib", out, entries=_entries(archive), cache_dir=tmp_path / "c2")


def test_an_empty_existing_output_is_left_empty_on_failure(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper(archive, ".orig.tar.gz")
    out = tmp_path / "out"
    out.mkdir()
    assert _cli(archive, tmp_path, "fixture-zlib", "--output", str(out)) == 2
    assert out.is_dir() and not list(out.iterdir())


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("no-such-source", "no source package 'no-such-source'"),
        ("fixture-zlib=9.9-1", "fixture-zlib 9.9-1 is not in the release's signed Sources"),
    ],
)
def test_an_unknown_source_or_version_is_one_sentence(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    spec: str, says: str,
) -> None:  # fmt: skip
    out = tmp_path / "out"
    assert _cli(archive, tmp_path, spec, "--output", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err
    assert not out.exists()
    name, _, version = spec.partition("=")
    with pytest.raises(SourceNotFound):
        fetch_source(name, out, entries=_entries(archive), version=version or None,
                     cache_dir=tmp_path / "cache")  # fmt: skip


def test_a_foreign_keyring_and_a_non_empty_output_are_refused(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        ["--cache-dir", str(tmp_path / "cache"), "-q", "source", "fetch", "fixture-zlib",
         "--release", "trixie", "--mirror", archive.url, "--suite", "trixie",
         "--keyring", str(archive.foreign_keyring()), "--output", str(out)]
    )  # fmt: skip
    assert code == 2 and "does not verify" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "mine").write_text("kept")
    assert _cli(archive, tmp_path, "fixture-zlib", "--output", str(out)) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine"]


def test_release_entries_defaults() -> None:
    entries = release_entries("bookworm")
    assert [(e.uris[0], e.suites[0]) for e in entries] == [
        ("http://deb.debian.org/debian-security", "bookworm-security"),
        ("http://deb.debian.org/debian", "bookworm-updates"),
        ("http://deb.debian.org/debian", "bookworm"),
    ]
    other = release_entries("trixie", mirror="http://mirror.example/debian/")
    assert other[0].uris == ("http://mirror.example/debian-security",)


@pytest.mark.parametrize("command", [["source"], ["repo"], ["source", "fetch", "x="]])
def test_a_missing_action_or_version_is_a_usage_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--release", "trixie", "--output", str(tmp_path / "o")] if len(command) > 2 else []
    assert main([*command, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hardbase: error: ")
