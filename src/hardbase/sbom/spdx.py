"""SPDX 2.3 JSON documents.

Built by hand rather than with spdx-tools: the document is small and regular,
and the tests validate it against the official SPDX 2.3 JSON schema. Every
value derives from the SbomInput and the creation time, so the output is
reproducible byte for byte. A package that hardbase rebuilt with patches comes
with Debian's original as a package of its own (`ANCESTOR_OF` the rebuild) and
one package per patch (`PATCH_FOR` the original, `PATCH_APPLIED` to the rebuild).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from hardbase.sbom.interface import (
    TOOL_NAME,
    TOOL_VERSION,
    SbomFormat,
    SbomInput,
    SbomPackage,
    creation_time,
)
from hardbase.sbom.licenses import NOASSERTION
from hardbase.util import clock

logger = logging.getLogger(__name__)

SPDX_VERSION = "SPDX-2.3"
# The SPDX spec suggests this prefix for documents that are not published at a URL.
NAMESPACE_BASE = "https://spdx.org/spdxdocs"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
IMAGE_ID = "SPDXRef-Image"
_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")


def _spdx_id(item: SbomPackage) -> str:
    pkg = item.package
    name = _ID_CHARS.sub("-", pkg.name).strip("-") or "package"
    return f"SPDXRef-Package-{pkg.type}-{name}-{item.key}"


def _supplier(item: SbomPackage, sbom: SbomInput) -> str:
    if item.package.type == "deb" and sbom.os.id == "debian":
        return "Organization: Debian"
    return NOASSERTION


def _package(item: SbomPackage, sbom: SbomInput) -> dict[str, Any]:
    pkg = item.package
    expression = item.expression or NOASSERTION
    out: dict[str, Any] = {
        "SPDXID": _spdx_id(item),
        "name": pkg.name,
        "versionInfo": pkg.version,
        "supplier": _supplier(item, sbom),
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": expression,
        "licenseDeclared": expression,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "LIBRARY",
    }
    location = item.location
    if location is not None:
        how = " (percent-encoded: the file name is not UTF-8)" if location.percent_encoded else ""
        out["comment"] = f"Found at {location.text}{how}."
    if pkg.type == "deb":
        source = pkg.source_name or pkg.name
        version = pkg.source_version or pkg.version
        out["sourceInfo"] = f"built package from: {source} {version}"
    if item.license_source == "copyright":
        out["licenseComments"] = (
            f"Declared in usr/share/doc/{pkg.name}/copyright; Debian short names mapped to SPDX."
        )
    if pkg.purl:
        out["externalRefs"] = [_purl_ref(pkg.purl)]
    checksums = [
        {"algorithm": algorithm, "checksumValue": pkg.extra[key].lower()}
        for key, algorithm in (("sha256", "SHA256"), ("sha1", "SHA1"), ("md5", "MD5"))
        if re.fullmatch(r"[0-9a-fA-F]+", pkg.extra.get(key, ""))
    ]
    if checksums:
        out["checksums"] = checksums
    return out


def _pedigree(
    item: SbomPackage, sbom: SbomInput
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """A rebuild's Debian ancestor and patches as packages, and how they relate to it.

    `ancestor ANCESTOR_OF rebuild`, and for each patch `patch PATCH_FOR ancestor`
    and `patch PATCH_APPLIED rebuild`; a patch package holds the diff (description),
    its sha256 and the CVEs it resolves (SECURITY advisory references).
    """
    found = item.pedigree
    if found is None:
        return [], []
    from hardbase.vuln.inventory import deb_purl  # the inventory pulls in the transports

    pkg = item.package
    rebuild = _spdx_id(item)
    ancestor_id = f"{rebuild}-debian"
    version = item.ancestor_version(found)
    ancestor = {
        **_unasserted(ancestor_id, pkg.name, "LIBRARY"),
        "versionInfo": version,
        "supplier": "Organization: Debian",
        "sourceInfo": f"built package from: {found.source} {found.version}",
        "comment": f"Debian's package; the image holds hardbase's rebuild {pkg.version} "
        "of it with security patches.",
        "externalRefs": [_purl_ref(deb_purl(pkg.name, version, pkg.arch, sbom.os))],
    }
    packages, relationships = [ancestor], [_relation(ancestor_id, "ANCESTOR_OF", rebuild)]
    for n, patch in enumerate(found.patches, 1):
        patch_id = f"{rebuild}-patch-{n}"
        entry: dict[str, Any] = {
            **_unasserted(patch_id, f"debian/patches/{patch.name}", "SOURCE"),
            "checksums": [{"algorithm": "SHA256", "checksumValue": patch.sha256}],
            "comment": f"A {patch.kind} patch, applied by hardbase to {found.source} "
            f"{found.version}; resolves {', '.join(patch.resolves) or 'no named CVE'}.",
            "externalRefs": [
                {
                    "referenceCategory": "SECURITY",
                    "referenceType": "advisory",
                    "referenceLocator": f"https://security-tracker.debian.org/tracker/{cve}",
                }
                for cve in patch.resolves
            ],
        }
        if patch.diff:
            entry["description"] = patch.diff
        if not entry["externalRefs"]:
            del entry["externalRefs"]
        packages.append(entry)
        relationships += [
            _relation(patch_id, "PATCH_FOR", ancestor_id),
            _relation(patch_id, "PATCH_APPLIED", rebuild),
        ]
    return packages, relationships


def _unasserted(spdx_id: str, name: str, purpose: str) -> dict[str, Any]:
    """A package entry whose supplier, location, licenses and copyright are not asserted."""
    return {
        "SPDXID": spdx_id,
        "name": name,
        "supplier": NOASSERTION,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": purpose,
    }


def _purl_ref(purl: str) -> dict[str, str]:
    return {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
            "referenceLocator": purl}  # fmt: skip


def _relation(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


def _image_package(sbom: SbomInput) -> dict[str, Any]:
    out: dict[str, Any] = {
        **_unasserted(IMAGE_ID, sbom.name, "CONTAINER"),
        "versionInfo": sbom.digest or sbom.identity,
        "externalRefs": [_purl_ref(sbom.purl)],
    }
    if sbom.image_digest:
        out["checksums"] = [{"algorithm": "SHA256", "checksumValue": sbom.image_digest.hex}]
    if sbom.os.pretty_name:
        out["comment"] = f"Operating system: {sbom.os.pretty_name}"
    return out


def namespace(sbom: SbomInput) -> str:
    """A document namespace that depends only on the image (and the tool's version)."""
    name = _ID_CHARS.sub("-", sbom.name).strip("-") or "image"
    return f"{NAMESPACE_BASE}/{name}-{sbom.identity.hex}-{TOOL_NAME}-{TOOL_VERSION}"


def document(sbom: SbomInput, *, created: datetime | None = None) -> dict[str, Any]:
    """The SPDX 2.3 document as a JSON-ready dict."""
    items = sbom.sorted_packages()
    packages = [_image_package(sbom)] + [_package(item, sbom) for item in items]
    relationships = [
        {
            "spdxElementId": DOCUMENT_ID,
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": IMAGE_ID,
        }
    ] + [
        {
            "spdxElementId": IMAGE_ID,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": _spdx_id(item),
        }
        for item in items
    ]
    for item in items:
        more, related = _pedigree(item, sbom)
        packages += more
        relationships += related
    doc: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": DOCUMENT_ID,
        "name": f"{sbom.name}@{sbom.digest}" if sbom.digest else sbom.name,
        "documentNamespace": namespace(sbom),
        "creationInfo": {
            "created": clock.rfc3339(creation_time(created)),
            "creators": [f"Tool: {TOOL_NAME}-{TOOL_VERSION}"],
        },
        "packages": packages,
        "relationships": relationships,
    }
    extracted = [
        {
            "licenseId": license_id,
            "name": license_id[len("LicenseRef-") :],
            "extractedText": sbom.license_text(license_id),
        }
        for license_id in sbom.license_ids()
    ]
    if extracted:
        doc["hasExtractedLicensingInfos"] = extracted
    return doc


class SpdxJson(SbomFormat):
    """SPDX 2.3, JSON serialisation."""

    name = "spdx-json"
    filename = "sbom.spdx.json"
    media_type = "application/spdx+json"

    def render(self, sbom: SbomInput, *, created: datetime | None = None) -> bytes:
        doc = document(sbom, created=created)
        logger.debug("SPDX document for %s: %d packages", sbom.reference, len(doc["packages"]))
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
