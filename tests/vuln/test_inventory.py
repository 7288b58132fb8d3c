"""inventory(): OS release, dpkg status and status.d, Python and npm packages, per layer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.images.fixture_images import (
    directory,
    file,
    gz,
    opaque,
    sha256,
    symlink,
    tar_bytes,
    whiteout,
    write_docker_archive,
    write_oci,
    write_oci_archive,
    zst,
)
from hardbase.vuln.inventory import (
    InventoryResult,
    deb_purl,
    inventory,
    parse_control,
    parse_os_release,
    wants,
)
from hardbase.vuln.model import InstalledPackage, OSRelease
from registry_fixture import RegistryServer, running_registry

# Fixture: a dpkg status file with one package in every interesting state.
STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u7
Description: fixture
 continuation line

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.13-1~deb12u1)
Version: 3.0.13-1~deb12u1+b1

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: held
Status: hold ok installed
Architecture: all
Version: 1.0

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: purged
Status: purge ok not-installed
Architecture: amd64
Version: 1.0

Package: broken
Status: install reinstreq half-installed
Architecture: amd64
Version: 1.0
"""

# Fixture: distroless-style status.d entries (no Status field).
STATUS_D_TZDATA = """\
Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all
"""
STATUS_D_NETBASE = """\
Package: netbase
Source: netbase
Version: 6.4
Architecture: all
"""

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' + (
    "VERSION_CODENAME=bookworm\n"
)

SITE = "usr/local/lib/python3.11/site-packages"
DIST = "usr/lib/python3/dist-packages"

