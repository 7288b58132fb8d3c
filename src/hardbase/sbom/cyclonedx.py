"""CycloneDX 1.6 JSON documents, written from plain dicts and lists.

The image is `metadata.component` (type container). The operating system
(`/etc/os-release`) is an `operating-system` component that the image depends
on and that depends on the Debian packages; the other packages are library
components the image depends on directly. That graph, and the source name and
version of each deb under the property names Trivy (`aquasecurity:trivy:SrcName`,
`…:SrcVersion`) and Syft (`syft:metadata:source`, `…:sourceVersion`) read, let
those tools take a hardbase SBOM as input and detect the OS. A package that
hardbase rebuilt with patches has a `pedigree`: Debian's package as its ancestor
and each patch (backport or cherry-pick) with its diff and the CVEs it resolves,
all from the package's own control fields (hardbase.debian.pedigree). The serial number
is derived from the image, the timestamp is the caller's, so the output is
reproducible.

The bytes are those cyclonedx-python-lib wrote when it built these documents (the
tests keep that writer as the oracle): every object's keys sorted, `$schema`,
`bomFormat` and `specVersion` last at the top; components, properties, hashes,
patches, issues and dependencies in the library's order. The library itself is not
imported (it took longer than the rest of `hardbase sbom`); only its list of SPDX
licence ids is read, which decides between a licence `id` and an `expression`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from packageurl import PackageURL

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

PROPERTY_PREFIX = "hardbase"
IMAGE_REF = "image"
OS_REF = "operating-system"
TRACKER = "https://security-tracker.debian.org/tracker"
_SERIAL_NAMESPACE = uuid.UUID("5d0c2a38-8d0e-4f55-9a39-6a55a3f1e0b1")  # hardbase's own
_HASHES = (("sha256", "SHA-256"), ("sha1", "SHA-1"), ("md5", "MD5"), ("sha512", "SHA-512"))
_HEX = re.compile(r"[0-9a-fA-F]+")
SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
Json = dict[str, Any]


def bom_ref(item: SbomPackage) -> str:
    """The component's bom-ref: its purl plus a package id that keeps it unique."""
    base = item.package.purl or f"{item.package.type}:{item.package.name}@{item.package.version}"
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}package-id={item.key}"


@functools.cache
def _spdx_ids() -> frozenset[str]:
    """The SPDX licence ids CycloneDX 1.6 accepts as a licence `id`: the list that
    cyclonedx-python-lib ships (found without importing the library)."""
    spec = importlib.util.find_spec("cyclonedx")
    if spec is None or not spec.submodule_search_locations:
        raise SbomError("cyclonedx-python-lib is not installed; it holds the SPDX licence ids")
    path = Path(
        next(iter(spec.submodule_search_locations)), "schema", "_res", "spdx.SNAPSHOT.schema.json"
    )
    ids: list[str] = json.loads(path.read_text(encoding="utf-8")).get("enum", [])
    return frozenset(ids)


def _licenses(item: SbomPackage) -> list[Json]:
    expression = item.expression
    if expression is None:
        return []
    if expression in _spdx_ids():
        return [{"license": {"acknowledgement": "declared", "id": expression}}]
    return [{"acknowledgement": "declared", "expression": expression}]


def _purl(text: str) -> str | None:
    """The purl as the document writes it (parsed and written back), None when malformed."""
    if not text:
        return None
    try:
        return PackageURL.from_string(text).to_string()
    except ValueError:
        logger.warning("ignoring malformed purl %r", text)
        return None


def _property(name: str, value: str) -> Json:
    return {"name": name, "value": value}


def _properties(pairs: list[tuple[str, str]]) -> list[Json]:
    """Properties sorted by name then value, each pair once."""
    return [_property(name, value) for name, value in sorted(set(pairs))]


def _object(**fields: Any) -> Json:
    """An object with its keys sorted, leaving out what is None or empty."""
    return {k: fields[k] for k in sorted(fields) if fields[k] is not None and fields[k] != []}


