"""cosign's storage formats: simple-signing payloads, signature and attestation manifests.

A signature is a manifest tagged `sha256-<hex>.sig` whose layers are
simple-signing payloads (`application/vnd.dev.cosign.simplesigning.v1+json`),
each with its base64 DER signature in the annotation
`dev.cosignproject.cosign/signature`. Attestations are tagged
`sha256-<hex>.att`, one DSSE envelope per layer
(`application/vnd.dsse.envelope.v1+json`, annotations `predicateType` and an
empty `dev.cosignproject.cosign/signature`, which cosign requires on every layer).
"""

from __future__ import annotations

import json
from typing import Any

from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, canonical_json
from hardbase.util.digest import Digest

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_ANNOTATION = "predicateType"
SIGNATURE_TYPE = "cosign container image signature"
IN_TOTO = "application/vnd.in-toto+json"


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """The payload cosign signs, byte for byte as cosign writes it (Go's field order)."""
    payload = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def artifact_config(layers: list[Descriptor]) -> bytes:
    """The config cosign gives its artifact manifests (an empty image listing the layers)."""
    config = {
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    }
    return canonical_json(config)


def artifact_manifest(config: Descriptor, layers: list[Descriptor]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, the bytes an envelope's signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def config_descriptor(layers: list[Descriptor]) -> tuple[bytes, Descriptor]:
    data = artifact_config(layers)
    return data, Descriptor(mt.OCI_CONFIG, Digest.of(data), len(data))
