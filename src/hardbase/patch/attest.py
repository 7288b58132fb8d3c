"""What `patch-image --sign-key` attaches to the patched image: a cosign signature, SPDX
and CycloneDX SBOMs, SLSA provenance (the base image and every .deb installed, with its
URL and sha256) and an OpenVEX document saying which CVEs the patch layer fixed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from hardbase.attest.names import CYCLONEDX, OPENVEX, SLSA_PROVENANCE_V1, SPDX
from hardbase.oci.reference import ImageRef
from hardbase.patch.image import PatchResult

BUILD_TYPE = "https://hardbase.dev/patch-image/v1"
AUTHOR = "hardbase patch-image"


def sign_patched(
    ref: ImageRef,
    result: PatchResult,
    key: Path,
    password: str | bytes | None,
    *,
    source: str,
    only: str,
    started: dt.datetime,
    finished: dt.datetime,
    insecure: bool = False,
    identity: str | None = None,
    subject: str | None = None,
    created: dt.datetime | None = None,
    invocation_id: str | None = None,
) -> int:
    """Sign `ref` (the patched image) and attach its documents; returns how many.

    `identity` is the signature's (cosign's docker-reference), `subject` the reference the
    SBOMs name the image by (default `ref`) and `created` their creation time (default now):
    the controller names the published version tag and dates them like the image.
    """
    from hardbase.attest.attestation import attest_image
    from hardbase.attest.provenance import Material, slsa_provenance
    from hardbase.attest.sign import sign_image
    from hardbase.policy.openvex import document, image_purl, statement
    from hardbase.sbom.generate import collect, render

    sign_image(ref, key, password, insecure=insecure, identity=identity)
    sbom = collect(str(ref), insecure=insecure, subject=subject)
    predicates = [
        (SPDX, json.loads(render(sbom, "spdx-json", created=created))),
        (CYCLONEDX, json.loads(render(sbom, "cyclonedx-json", created=created))),
    ]
    upgrades = [u for p in result.platforms for u in p.upgrades]
    provenance = slsa_provenance(
        spec={"command": "patch-image", "image": source, "only": only},
        packages=[Material(u.url, u.sha256, u.name) for u in upgrades],
        lock=Material(source, result.base_digest.hex, "base image"),
        started=started,
        finished=finished,
        build_type=BUILD_TYPE,
        invocation_id=invocation_id,
    )
    predicates.append((SLSA_PROVENANCE_V1, provenance))
    product = image_purl(_name(ref), result.digest)
    statements = []
    for cve in sorted({c for u in upgrades for c in u.fixes}):
        parts = sorted({u.purl for u in upgrades if cve in u.fixes})
        statements.append(statement(cve, "fixed", product, subcomponents=parts))
    if statements:
        predicates.append((OPENVEX, document(statements, author=AUTHOR)))
    for predicate_type, predicate in predicates:
        attest_image(
            ref, key, password, predicate_type, predicate, insecure=insecure, identity=identity
        )
    return len(predicates)


def _name(ref: ImageRef) -> str:
    if ref.transport == "docker":
        return (ref.repository or "image").rsplit("/", 1)[-1]
    return ref.path.name if ref.path is not None else "image"