def _component_fields(item: SbomPackage) -> list[tuple[str, str]]:
    pkg = item.package
    pairs = [(f"{PROPERTY_PREFIX}:package:type", pkg.type)]
    if pkg.type == "deb":
        source, source_version = pkg.source_name or pkg.name, pkg.source_version or pkg.version
        pairs += [
            (f"{PROPERTY_PREFIX}:deb:source", source),
            (f"{PROPERTY_PREFIX}:deb:source-version", source_version),
            ("aquasecurity:trivy:PkgType", "debian"),
            ("aquasecurity:trivy:SrcName", source),
            ("aquasecurity:trivy:SrcVersion", source_version),
            ("syft:metadata:source", source),
            ("syft:metadata:sourceVersion", source_version),
        ]
        if pkg.arch:
            pairs.append((f"{PROPERTY_PREFIX}:deb:arch", pkg.arch))
    location = item.location
    if location is not None:
        kind = "path-percent-encoded" if location.percent_encoded else "path"
        pairs.append((f"{PROPERTY_PREFIX}:location:{kind}", location.text))
    if pkg.layer:
        pairs.append((f"{PROPERTY_PREFIX}:location:layer", pkg.layer))
    return pairs


def _component(item: SbomPackage, os_release: OSRelease) -> Json:
    pkg = item.package
    found = {
        (alg, pkg.extra[key].lower())
        for key, alg in _HASHES
        if _HEX.fullmatch(pkg.extra.get(key, ""))
    }
    return _object(
        type="library",
        name=pkg.name,
        version=pkg.version,
        purl=_purl(pkg.purl),
        **{"bom-ref": bom_ref(item)},
        licenses=_licenses(item),
        properties=_properties(_component_fields(item)),
        hashes=[{"alg": alg, "content": content} for alg, content in sorted(found)],
        pedigree=_pedigree(item, os_release),
    )


def _issue(cve: str) -> Json:
    return {
        "id": cve,
        "name": cve,
        "references": [f"{TRACKER}/{cve}"],
        "source": {"name": "CVE", "url": "https://www.cve.org/"},
        "type": "security",
    }


def _issue_order(cves: tuple[str, ...]) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
    """The key the library orders lists of issues by, and the issues sorted."""
    ordered = tuple(sorted(set(cves)))
    return (*((0, cve) for cve in ordered), (1, "")), ordered


def _pedigree(item: SbomPackage, os_release: OSRelease) -> Json | None:
    """A rebuild's Debian ancestor and its patches (each with its diff and the CVEs)."""
    found = item.pedigree
    if found is None:
        return None
    from hardbase.vuln.inventory import deb_purl  # the inventory pulls in the transports

    pkg = item.package
    version = item.ancestor_version(found)
    ancestor = _object(
        type="library",
        name=pkg.name,
        version=version,
        purl=_purl(deb_purl(pkg.name, version, pkg.arch, os_release)),
        **{"bom-ref": f"{bom_ref(item)}&ancestor={found.source}"},
        properties=_properties(
            [
                ("aquasecurity:trivy:SrcName", found.source),
                ("aquasecurity:trivy:SrcVersion", found.version),
            ]
        ),
    )
    # the library's patch order: type, then a patch without a diff after one with it,
    # then the diff's text, then the issues it resolves (by id; of two lists where one
    # begins the other, the longer first)
    patches = sorted(
        (patch.kind, patch.diff == "", patch.diff, _issue_order(patch.resolves))
        for patch in found.patches
    )
    names = ", ".join(f"debian/patches/{p.name}" for p in found.patches)
    return _object(
        ancestors=[ancestor],
        patches=[
            _object(
                diff={"text": {"content": diff, "contentType": "text/x-diff"}} if diff else None,
                resolves=[_issue(cve) for cve in resolves],
                type=kind,
            )
            for kind, _, diff, (_, resolves) in dict.fromkeys(patches)
        ],
        notes=f"Rebuilt by hardbase from Debian's {found.source} {found.version} with {names}, "
        f"fixing {', '.join(found.fixes)}.",
    )