BASE = tar_bytes(
    [
        directory("etc"),
        symlink("etc/os-release", "../usr/lib/os-release"),
        file("usr/lib/os-release", OS_RELEASE),
        file("var/lib/dpkg/status", STATUS),
        file("var/lib/dpkg/status.d/tzdata", STATUS_D_TZDATA),
        file("var/lib/dpkg/status.d/tzdata.md5sums", "0123 usr/share/zoneinfo/UTC\n"),
        file("var/lib/dpkg/status.d/netbase", STATUS_D_NETBASE),
        file("usr/share/doc/libc6/copyright", "fixture copyright\n"),
        file(f"{SITE}/Requests-2.31.0.dist-info/METADATA", "Name: Requests\nVersion: 2.31.0\n"),
        file(f"{SITE}/gone-1.0.dist-info/METADATA", "Name: gone\nVersion: 1.0\n"),
        file(
            f"{DIST}/Foo_Bar.egg-info/PKG-INFO",
            "Metadata-Version: 1.1\nName: Foo_Bar\nVersion: 0.5\n\nName: not-a-header\n",
        ),
        file(f"{DIST}/six-1.16.0.egg-info", "Name: six\nVersion: 1.16.0\n"),
        file("app/node_modules/left-pad/package.json", '{"name": "left-pad", "version": "1.3.0"}'),
        file(
            "app/node_modules/@babel/core/package.json",
            '{"name": "@babel/core", "version": "7.24.0", "license": "MIT"}',
        ),
        file(  # not a package directory: a file inside a package
            "app/node_modules/left-pad/lib/package.json", '{"name": "inner", "version": "9.9.9"}'
        ),
        file("app/node_modules/nover/package.json", '{"name": "nover"}'),
        file("app/node_modules/old/package.json", '{"name": "old", "version": "0.1.0"}'),
        file("app/package.json", '{"name": "the-app", "version": "1.0.0"}'),
    ]
)
TOP = tar_bytes(
    [
        whiteout("var/lib/dpkg/status.d/netbase"),
        file(
            "var/lib/dpkg/status.d/ca-certificates",
            "Package: ca-certificates\nVersion: 20230311\nArchitecture: all\n",
        ),
        whiteout(f"{SITE}/gone-1.0.dist-info"),
        opaque("app/node_modules"),
        file("app/node_modules/left-pad/package.json", '{"name": "left-pad", "version": "1.3.1"}'),
    ]
)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A real docker-registry on 127.0.0.1 (skips when it is not installed)."""
    with running_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_oci(tmp_path / "layout", [gz(BASE), zst(TOP)])


def by_name(result: InventoryResult) -> dict[str, InstalledPackage]:
    return {p.name: p for p in result.inventory.packages}


def test_debian_packages(image: Path) -> None:
    result = inventory(f"oci:{image}")
    inv = result.inventory
    assert inv.os == OSRelease("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")
    assert inv.architecture == "amd64"
    assert inv.reference == f"oci:{image}"
    assert inv.digest.startswith("sha256:")
    debs = {p.name: p for p in inv.packages if p.type == "deb"}
    assert sorted(debs) == ["base-files", "ca-certificates", "held", "libc6", "libssl3", "tzdata"]
    libc = debs["libc6"]
    assert (libc.source_name, libc.source_version) == ("glibc", "2.36-9+deb12u7")
    ssl = debs["libssl3"]
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.0.13-1~deb12u1")
    base = debs["base-files"]
    assert (base.source_name, base.source_version) == ("base-files", "12.4+deb12u5")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12"
    assert libc.path == "var/lib/dpkg/status"
    assert libc.layer == sha256(gz(BASE))
    assert debs["tzdata"].path == "var/lib/dpkg/status.d/tzdata"
    assert debs["ca-certificates"].layer == sha256(zst(TOP))


def test_python_packages(image: Path) -> None:
    pkgs = by_name(inventory(f"oci:{image}"))
    requests = pkgs["requests"]
    assert (requests.type, requests.version) == ("pypi", "2.31.0")
    assert requests.purl == "pkg:pypi/requests@2.31.0"
    assert requests.path == f"{SITE}/Requests-2.31.0.dist-info/METADATA"
    assert pkgs["foo-bar"].purl == "pkg:pypi/foo-bar@0.5"
    assert pkgs["foo-bar"].path == f"{DIST}/Foo_Bar.egg-info/PKG-INFO"
    assert pkgs["six"].path == f"{DIST}/six-1.16.0.egg-info"
    assert "gone" not in pkgs  # whited out in the upper layer


def test_npm_packages(image: Path) -> None:
    npm = {p.name: p for p in inventory(f"oci:{image}").inventory.packages if p.type == "npm"}
    # opaque node_modules in the upper layer: only what it re-adds survives
    assert sorted(npm) == ["left-pad"]
    assert npm["left-pad"].version == "1.3.1"
    assert npm["left-pad"].layer == sha256(zst(TOP))
    assert npm["left-pad"].purl == "pkg:npm/left-pad@1.3.1"


def test_npm_scoped_and_unscoped_single_layer(tmp_path: Path) -> None:
    layout = write_oci(tmp_path / "layout", [gz(BASE)])
    npm = {p.name: p for p in inventory(f"oci:{layout}").inventory.packages if p.type == "npm"}
    assert sorted(npm) == ["@babel/core", "left-pad", "old"]  # no inner, nover or the app
    assert npm["@babel/core"].purl == "pkg:npm/%40babel/core@7.24.0"
    assert npm["@babel/core"].licenses == ("MIT",)
    assert npm["@babel/core"].path == "app/node_modules/@babel/core/package.json"
    names = {p.name for p in inventory(f"oci:{layout}").inventory.packages}
    assert {"netbase", "gone"} <= names  # present without the upper layer


def test_order_is_stable_and_result_unpacks(image: Path) -> None:
    inv, tree = inventory(f"oci:{image}")
    keys = [(p.type, p.name, p.version) for p in inv.packages]
    assert keys == sorted(keys)
    assert tree.read("var/lib/dpkg/status") is not None


def test_want_paths_collects_more_files_in_the_same_pass(image: Path) -> None:
    result = inventory(f"oci:{image}", want_paths=lambda p: p.endswith("/copyright"))
    assert result.tree.read("usr/share/doc/libc6/copyright") == b"fixture copyright\n"
    assert inventory(f"oci:{image}").tree.read("usr/share/doc/libc6/copyright") is None


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive"])
def test_archives_give_the_same_inventory(image: Path, tmp_path: Path, transport: str) -> None:
    if transport == "oci-archive":
        ref = f"oci-archive:{write_oci_archive(image, tmp_path / 'image.tar')}"
    else:
        ref = f"docker-archive:{write_docker_archive(tmp_path / 'd.tar', [gz(BASE), zst(TOP)])}"
    want = inventory(f"oci:{image}").inventory.packages
    assert inventory(ref).inventory.packages == want


def test_dir_transport(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "var/lib/dpkg/status.d").mkdir(parents=True)
    (root / "var/lib/dpkg/status.d/tzdata").write_text(STATUS_D_TZDATA)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID=ubuntu\nVERSION_ID="22.04"\n')
    os.symlink("/etc/passwd", root / "etc/passwd-link")  # listed, never followed
    inv = inventory(f"dir:{root}").inventory
    (tzdata,) = inv.packages
    assert tzdata.layer == ""
    assert tzdata.purl == "pkg:deb/ubuntu/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=ubuntu-22.04"
    assert inv.digest == ""


def test_wants() -> None:
    assert wants("var/lib/dpkg/status.d/libc6")
    # file lists: which Python distributions are Debian's
    assert wants("var/lib/dpkg/status.d/libc6.md5sums")
    assert wants("var/lib/dpkg/info/libc6:amd64.list")
    assert not wants("var/lib/dpkg/info/libc6:amd64.md5sums")
    assert wants("usr/lib/python3/dist-packages/x-1.dist-info/METADATA")
    assert wants("usr/lib/python3/dist-packages/py/_vendored_packages/a-1.dist-info/METADATA")
    assert not wants("opt/x-1.dist-info/METADATA")
    assert wants("srv/node_modules/a/node_modules/@s/b/package.json")
    assert not wants("srv/node_modules/@s/package.json")
    assert not wants("srv/node_modules/.bin/package.json")


def test_parsers() -> None:
    assert parse_os_release('NAME="Debian \\"x\\""\n# comment\nID=debian\n') == {
        "NAME": 'Debian "x"',
        "ID": "debian",
    }
    (para,) = parse_control("Package: a\nDescription: one\n two\n")
    assert para["Description"] == "one\ntwo"
    bookworm = OSRelease("debian", "12.5", "bookworm")
    assert deb_purl("a", "1:2.0", "arm64", bookworm) == (
        "pkg:deb/debian/a@1:2.0?arch=arm64&distro=debian-12"
    )
    sid = OSRelease("debian", "", "trixie")
    assert deb_purl("a", "1", "all", sid).endswith("distro=debian-trixie")
    assert json.dumps(deb_purl("a", "1", "", OSRelease())) == '"pkg:deb/debian/a@1"'


def test_registry_reference(image: Path, tmp_path: Path, registry: RegistryServer) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (make setup installs it)")
    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    ref = f"docker://{registry.host}/fixture/inventory:1"
    subprocess.run(
        [
            "skopeo",
            "--policy",
            str(policy),
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            f"oci:{image}:latest",
            ref,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        timeout=120,
    )
    remote = inventory(ref, insecure=True).inventory
    local = inventory(f"oci:{image}").inventory
    assert remote.packages == local.packages
    assert remote.reference == ref
