"""Sign a release and attach its attestations: SLSA provenance, every SBOM, and an
OpenVEX document (`fixed`) when the image holds packages hardbase rebuilt with patches.

The signature, the provenance and the SBOMs (one SPDX and one CycloneDX
document per architecture) are stored cosign-style in the image's layout,
from where `push --signatures` carries them to a registry.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbase.attest.names import OPENVEX_V020, SLSA_PROVENANCE_V1
from hardbase.release.image import BuiltImage
from hardbase.release.provenance import provenance
from hardbase.release.sboms import Sbom

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedRelease:
    digest: str
    attestations: tuple[str, ...]  # predicate types, in the order they were attached

    @property
    def has_vex(self) -> bool:
        """Whether an OpenVEX document (`fixed`, for rebuilt packages) was attached."""
        return OPENVEX_V020 in self.attestations


def sign_release(
    image: BuiltImage,
    sboms: tuple[Sbom, ...],
    key: Path,
    password: str | bytes | None,
    *,
    started: dt.datetime,
    finished: dt.datetime,
    invocation_id: str | None = None,
) -> SignedRelease:
    """Sign `image` and attest its provenance and SBOMs, naming `image.identity`."""
    from hardbase.attest.attestation import attest_image
    from hardbase.attest.sign import sign_image

    ref, identity = image.reference, image.identity
    digest = sign_image(ref, key, password, identity=identity)
    predicate = provenance(
        image.spec, image.lock, started=started, finished=finished, invocation_id=invocation_id
    )
    attest_image(ref, key, password, SLSA_PROVENANCE_V1, predicate, identity=identity)
    attached = [SLSA_PROVENANCE_V1]
    for sbom in sorted(sboms, key=lambda s: (s.format, s.arch)):
        # one document per architecture: the first of a type replaces older ones, the rest add
        attest_image(
            ref, key, password, sbom.predicate_type, sbom.document(), identity=identity,
            replace=sbom.predicate_type not in attached,
        )  # fmt: skip
        attached.append(sbom.predicate_type)
    vex = _pedigree_vex(image, sboms)
    if vex is not None:
        attest_image(ref, key, password, OPENVEX_V020, vex, identity=identity)
        attached.append(OPENVEX_V020)
    log.debug("signed %s with %d attestations", digest, len(attached))
    return SignedRelease(digest, tuple(attached))


def _pedigree_vex(image: BuiltImage, sboms: tuple[Sbom, ...]) -> dict[str, Any] | None:
    """OpenVEX `fixed` statements for the CVEs the image's rebuilt packages fix (or None),
    from the CycloneDX pedigrees (hardbase.patch.vex)."""
    from hardbase.patch.vex import fixed_by_pedigree
    from hardbase.policy.openvex import image_purl

    documents = [s.document() for s in sboms if s.format == "cyclonedx-json"]
    name = (image.identity or image.spec.name).rsplit("/", 1)[-1]
    repository = image.identity or ""
    product = image_purl(name, image.digest, repository)
    return fixed_by_pedigree(documents, product, timestamp=image.created)