def _image(sbom: SbomInput) -> Json:
    hashes = []
    if sbom.image_digest:
        hashes.append({"alg": "SHA-256", "content": sbom.image_digest.hex})
    pairs = [(f"{PROPERTY_PREFIX}:image:reference", sbom.reference)]
    if sbom.os.pretty_name:
        pairs.append((f"{PROPERTY_PREFIX}:os:pretty-name", sbom.os.pretty_name))
    return _object(
        type="container",
        name=sbom.name,
        version=sbom.digest or sbom.identity,
        # packageurl-python writes a digest version's ':' bare; the purl spec encodes it
        purl=sbom.purl,
        **{"bom-ref": IMAGE_REF},
        hashes=hashes,
        properties=_properties(pairs),
    )


def _operating_system(sbom: SbomInput) -> Json | None:
    """The image's OS as a CycloneDX `operating-system` component, None when unknown."""
    if not sbom.os.id:
        return None
    return _object(
        type="operating-system",
        name=sbom.os.id,
        version=sbom.os.version_id or sbom.os.version_codename or None,
        **{"bom-ref": OS_REF},
        description=sbom.os.pretty_name or None,
        properties=_properties([("aquasecurity:trivy:Type", sbom.os.id)]),
    )


def serial_number(sbom: SbomInput) -> uuid.UUID:
    """A serial number that depends only on the image (and the tool's version)."""
    return uuid.uuid5(_SERIAL_NAMESPACE, f"{sbom.identity} {TOOL_NAME}-{TOOL_VERSION}")


def _dependencies(graph: dict[str, list[str]], refs: list[str]) -> list[Json]:
    """One entry per component: what it depends on (sorted), each list once."""
    entries = {ref: sorted(set(graph.get(ref, ()))) for ref in refs}
    return [_object(ref=ref, dependsOn=entries[ref]) for ref in sorted(entries)]


def document(sbom: SbomInput, *, created: datetime | None = None) -> Json:
    """The CycloneDX document of the image, as plain data in its written order."""
    items = sbom.sorted_packages()
    components = [_component(item, sbom.os) for item in items]
    system = _operating_system(sbom)
    refs = [c["bom-ref"] for c in components]
    if system is None:
        graph = {IMAGE_REF: refs}
    else:
        debs = [
            c["bom-ref"] for c, i in zip(components, items, strict=True) if i.package.type == "deb"
        ]
        others = [
            c["bom-ref"] for c, i in zip(components, items, strict=True) if i.package.type != "deb"
        ]
        graph = {IMAGE_REF: [OS_REF, *others], OS_REF: debs}
        components.append(system)
    # the library's component order: type ("library" before "operating-system"), name,
    # version, bom-ref; an identical component once
    unique = {json.dumps(c, sort_keys=True): c for c in components}
    ordered = sorted(
        unique.values(),
        key=lambda c: (
            c["type"],
            c["name"],
            c.get("version") is None,
            c.get("version", ""),
            c["bom-ref"],
        ),
    )
    tool = {"name": TOOL_NAME, "type": "application", "version": TOOL_VERSION}
    body = _object(
        components=ordered,
        dependencies=_dependencies(graph, [IMAGE_REF, *(c["bom-ref"] for c in ordered)]),
        metadata=_object(
            component=_image(sbom),
            timestamp=creation_time(created).isoformat(),
            tools={"components": [tool]},
        ),
        serialNumber=f"urn:uuid:{serial_number(sbom)}",
        version=1,
    )
    return {**body, "$schema": SCHEMA, "bomFormat": "CycloneDX", "specVersion": "1.6"}


class CycloneDxJson(SbomFormat):
    """CycloneDX 1.6, JSON serialisation."""

    name = "cyclonedx-json"
    filename = "sbom.cdx.json"
    media_type = "application/vnd.cyclonedx+json"

    def render(self, sbom: SbomInput, *, created: datetime | None = None) -> bytes:
        return (
            json.dumps(document(sbom, created=created), indent=2, ensure_ascii=False) + "\n"
        ).encode()
