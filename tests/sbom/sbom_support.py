"""Shared SBOM test helpers: official-schema validators and a constructed image inventory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from hardbase.sbom.generate import build_input
from hardbase.sbom.interface import SbomInput
from hardbase.vuln.inventory import deb_purl
from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease

DATA = Path(__file__).parent.parent / "data" / "sbom"
COPYRIGHT = DATA / "copyright"
CDX_BASE = "http://cyclonedx.org/schema/"
DIGEST = "sha256:" + "ab" * 32
TRIXIE = OSRelease(
    id="debian",
    version_id="13",
    version_codename="trixie",
    pretty_name="Debian GNU/Linux 13 (trixie)",
)

Validate = Callable[[dict[str, Any]], list[str]]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def _errors(validator: Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


@pytest.fixture(scope="session")
def spdx_errors() -> Validate:
    """Errors of a document against the official SPDX 2.3 JSON schema (empty when valid)."""
    schema = _load("spdx-schema-2.3.json")
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    return lambda doc: _errors(validator, doc)


@pytest.fixture(scope="session")
def cdx_errors() -> Validate:
    """Errors of a document against the official CycloneDX 1.6 JSON schema."""
    registry: Registry = Registry()
    for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"):
        registry = registry.with_resource(CDX_BASE + name, Resource.from_contents(_load(name)))
    schema = _load("bom-1.6.SNAPSHOT.schema.json")
    validator = Draft7Validator(
        schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER
    )
    return lambda doc: _errors(validator, doc)


def deb(name: str, version: str, source: str = "", source_version: str = "") -> InstalledPackage:
    """A Debian package as the inventory reports it (fixture)."""
    return InstalledPackage(
        type="deb",
        name=name,
        version=version,
        source_name=source or name,
        source_version=source_version or version,
        arch="amd64",
        purl=deb_purl(name, version, "amd64", TRIXIE),
        path=f"var/lib/dpkg/status.d/{name}",
    )


# Fixture packages of a small made-up image.
PACKAGES = (
    deb("libc6", "2.41-12", "glibc"),
    deb("libssl3t64", "3.5.1-1", "openssl"),
    deb("base-files", "13.8"),
    deb("tzdata", "2025b-4"),
    deb("nocopyright", "1.0-1"),
    InstalledPackage(
        type="pypi",
        name="requests",
        version="2.32.3",
        purl="pkg:pypi/requests@2.32.3",
        path="usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA",
        licenses=("Apache-2.0",),
    ),
    InstalledPackage(
        type="pypi",
        name="idna",
        version="3.10",
        purl="pkg:pypi/idna@3.10",
        path="usr/lib/python3/dist-packages/idna-3.10.dist-info/METADATA",
    ),
    InstalledPackage(
        type="npm",
        name="@babel/core",
        version="7.26.0",
        purl="pkg:npm/%40babel/core@7.26.0",
        path="usr/lib/node_modules/@babel/core/package.json",
        licenses=("MIT",),
    ),
    InstalledPackage(
        type="npm",
        name="left-pad",
        version="1.3.0",
        purl="pkg:npm/left-pad@1.3.0",
        path="usr/lib/node_modules/left-pad/package.json",
    ),
)

# Fixture files as the inventory pass would keep them.
FILES: dict[str, bytes] = {
    "usr/share/doc/libc6/copyright": (COPYRIGHT / "dep5-mixed").read_bytes(),
    "usr/share/doc/libssl3t64/copyright": (
        b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        b"Comment: test fixture, not openssl's real copyright file\n\n"
        b"Files: *\nCopyright: 1998-2025 The OpenSSL Project\nLicense: Apache-2.0\n"
    ),
    "usr/share/doc/base-files/copyright": (COPYRIGHT / "free-form-gpl").read_bytes(),
    "usr/share/doc/tzdata/copyright": (
        b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        b"Comment: test fixture\n\nFiles: *\nCopyright: none\nLicense: public-domain\n"
    ),
    "usr/lib/python3/dist-packages/idna-3.10.dist-info/METADATA": (
        b"Metadata-Version: 2.1\nName: idna\nVersion: 3.10\n"
        b"Classifier: License :: OSI Approved :: BSD License\n"
        b"Classifier: Programming Language :: Python :: 3\n\nfixture description\n"
    ),
}


def make_inventory(packages: tuple[InstalledPackage, ...] = PACKAGES) -> Inventory:
    return Inventory(
        reference="oci:/images/python3:latest",
        digest=DIGEST,
        os=TRIXIE,
        packages=packages,
        architecture="amd64",
    )


@pytest.fixture()
def sbom_input() -> SbomInput:
    """The constructed SBOM input of the fixture image."""
    return build_input(make_inventory(), FILES.get)
