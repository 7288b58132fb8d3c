"""SPDX 2.3 and CycloneDX 1.6 documents from a constructed SbomInput."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from sbom_support import DIGEST, FILES, PACKAGES, Validate, make_inventory

from hardbase.errors import UsageError
from hardbase.oci.reference import parse_reference
from hardbase.sbom.generate import build_input, get_format, image_name, render
from hardbase.sbom.interface import SbomInput, creation_time

FIXED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def spdx(sbom: SbomInput, created: datetime = FIXED) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render(sbom, "spdx-json", created=created))
    return doc


def cdx(sbom: SbomInput, created: datetime = FIXED) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render(sbom, "cyclonedx-json", created=created))
    return doc


def spdx_packages(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["packages"] if p["SPDXID"] != "SPDXRef-Image"}


def purl_of(package: dict[str, Any]) -> str:
    refs = [r for r in package["externalRefs"] if r["referenceType"] == "purl"]
    assert len(refs) == 1 and refs[0]["referenceCategory"] == "PACKAGE-MANAGER"
    locator: str = refs[0]["referenceLocator"]
    return locator


def test_spdx_validates_against_the_official_schema(
    sbom_input: SbomInput, spdx_errors: Validate
) -> None:
    assert spdx_errors(spdx(sbom_input)) == []


def test_cyclonedx_validates_against_the_official_schema(
    sbom_input: SbomInput, cdx_errors: Validate
) -> None:
    doc = cdx(sbom_input)
    assert cdx_errors(doc) == []
    # and against the library's own strict schema
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is None


def test_schema_validators_do_reject(spdx_errors: Validate, cdx_errors: Validate) -> None:
    # guards against a validator that accepts anything
    assert spdx_errors({"spdxVersion": "SPDX-2.3", "packages": [{"name": 1}]})
    assert cdx_errors({"bomFormat": "CycloneDX", "specVersion": "1.6", "bogus": True})


def test_package_lists_equal_the_input(sbom_input: SbomInput) -> None:
    expected = sorted((p.type, p.name, p.version) for p in PACKAGES)
    doc = spdx(sbom_input)
    kinds = {p.name: p.type for p in PACKAGES}
    got = sorted((kinds[n], n, p["versionInfo"]) for n, p in spdx_packages(doc).items())
    assert got == expected
    components = [c for c in cdx(sbom_input)["components"] if c["type"] != "operating-system"]
    assert sorted((kinds[c["name"]], c["name"], c["version"]) for c in components) == expected


def test_spdx_document_shape(sbom_input: SbomInput) -> None:
    doc = spdx(sbom_input)
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["creationInfo"]["created"] == "2025-01-02T03:04:05Z"
    assert doc["creationInfo"]["creators"] == ["Tool: hardbase-0.1.0"]
    assert DIGEST.partition(":")[2] in doc["documentNamespace"]
    image = next(p for p in doc["packages"] if p["SPDXID"] == "SPDXRef-Image")
    assert purl_of(image) == f"pkg:oci/python3@sha256%3A{'ab' * 32}?arch=amd64&tag=latest"
    assert image["primaryPackagePurpose"] == "CONTAINER"
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    rels = doc["relationships"]
    assert rels[0] == {
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    }
    contained = {r["relatedSpdxElement"] for r in rels if r["relationshipType"] == "CONTAINS"}
    assert all(r["spdxElementId"] == "SPDXRef-Image" for r in rels[1:])
    assert contained == set(ids) - {"SPDXRef-Image"}


def test_purls(sbom_input: SbomInput) -> None:
    packages = spdx_packages(spdx(sbom_input))
    assert purl_of(packages["libc6"]) == "pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13"
    assert purl_of(packages["requests"]) == "pkg:pypi/requests@2.32.3"
    assert purl_of(packages["@babel/core"]) == "pkg:npm/%40babel/core@7.26.0"
    components = {c["name"]: c for c in cdx(sbom_input)["components"]}
    assert components["@babel/core"]["purl"] == "pkg:npm/%40babel/core@7.26.0"
    assert components["libc6"]["purl"].startswith("pkg:deb/debian/libc6@2.41-12?")
    assert "distro=debian-13" in components["libc6"]["purl"]


def test_debian_details(sbom_input: SbomInput) -> None:
    packages = spdx_packages(spdx(sbom_input))
    libc = packages["libc6"]
    assert libc["sourceInfo"] == "built package from: glibc 2.41-12"
    assert libc["supplier"] == "Organization: Debian"
    assert libc["downloadLocation"] == "NOASSERTION"
    assert packages["requests"]["supplier"] == "NOASSERTION"
    components = {c["name"]: c for c in cdx(sbom_input)["components"]}
    props = {p["name"]: p["value"] for p in components["libc6"]["properties"]}
    assert props["hardbase:deb:source"] == "glibc"
    assert props["hardbase:deb:source-version"] == "2.41-12"
    assert components["libc6"]["type"] == "library"


def test_licenses_are_mapped(sbom_input: SbomInput) -> None:
    doc = spdx(sbom_input)
    packages = spdx_packages(doc)
    assert packages["libssl3t64"]["licenseDeclared"] == "Apache-2.0"
    assert packages["base-files"]["licenseDeclared"] == "GPL-2.0-or-later AND MIT"
    assert packages["tzdata"]["licenseDeclared"] == "LicenseRef-public-domain"
    assert packages["nocopyright"]["licenseDeclared"] == "NOASSERTION"
    assert packages["requests"]["licenseDeclared"] == "Apache-2.0"
    assert packages["idna"]["licenseDeclared"] == "LicenseRef-BSD"  # from its classifiers
    assert packages["left-pad"]["licenseDeclared"] == "NOASSERTION"
    libc = packages["libc6"]["licenseDeclared"]
    for piece in (
        "GPL-2.0-or-later",
        "LGPL-2.1-or-later",
        "BSD-3-Clause",
        "Python-2.0",
        "GPL-3.0-or-later WITH Autoconf-exception-3.0",
    ):
        assert piece in libc
    # every LicenseRef used is defined, with the copyright file's text when it had one
    used = set(re.findall(r"LicenseRef-[A-Za-z0-9.-]+", json.dumps(doc["packages"])))
    extracted = {e["licenseId"]: e for e in doc["hasExtractedLicensingInfos"]}
    assert set(extracted) == used
    assert "frobnicate" in extracted["LicenseRef-Frobnicate-Custom"]["extractedText"]
    assert "idna" in extracted["LicenseRef-BSD"]["extractedText"]

    components = {c["name"]: c for c in cdx(sbom_input)["components"]}
    assert components["libssl3t64"]["licenses"] == [
        {"license": {"id": "Apache-2.0", "acknowledgement": "declared"}}
    ]
    assert components["libc6"]["licenses"][0]["expression"] == libc
    assert "licenses" not in components["nocopyright"]


def test_cyclonedx_document_shape(sbom_input: SbomInput) -> None:
    doc = cdx(sbom_input)
    assert doc["specVersion"] == "1.6"
    assert doc["serialNumber"].startswith("urn:uuid:")
    meta = doc["metadata"]
    assert meta["component"]["type"] == "container"
    assert (
        meta["component"]["purl"] == f"pkg:oci/python3@sha256%3A{'ab' * 32}?arch=amd64&tag=latest"
    )
    assert meta["component"]["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    assert meta["tools"]["components"][0]["name"] == "hardbase"
    assert meta["timestamp"].startswith("2025-01-02T03:04:05")
    refs = [c["bom-ref"] for c in doc["components"]]
    assert len(refs) == len(set(refs))
    # the image depends on its OS and its language packages; the OS on the debs
    (system,) = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert (system["name"], system["version"], system["bom-ref"]) == (
        "debian",
        "13",
        "operating-system",
    )
    deps = {d["ref"]: sorted(d.get("dependsOn", [])) for d in doc["dependencies"]}
    debs = sorted(
        c["bom-ref"] for c in doc["components"] if c.get("purl", "").startswith("pkg:deb/")
    )
    others = sorted(c["bom-ref"] for c in doc["components"]
                    if c["type"] == "library" and c["bom-ref"] not in debs)  # fmt: skip
    assert debs and others
    assert deps[meta["component"]["bom-ref"]] == sorted(["operating-system", *others])
    assert deps["operating-system"] == debs
    # source names where Trivy and Syft read them
    libc = next(c for c in doc["components"] if c["name"] == "libc6")
    props = {p["name"]: p["value"] for p in libc["properties"]}
    assert props["aquasecurity:trivy:SrcName"] == props["syft:metadata:source"] == "glibc"
    assert props["aquasecurity:trivy:SrcVersion"] == "2.41-12"


@pytest.mark.parametrize("fmt", ["spdx-json", "cyclonedx-json"])
def test_output_is_deterministic(fmt: str) -> None:
    first = render(build_input(make_inventory(), FILES.get), fmt, created=FIXED)
    # same packages in another order, built anew
    again = build_input(make_inventory(tuple(reversed(PACKAGES))), FILES.get)
    assert render(again, fmt, created=FIXED) == first
    assert first.endswith(b"\n")


def test_created_defaults_to_source_date_epoch(
    sbom_input: SbomInput, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = render(sbom_input, "spdx-json")
    assert json.loads(first)["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert render(sbom_input, "spdx-json") == first
    assert render(sbom_input, "cyclonedx-json") == render(sbom_input, "cyclonedx-json")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        creation_time()


def test_unknown_format() -> None:
    with pytest.raises(UsageError, match="spdx-json"):
        get_format("spdx-tag-value")


def test_dir_image_without_digest(spdx_errors: Validate, cdx_errors: Validate) -> None:
    inventory = make_inventory()
    rootfs = type(inventory)("dir:/srv/rootfs", "", inventory.os, PACKAGES[:2], "amd64")
    sbom = build_input(rootfs, FILES.get)
    assert sbom.name == "rootfs"
    assert sbom.purl == "pkg:oci/rootfs?arch=amd64"
    assert spdx_errors(spdx(sbom)) == []
    assert cdx_errors(cdx(sbom)) == []
    assert (
        spdx(sbom)["documentNamespace"] == spdx(build_input(rootfs, FILES.get))["documentNamespace"]
    )


def test_empty_image(spdx_errors: Validate, cdx_errors: Validate) -> None:
    sbom = build_input(make_inventory(()), FILES.get)
    assert spdx_errors(spdx(sbom)) == []
    assert cdx_errors(cdx(sbom)) == []
    assert "hasExtractedLicensingInfos" not in spdx(sbom)


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("oci:out/python3:latest", "python3"),
        ("oci-archive:/tmp/Py Image.tar:v1", "py-image"),
        ("docker://127.0.0.1:5000/library/debian:13", "debian"),
        ("docker-archive:img.tar.gz", "img"),
    ],
)
def test_image_name(ref: str, name: str) -> None:
    assert image_name(parse_reference(ref), ref) == name


def test_registry_reference_qualifiers() -> None:
    inventory = make_inventory()
    remote = type(inventory)(
        "docker://127.0.0.1:5000/library/debian:13", DIGEST, inventory.os, (), "arm64"
    )
    sbom = build_input(remote, FILES.get)
    assert sbom.purl == (
        f"pkg:oci/debian@sha256%3A{'ab' * 32}"
        "?arch=arm64&repository_url=127.0.0.1:5000/library/debian&tag=13"
    )
