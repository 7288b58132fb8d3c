"""The SBOMs of a release: an SPDX and a CycloneDX document per architecture.

SBOMs are a pure function of the image and the name they give it (their
creation time is the image's), so they are cached by manifest digest and name,
and a warm build or a resumed job copies them. Otherwise a fresh build's are
made from the listings it recorded as it wrote each layer (`build/listing.py`),
without reading the layers back; only an image without them (a resumed job's
layout, a cache from an older hardbase) is read. The documents name the image by
`BuiltImage.subject`: its repository and digest once it has one, so the build
command and the controller attest the same documents for the same lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.attest.names import CYCLONEDX, SPDX
from hardbase.oci.layout import Descriptor
from hardbase.release.image import BuiltImage
from hardbase.sbom import SbomFormatName
from hardbase.util.fs import write_atomic
from hardbase.util.paths import cache_dir

if TYPE_CHECKING:
    from hardbase.build.pipeline import BuildResult
    from hardbase.sbom.interface import SbomInput

log = logging.getLogger(__name__)

SBOM_FORMATS: dict[SbomFormatName, str] = {"spdx-json": "spdx.json", "cyclonedx-json": "cdx.json"}
PREDICATE_TYPES: dict[SbomFormatName, str] = {"spdx-json": SPDX, "cyclonedx-json": CYCLONEDX}
# The OCI 1.1 artifactType of the `.sbom` manifest (one layer per format and architecture).
SBOM_ARTIFACT = "application/vnd.hardbase.sbom.v1+json"
# Media types cosign uses for `cosign attach sbom`.
SBOM_MEDIA_TYPES: dict[SbomFormatName, str] = {
    "spdx-json": "text/spdx+json",
    "cyclonedx-json": "application/vnd.cyclonedx+json",
}


@dataclass(frozen=True)
class Sbom:
    """One SBOM document of one architecture."""

    arch: str
    format: SbomFormatName
    path: Path  # the cached document

    @property
    def predicate_type(self) -> str:
        return PREDICATE_TYPES[self.format]

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.path.read_bytes())
        return doc


def release_sboms(image: BuiltImage) -> tuple[Sbom, ...]:
    """Both documents of every architecture, by architecture in the spec's order."""
    when = datetime.strptime(image.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    out: list[Sbom] = []
    for arch, manifest in image.manifests:
        cached = {fmt: _cache_path(manifest, image.subject, fmt) for fmt in SBOM_FORMATS}
        if not all(p.is_file() for p in cached.values()):
            from hardbase.sbom.generate import render

            sbom = None
            if image.build is not None:
                sbom = sbom_from_build(image.build, arch, image.spec.name, subject=image.subject)
            if sbom is None:
                sbom = _read_sbom(image, arch)
            for fmt, path in cached.items():
                write_atomic(path, render(sbom, fmt, created=when))
        out.extend(Sbom(arch, fmt, path) for fmt, path in cached.items())
    return tuple(out)


def _read_sbom(image: BuiltImage, arch: str) -> SbomInput:
    """The SBOM input of one architecture, read from the image (`sbom.generate.collect`)."""
    from hardbase.sbom.generate import collect

    return collect(image.reference, arch=arch, name=image.spec.name, subject=image.subject)


def sbom_from_build(
    result: BuildResult, arch: str, name: str, *, subject: str | None = None
) -> SbomInput | None:
    """What `sbom.generate.collect` reads from the built image, from the layers' listings
    (`build/listing.py`), naming the image `subject` (default: the build's reference);
    None when a listing is missing or the output is an archive (whose manifest is not
    the one the build wrote)."""
    if result.format != "oci" or result.layer_cache is None:
        return None
    layers = result.layers[arch]
    listings = [result.layer_cache.listing(n.layer) for n in layers]
    known = [x for x in listings if x is not None]
    if len(known) != len(layers):
        return None
    from hardbase.build.image import PLATFORMS
    from hardbase.build.listing import licenses_of, tree
    from hardbase.oci.reference import parse_reference
    from hardbase.sbom.generate import build_input
    from hardbase.vuln.inventory import inventory_from_tree

    ref = parse_reference(subject or result.reference)
    files = tree([(n.layer.digest, x) for n, x in zip(layers, known, strict=True)])
    found = inventory_from_tree(
        files,
        reference=str(ref),
        digest=result.manifests[arch],
        architecture=PLATFORMS[arch]["architecture"],
    )
    return build_input(found, files.read, ref=ref, name=name, parse=licenses_of(known))


def file_names(sboms: tuple[Sbom, ...], stem: str) -> dict[str, str]:
    """The documents' file names by `ARCH/FORMAT`: `STEM.spdx.json`, or `STEM.ARCH.spdx.json`
    for a multi-architecture image."""
    multi = len({s.arch for s in sboms}) > 1
    return {
        f"{s.arch}/{s.format}": (
            f"{stem}.{s.arch}.{SBOM_FORMATS[s.format]}" if multi
            else f"{stem}.{SBOM_FORMATS[s.format]}"
        )
        for s in sboms
    }  # fmt: skip


def write_beside(sboms: tuple[Sbom, ...], output: Path, stem: str = "") -> dict[str, Path]:
    """Copy the documents beside a build's output (named by `file_names`, the stem being the
    output's name by default); returns the paths by `ARCH/FORMAT`."""
    names = file_names(sboms, stem or output.name.removesuffix(".tar"))
    paths: dict[str, Path] = {}
    for sbom in sboms:
        key = f"{sbom.arch}/{sbom.format}"
        dest = output.with_name(names[key])
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(sbom.path, tmp)
        tmp.replace(dest)
        paths[key] = dest
    return paths


def attach_sboms(image: BuiltImage, sboms: tuple[Sbom, ...], titles: dict[str, str]) -> str:
    """Attach the documents to the layout as a cosign-style `sha256-<hex>.sbom` artifact.

    `titles` names each layer (`ARCH/FORMAT` -> file name, the one `oras pull` writes).
    Returns the artifact's tag; `push --signatures` carries it to a registry with the image.
    """
    from hardbase.attest.attestation import TITLE
    from hardbase.attest.store import open_store, publish

    tag = image.digest.cosign_tag("sbom")
    with open_store(image.reference) as store:
        layers = []
        for sbom in sorted(sboms, key=lambda s: f"{s.arch}/{s.format}"):
            key = f"{sbom.arch}/{sbom.format}"
            blob = store.put_blob(sbom.path.read_bytes(), SBOM_MEDIA_TYPES[sbom.format])
            named = {TITLE: titles[key]}
            layers.append(Descriptor(blob.media_type, blob.digest, blob.size, annotations=named))
        publish(store, tag, layers, subject=store.resolve(), artifact_type=SBOM_ARTIFACT)
    return tag


def _cache_path(manifest_digest: str, subject: str, fmt: SbomFormatName) -> Path:
    """SBOMs by image and the name they give it (the CycloneDX document names it)."""
    from hardbase import __version__

    key = hashlib.sha256(f"{__version__}\0{manifest_digest}\0{subject}".encode()).hexdigest()
    return cache_dir() / "sboms" / f"{key}.{SBOM_FORMATS[fmt]}"
