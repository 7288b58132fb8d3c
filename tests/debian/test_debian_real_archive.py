"""Against the real Debian mirror: verified indexes and python3 resolutions (marked archive)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.debian.archive import Archive
from hardbase.debian.deb import open_data_tar, read_control
from hardbase.debian.index import PackageIndex
from hardbase.debian.model import DEFAULT_KEYRING, SourceEntry
from hardbase.debian.resolver import resolve
from hardbase.util.http import download

pytestmark = pytest.mark.archive

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
NEVER = {"perl-base", "dpkg", "apt", "bash", "dash", "debconf", "openssl", "mawk", "coreutils"}


def _entries(release: str) -> list[SourceEntry]:
    return [
        SourceEntry(uris=(MIRROR,), suites=(release, f"{release}-updates")),
        SourceEntry(uris=(SECURITY,), suites=(f"{release}-security",)),
    ]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-archive-cache")


def _load(release: str, cache: Path) -> PackageIndex:
    index, releases = Archive(_entries(release), cache_dir=cache).load(["amd64"])
    assert [r.suite for r in releases] == [release, f"{release}-updates", f"{release}-security"]
    assert all(r.codename == r.suite for r in releases)
    assert len(index) > 50_000
    return index


@pytest.mark.parametrize(
    ("release", "python", "libssl"),
    [
        ("trixie", "libpython3.13-stdlib", "libssl3t64"),
        ("bookworm", "libpython3.11-stdlib", "libssl3"),
    ],
)
def test_resolves_python3_without_maintainer_script_tools(
    release: str, python: str, libssl: str, cache: Path
) -> None:
    index = _load(release, cache)
    result = resolve(index, ["python3", "ca-certificates", "tzdata"], "amd64")
    chosen = {p.name for p in result.packages}
    assert {python, libssl, "libc6", "python3", "ca-certificates", "tzdata"} <= chosen
    assert not chosen & NEVER, chosen & NEVER
    assert not any(p.essential for p in result.packages if p.name != "base-files")
    assert {(d.package, d.dependency) for d in result.dropped} >= {
        ("tzdata", "debconf"), ("ca-certificates", "openssl"), ("python3-minimal", "dpkg"),
    }  # fmt: skip
    assert result.why[python][0] == "python3"
    # Each package is the highest version any of the suites offers.
    for package in result.packages:
        assert index.candidates(package.name, "amd64")[0].version == package.version


def test_a_real_deb_in_the_fixture_archive(fixture_archive: FixtureArchive, cache: Path) -> None:
    index = _load("trixie", cache)
    package = index.candidates("base-files", "amd64")[0]
    deb = cache / "base-files.deb"
    download(package.url, deb, max_size=package.size, sha256=package.sha256, size=package.size)
    control, md5sums = read_control(deb)
    assert f"Version: {package.version}\n" in control and md5sums
    with open_data_tar(deb) as tar:
        names = {m.name.removeprefix("./") for m in tar}
    assert "etc/debian_version" in names
    fixture_archive.add_deb(deb, suite="trixie")
    fixture_archive.publish("trixie")
    local, _ = Archive([fixture_archive.entry("trixie")], cache_dir=cache / "local").load(["amd64"])
    (copied,) = local.candidates("base-files", "amd64")
    assert (copied.version, copied.sha256) == (package.version, package.sha256)


def test_strict_closure_has_what_the_drops_leave_out(cache: Path) -> None:
    result = resolve(_load("trixie", cache), ["python3", "ca-certificates", "tzdata"], "amd64",
                     drops=())  # fmt: skip
    assert {"debconf", "openssl", "dpkg"} <= {p.name for p in result.packages}
    assert DEFAULT_KEYRING.is_file()
