"""SBOMs of the real python3 image: the build's files and `hardbase sbom`, against the image.

Both formats validate against the official SPDX 2.3 and CycloneDX 1.6
schemas; their Debian packages are exactly the image's dpkg `status.d`
entries (read from the rootfs `umoci unpack` makes); at least 95% of the
packages carry a real license, not NOASSERTION or an unknown reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from publish_helpers import build_image, cdx_errors, spdx_errors

from peers import unpack
from registry_fixture import run_hardbase

pytestmark = [pytest.mark.archive, pytest.mark.slow, pytest.mark.peers]

NO_LICENSE = {"NOASSERTION", "NONE", "", "LicenseRef-unknown"}


@pytest.fixture(scope="module")
def python3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout, _ = build_image(tmp_path_factory.mktemp("py"), "python3")
    return layout


@pytest.fixture(scope="module")
def status_d(python3: Path, tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str, str]]:
    """(package, version, architecture) of every status.d entry in the unpacked image."""
    rootfs = unpack(python3, "latest", tmp_path_factory.mktemp("bundle") / "b")
    entries = set()
    for path in sorted((rootfs / "var/lib/dpkg/status.d").iterdir()):
        if path.name.endswith((".md5sums", ".list", ".conffiles", ".triggers")):
            continue  # an entry's companions, not entries
        fields = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
        entries.add((fields["Package"], fields["Version"], fields["Architecture"]))
    assert len(entries) > 25
    return entries


def documents(python3: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(SPDX, CycloneDX) by where they came from: beside the build, and `hardbase sbom`."""
    docs = {
        "build": (
            json.loads(python3.with_name("python3.spdx.json").read_text()),
            json.loads(python3.with_name("python3.cdx.json").read_text()),
        )
    }
    cli = []
    for fmt in ("spdx-json", "cyclonedx-json"):
        proc = run_hardbase("sbom", f"oci:{python3}:latest", "--format", fmt)
        assert proc.returncode == 0, proc.stderr
        cli.append(json.loads(proc.stdout))
    docs["cli"] = (cli[0], cli[1])
    return docs


@pytest.fixture(scope="module")
def sboms(python3: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return documents(python3)


def _qualifier(purl: str, key: str) -> str:
    query = purl.partition("?")[2]
    return dict(q.split("=", 1) for q in query.split("&"))[key]


def spdx_debs(doc: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    out = {}
    for package in doc["packages"]:
        for ref in package.get("externalRefs", []):
            purl = ref["referenceLocator"]
            if ref["referenceType"] == "purl" and purl.startswith("pkg:deb/"):
                key = (package["name"], package["versionInfo"], _qualifier(purl, "arch"))
                out[key] = package
    return out


def cdx_debs(doc: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (c["name"], c["version"], _qualifier(c["purl"], "arch")): c
        for c in doc["components"]
        if c.get("purl", "").startswith("pkg:deb/")
    }


@pytest.mark.parametrize("origin", ["build", "cli"])
def test_sboms_validate_against_the_official_schemas(
    sboms: dict[str, tuple[dict[str, Any], dict[str, Any]]],
    origin: str,
) -> None:
    spdx, cdx = sboms[origin]
    assert spdx["spdxVersion"] == "SPDX-2.3"
    assert cdx["specVersion"] == "1.6"
    assert spdx_errors()(spdx) == []
    assert cdx_errors()(cdx) == []


@pytest.mark.parametrize("origin", ["build", "cli"])
def test_package_lists_equal_the_status_d_entries(
    sboms: dict[str, tuple[dict[str, Any], dict[str, Any]]],
    status_d: set[tuple[str, str, str]],
    origin: str,
) -> None:
    spdx, cdx = sboms[origin]
    assert set(spdx_debs(spdx)) == status_d
    assert set(cdx_debs(cdx)) == status_d
    # no package twice, and each one is contained in the image
    assert len([p for p in spdx["packages"] if p["SPDXID"] != "SPDXRef-Image"]) >= len(status_d)
    contained = {
        r["relatedSpdxElement"]
        for r in spdx["relationships"]
        if r["relationshipType"] == "CONTAINS"
    }
    assert {p["SPDXID"] for p in spdx_debs(spdx).values()} <= contained


def _spdx_license(package: dict[str, Any]) -> str:
    return str(package.get("licenseDeclared") or package.get("licenseConcluded") or "")


def _cdx_license(component: dict[str, Any]) -> str:
    parts = []
    for entry in component.get("licenses", []):
        if "expression" in entry:
            parts.append(entry["expression"])
        else:
            lic = entry.get("license", {})
            parts.append(lic.get("id") or lic.get("name") or "")
    return " AND ".join(parts)


@pytest.mark.parametrize("origin", ["build", "cli"])
def test_licenses_for_95_percent_of_the_packages(
    sboms: dict[str, tuple[dict[str, Any], dict[str, Any]]], origin: str
) -> None:
    spdx, cdx = sboms[origin]
    for licenses in (
        {k: _spdx_license(p) for k, p in spdx_debs(spdx).items()},
        {k: _cdx_license(c) for k, c in cdx_debs(cdx).items()},
    ):
        missing = sorted(k[0] for k, v in licenses.items() if v.strip() in NO_LICENSE)
        assert len(missing) <= 0.05 * len(licenses), missing
    # spot checks against the packages' copyright files
    debs = {k[0]: _spdx_license(p) for k, p in spdx_debs(spdx).items()}
    assert "Apache-2.0" in debs["libssl3t64"]
    assert "Zlib" in debs["zlib1g"]
    assert "MIT" in debs["libexpat1"]
