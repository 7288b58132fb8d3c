"""The test oracle: hardbase's CycloneDX writer as it was, built with cyclonedx-python-lib.

hardbase.sbom.cyclonedx now writes the same document from plain data; the tests
render each input with both and compare the bytes. Kept as it was (only this note
is new, and the helpers the new writer kept as they were come from it), so a
difference is the new writer's.
The document's shape is described in hardbase.sbom.cyclonedx.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime

from cyclonedx.model import AttachedText, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import (
    Component,
    ComponentType,
    Diff,
    Patch,
    PatchClassification,
    Pedigree,
)
from cyclonedx.model.issue import IssueClassification, IssueType, IssueTypeSource
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import is_supported_id
from packageurl import PackageURL

from hardbase.sbom.cyclonedx import (  # unchanged by the plain-data writer
    IMAGE_REF,
    OS_REF,
    PROPERTY_PREFIX,
    TRACKER,
    bom_ref,
    serial_number,
)
from hardbase.sbom.interface import (
    TOOL_NAME,
    TOOL_VERSION,
    SbomError,
    SbomFormat,
    SbomInput,
    SbomPackage,
    creation_time,
)
from hardbase.vuln.model import OSRelease

logger = logging.getLogger(__name__)

_HASHES = (
    ("sha256", HashAlgorithm.SHA_256),
    ("sha1", HashAlgorithm.SHA_1),
    ("md5", HashAlgorithm.MD5),
    ("sha512", HashAlgorithm.SHA_512),
)


def _licenses(item: SbomPackage) -> list[LicenseExpression | DisjunctiveLicense]:
    expression = item.expression
    if expression is None:
        return []
    acknowledgement = LicenseAcknowledgement.DECLARED
    if is_supported_id(expression):
        return [DisjunctiveLicense(id=expression, acknowledgement=acknowledgement)]
    return [LicenseExpression(expression, acknowledgement=acknowledgement)]


def _purl(text: str) -> PackageURL | None:
    if not text:
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        logger.warning("ignoring malformed purl %r", text)
        return None


def _component(item: SbomPackage, os_release: OSRelease) -> Component:
    pkg = item.package
    properties = [Property(name=f"{PROPERTY_PREFIX}:package:type", value=pkg.type)]
    if pkg.type == "deb":
        properties += [
            Property(name=f"{PROPERTY_PREFIX}:deb:source", value=pkg.source_name or pkg.name),
            Property(
                name=f"{PROPERTY_PREFIX}:deb:source-version",
                value=pkg.source_version or pkg.version,
            ),
        ]
        if pkg.arch:
            properties.append(Property(name=f"{PROPERTY_PREFIX}:deb:arch", value=pkg.arch))
        source, source_version = pkg.source_name or pkg.name, pkg.source_version or pkg.version
        properties += [
            Property(name="aquasecurity:trivy:PkgType", value="debian"),
            Property(name="aquasecurity:trivy:SrcName", value=source),
            Property(name="aquasecurity:trivy:SrcVersion", value=source_version),
            Property(name="syft:metadata:source", value=source),
            Property(name="syft:metadata:sourceVersion", value=source_version),
        ]
    location = item.location
    if location is not None:
        kind = "path-percent-encoded" if location.percent_encoded else "path"
        properties.append(Property(name=f"{PROPERTY_PREFIX}:location:{kind}", value=location.text))
    if pkg.layer:
        properties.append(Property(name=f"{PROPERTY_PREFIX}:location:layer", value=pkg.layer))
    hashes = [
        HashType(alg=algorithm, content=pkg.extra[key].lower())
        for key, algorithm in _HASHES
        if re.fullmatch(r"[0-9a-fA-F]+", pkg.extra.get(key, ""))
    ]
    return Component(
        type=ComponentType.LIBRARY,
        name=pkg.name,
        version=pkg.version,
        purl=_purl(pkg.purl),
        bom_ref=bom_ref(item),
        licenses=_licenses(item),
        properties=properties,
        hashes=hashes,
        pedigree=_pedigree(item, os_release),
    )


def _pedigree(item: SbomPackage, os_release: OSRelease) -> Pedigree | None:
    """A rebuild's Debian ancestor and its patches (each with its diff and the CVEs)."""
    found = item.pedigree
    if found is None:
        return None
    from hardbase.vuln.inventory import deb_purl  # the inventory pulls in the transports

    pkg = item.package
    version = item.ancestor_version(found)
    ancestor = Component(
        type=ComponentType.LIBRARY,
        name=pkg.name,
        version=version,
        purl=_purl(deb_purl(pkg.name, version, pkg.arch, os_release)),
        bom_ref=f"{bom_ref(item)}&ancestor={found.source}",
        properties=[
            Property(name="aquasecurity:trivy:SrcName", value=found.source),
            Property(name="aquasecurity:trivy:SrcVersion", value=found.version),
        ],
    )
    patches = [
        Patch(
            type=PatchClassification(patch.kind),
            diff=Diff(text=AttachedText(content=patch.diff, content_type="text/x-diff"))
            if patch.diff
            else None,
            resolves=[
                IssueType(
                    type=IssueClassification.SECURITY,
                    id=cve,
                    name=cve,
                    source=IssueTypeSource(name="CVE", url=XsUri("https://www.cve.org/")),
                    references=[XsUri(f"{TRACKER}/{cve}")],
                )
                for cve in patch.resolves
            ],
        )
        for patch in found.patches
    ]
    names = ", ".join(f"debian/patches/{p.name}" for p in found.patches)
    return Pedigree(
        ancestors=[ancestor],
        patches=patches,
        notes=f"Rebuilt by hardbase from Debian's {found.source} {found.version} with {names}, "
        f"fixing {', '.join(found.fixes)}.",
    )


