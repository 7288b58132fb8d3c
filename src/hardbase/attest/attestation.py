"""In-toto attestations in DSSE envelopes, stored cosign-style under `sha256-<hex>.att`.

An attestation is an in-toto v1 statement whose subject is the image (its
name and sha256 digest), wrapped in a DSSE envelope signed over the PAE
encoding with the image key. Predicates: SLSA provenance v1, SPDX, CycloneDX,
OpenVEX, or any URI. Each layer carries what cosign reads: the predicateType
annotation and an empty `dev.cosignproject.cosign/signature` annotation (the
signature is inside the envelope), so `cosign verify-attestation --type` passes.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from hardbase.attest import cosign, keys
from hardbase.attest.names import CYCLONEDX as CYCLONEDX
from hardbase.attest.names import PREDICATE_TYPES
from hardbase.attest.names import SLSA_PROVENANCE_V1 as SLSA_PROVENANCE_V1
from hardbase.attest.names import SPDX as SPDX
from hardbase.attest.store import ArtifactStore, existing_layers, open_store, publish
from hardbase.errors import ImageError
from hardbase.oci.layout import Descriptor, canonical_json
from hardbase.oci.reference import ImageRef
from hardbase.util.digest import Digest

log = logging.getLogger(__name__)

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
TITLE = "org.opencontainers.image.title"  # the file name `oras pull` writes a layer to


def statement(
    subject_name: str, digest: Digest, predicate_type: str, predicate: dict[str, Any]
) -> dict[str, Any]:
    """An in-toto v1 statement about the image `digest`."""
    return {
        "_type": STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {digest.algorithm: digest.hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def envelope(
    key: ec.EllipticCurvePrivateKey, payload: bytes, payload_type: str = cosign.IN_TOTO
) -> dict[str, Any]:
    """A DSSE envelope over `payload`, signed (ECDSA-SHA256) over its PAE encoding."""
    signature = keys.sign(key, cosign.pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode("ascii")}],
    }


def attach(
    store: ArtifactStore,
    image_digest: Digest,
    envelope_json: dict[str, Any],
    predicate_type: str,
    *,
    replace: bool = True,
    subject: Descriptor | None = None,
) -> str:
    """Add an envelope to the image's `.att` manifest; returns that manifest's digest.

    With `replace`, earlier attestations of the same predicate type are dropped.
    With `subject` (the image's descriptor) the manifest is also an OCI 1.1 referrer
    of the image (store.publish), each layer named for `oras pull`.
    """
    data = json.dumps(envelope_json, separators=(",", ":")).encode()
    layer = store.put_blob(data, cosign.DSSE_ENVELOPE)
    short = next((k for k, v in PREDICATE_TYPES.items() if v == predicate_type), "attestation")
    layer = Descriptor(
        layer.media_type,
        layer.digest,
        layer.size,
        annotations={
            cosign.SIGNATURE_ANNOTATION: "",
            cosign.PREDICATE_ANNOTATION: predicate_type,
            TITLE: f"{short}.{layer.digest.short}.dsse.json",
        },
    )
    tag = image_digest.cosign_tag("att")
    kept = [
        old
        for old in existing_layers(store, tag, cosign.DSSE_ENVELOPE)
        if old.digest != layer.digest
        and not (
            replace and (old.annotations or {}).get(cosign.PREDICATE_ANNOTATION) == predicate_type
        )
    ]
    return publish(store, tag, [*kept, layer], subject=subject, artifact_type=cosign.DSSE_ENVELOPE)


def attest_image(
    ref: str | ImageRef,
    key_path: Path | str,
    password: str | bytes | None,
    predicate_type: str,
    predicate: dict[str, Any],
    *,
    insecure: bool = False,
    identity: str | None = None,
    replace: bool = True,
) -> str:
    """Attest `predicate` about the image `ref` names now; returns the image digest.

    With `replace` (the default) an earlier attestation of the same predicate
    type is dropped; without it, it stays (one SBOM per architecture, say).
    """
    if not isinstance(predicate, dict):
        raise ImageError(f"the {predicate_type} predicate must be a JSON object")
    key = keys.load_private_key(Path(key_path), password)
    with open_store(ref, insecure=insecure) as store:
        image = store.resolve()
        doc = statement(identity or store.identity, image.digest, predicate_type, predicate)
        attach(
            store,
            image.digest,
            envelope(key, canonical_json(doc)),
            predicate_type,
            replace=replace,
            subject=image,
        )
        log.debug("attested %s for %s", predicate_type, image.digest)
        return image.digest
