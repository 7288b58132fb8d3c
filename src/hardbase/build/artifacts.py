"""What a build writes besides the image: SBOMs beside it, signature and attestations in it.

SBOMs are a pure function of the image (their creation time is the image's),
so they are cached by image digest and reference, and a warm build copies them.
Otherwise they are made from the listings the build recorded as it wrote each
layer (`build/listing.py`), never by reading the layers back; only when a
listing is missing (a cache from an older hardbase) is the image read. Signing
stores a cosign-compatible signature, SLSA provenance and the SBOMs as
attestations in the OCI layout, from where `hardbase push --signatures`
carries them to a registry.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hardbase.build.lock import Lock
from hardbase.build.pipeline import BuildResult
from hardbase.build.spec import ImageSpec
from hardbase.errors import UsageError
from hardbase.oci.layout import Descriptor
from hardbase.util.fs import write_atomic
from hardbase.util.paths import cache_dir

if TYPE_CHECKING:
    from hardbase.sbom.interface import SbomInput

log = logging.getLogger(__name__)

SBOM_FORMATS = {"spdx-json": "spdx.json", "cyclonedx-json": "cdx.json"}


@dataclass(frozen=True)
class SignedBuild:
    digest: str
    attestations: tuple[str, ...]


def sbom_paths(result: BuildResult) -> dict[str, Path]:
    """Where the SBOMs of each architecture go: beside the output."""
    out: dict[str, Path] = {}
    multi = len(result.manifests) > 1
    stem = result.sbom_stem or result.output.name.removesuffix(".tar")
    for arch in result.manifests:
        for fmt, suffix in SBOM_FORMATS.items():
            name = f"{stem}.{arch}.{suffix}" if multi else f"{stem}.{suffix}"
            out[f"{arch}/{fmt}"] = result.output.with_name(name)
    return out


def write_sboms(result: BuildResult, name: str, created: str) -> dict[str, Path]:
    """Write an SPDX and a CycloneDX SBOM per architecture beside the output."""
    when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    paths = sbom_paths(result)
    for arch, manifest in result.manifests.items():
        cached = {fmt: _cache_path(manifest, result.reference, fmt) for fmt in SBOM_FORMATS}
        if not all(p.is_file() for p in cached.values()):
            from hardbase.sbom.generate import collect, render

            sbom = sbom_from_build(result, arch, name)
            if sbom is None:
                sbom = collect(result.reference, arch=arch, name=name)
            for fmt, path in cached.items():
                write_atomic(path, render(sbom, fmt, created=when))
        for fmt, path in cached.items():
            dest = paths[f"{arch}/{fmt}"]
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(path, tmp)
            tmp.replace(dest)
    return paths


def sbom_from_build(result: BuildResult, arch: str, name: str) -> SbomInput | None:
    """What `sbom.generate.collect` reads from the built image, from the layers' listings;
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

    ref = parse_reference(result.reference)
    files = tree([(n.layer.digest, x) for n, x in zip(layers, known, strict=True)])
    found = inventory_from_tree(
        files,
        reference=str(ref),
        digest=result.manifests[arch],
        architecture=PLATFORMS[arch]["architecture"],
    )
    return build_input(found, files.read, ref=ref, name=name, parse=licenses_of(known))


# The OCI 1.1 artifactType of the `.sbom` manifest (one layer per format and architecture).
SBOM_ARTIFACT = "application/vnd.hardbase.sbom.v1+json"
# Media types cosign uses for `cosign attach sbom`.
SBOM_MEDIA_TYPES = {
    "spdx-json": "text/spdx+json",
    "cyclonedx-json": "application/vnd.cyclonedx+json",
}


def attach_sboms(result: BuildResult, sboms: dict[str, Path]) -> str | None:
    """Attach the SBOMs to an `oci` output as a cosign-style `sha256-<hex>.sbom` artifact.

    Returns the artifact's tag (None for the archive formats, which cannot hold one);
    `hardbase push --signatures` carries it to a registry with the image.
    """
    if result.format != "oci" or not sboms:
        return None
    from hardbase.attest.attestation import TITLE
    from hardbase.attest.store import artifact_tag, open_store, publish

    tag = artifact_tag(result.index_digest, "sbom")
    with open_store(result.reference) as store:
        layers = []
        for name, path in sorted(sboms.items()):
            blob = store.put_blob(path.read_bytes(), SBOM_MEDIA_TYPES[name.split("/", 1)[1]])
            named = {TITLE: path.name}  # the file `oras pull` writes
            layers.append(Descriptor(blob.media_type, blob.digest, blob.size, annotations=named))
        publish(store, tag, layers, subject=store.resolve(), artifact_type=SBOM_ARTIFACT)
    return tag


def _cache_path(manifest_digest: str, reference: str, fmt: str) -> Path:
    """SBOMs by image and reference (the CycloneDX document names the reference)."""
    import hashlib

    from hardbase import __version__

    key = hashlib.sha256(f"{__version__}\0{manifest_digest}\0{reference}".encode()).hexdigest()
    return cache_dir() / "sboms" / f"{key}.{SBOM_FORMATS[fmt]}"


def sign_build(
    result: BuildResult,
    spec: ImageSpec,
    lock: Lock,
    key: Path,
    password: str | bytes | None,
    started: datetime,
    finished: datetime,
    sboms: dict[str, Path],
    identity: str | None = None,
) -> SignedBuild:
    """Sign the built image and attach SLSA provenance and the SBOMs as attestations.

    `identity` is the repository the signature names (HOST/REPO, where the
    image will be pushed); by default the output directory's name.
    """
    if result.format != "oci":
        raise UsageError(
            f"--sign-key needs --format oci (a layout holds the signature); "
            f"build as oci, then `hardbase push` it to {result.format}"
        )
    from hardbase.attest.attestation import CYCLONEDX, SPDX, attest_image
    from hardbase.attest.provenance import Material, slsa_provenance
    from hardbase.attest.sign import sign_image

    ref = result.reference
    digest = sign_image(ref, key, password, identity=identity)
    lock_material = Material(uri=str(spec.lock_path.name), sha256=_sha256_file(spec.lock_path))
    debs = {p.sha256: Material(uri=p.url, sha256=p.sha256) for p in lock.all_packages()}
    predicate = slsa_provenance(
        spec={
            "name": spec.name,
            "path": spec.path.name,
            "extends": spec.model.extends,
            "release": spec.release,
            "archs": list(spec.archs),
            "tiers": {t.name: list(t.roots) for t in spec.tiers},
        },
        packages=[debs[k] for k in sorted(debs)],
        lock=lock_material,
        started=started,
        finished=finished,
    )
    provenance = "https://slsa.dev/provenance/v1"
    attached = [attest_image(ref, key, password, provenance, predicate, identity=identity)]
    types = {"spdx-json": SPDX, "cyclonedx-json": CYCLONEDX}
    attested: set[str] = set()
    for name, path in sorted(sboms.items()):
        fmt = name.split("/", 1)[1]
        # one SBOM per architecture: the first of a type replaces older ones, the rest add
        attached.append(
            attest_image(
                ref,
                key,
                password,
                types[fmt],
                json.loads(path.read_bytes()),
                identity=identity,
                replace=fmt not in attested,
            )
        )
        attested.add(fmt)
    return SignedBuild(digest, tuple(attached))


def _sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