def _image(sbom: SbomInput) -> Component:
    hashes = []
    if sbom.digest.startswith("sha256:"):
        hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=sbom.digest[7:]))
    properties = [Property(name=f"{PROPERTY_PREFIX}:image:reference", value=sbom.reference)]
    if sbom.os.pretty_name:
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}:os:pretty-name", value=sbom.os.pretty_name)
        )
    return Component(
        type=ComponentType.CONTAINER,
        name=sbom.name,
        version=sbom.digest or sbom.identity,
        purl=_purl(sbom.purl),
        bom_ref=IMAGE_REF,
        hashes=hashes,
        properties=properties,
    )


def _operating_system(sbom: SbomInput) -> Component | None:
    """The image's OS as a CycloneDX `operating-system` component, None when unknown."""
    if not sbom.os.id:
        return None
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=sbom.os.id,
        version=sbom.os.version_id or sbom.os.version_codename or None,
        bom_ref=OS_REF,
        description=sbom.os.pretty_name or None,
        properties=[Property(name="aquasecurity:trivy:Type", value=sbom.os.id)],
    )


def bom(sbom: SbomInput, *, created: datetime | None = None) -> Bom:
    """The CycloneDX model of the image."""
    tool = Component(type=ComponentType.APPLICATION, name=TOOL_NAME, version=TOOL_VERSION)
    image = _image(sbom)
    document = Bom(
        serial_number=serial_number(sbom),
        metadata=BomMetaData(
            tools=ToolRepository(components=[tool]),
            component=image,
            timestamp=creation_time(created),
        ),
    )
    items = sbom.sorted_packages()
    components = [_component(item, sbom.os) for item in items]
    for component in components:
        document.components.add(component)
    system = _operating_system(sbom)
    if system is None:
        document.register_dependency(image, components)
        return document
    debs = [c for c, item in zip(components, items, strict=True) if item.package.type == "deb"]
    others = [c for c, item in zip(components, items, strict=True) if item.package.type != "deb"]
    document.components.add(system)
    document.register_dependency(image, [system, *others])
    document.register_dependency(system, debs)
    return document


class CycloneDxJson(SbomFormat):
    """CycloneDX 1.6, JSON serialisation."""

    name = "cyclonedx-json"
    filename = "sbom.cdx.json"
    media_type = "application/vnd.cyclonedx+json"

    def render(self, sbom: SbomInput, *, created: datetime | None = None) -> bytes:
        model = bom(sbom, created=created)
        try:
            text = JsonV1Dot6(model).output_as_string()
        except Exception as exc:  # the library raises its own and plain errors alike
            raise SbomError(f"could not write the CycloneDX document of {sbom.reference}") from exc
        doc = json.loads(text)
        # packageurl-python writes a digest version's ':' bare; the purl spec encodes it
        doc["metadata"]["component"]["purl"] = sbom.purl
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
