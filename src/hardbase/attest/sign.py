"""Sign images the way cosign does: a simple-signing payload under `sha256-<hex>.sig`."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from hardbase.attest import cosign, keys
from hardbase.attest.store import ArtifactStore, existing_layers, open_store, publish
from hardbase.oci.layout import Descriptor
from hardbase.oci.reference import ImageRef

log = logging.getLogger(__name__)


def sign_image(
    ref: str | ImageRef,
    key_path: Path | str,
    password: str | bytes | None,
    *,
    insecure: bool = False,
    identity: str | None = None,
) -> str:
    """Sign the image `ref` names now; returns the digest that was signed.

    The signature joins any others in the `sha256-<hex>.sig` manifest (cosign
    keeps one layer per signature); signing twice with the same key replaces
    the earlier signature.
    """
    key = keys.load_private_key(Path(key_path), password)
    with open_store(ref, insecure=insecure) as store:
        image = store.resolve()
        payload = cosign.simple_signing_payload(identity or store.identity, image.digest)
        signature = base64.b64encode(keys.sign(key, payload)).decode("ascii")
        public = key.public_key()
        layer = store.put_blob(payload, cosign.SIMPLESIGNING)
        layer = Descriptor(
            layer.media_type,
            layer.digest,
            layer.size,
            annotations={cosign.SIGNATURE_ANNOTATION: signature},
        )
        tag = image.digest.cosign_tag("sig")
        kept = [
            old
            for old in existing_layers(store, tag, cosign.SIMPLESIGNING)
            if not _same_signer(store, old, layer, public)
        ]
        publish(store, tag, [*kept, layer])
        log.debug("signed %s (%s) as %s", store.ref, image.digest, tag)
        return image.digest


def _same_signer(
    store: ArtifactStore, old: Descriptor, new: Descriptor, public: ec.EllipticCurvePublicKey
) -> bool:
    """True when `old` is this key's signature over the same payload (it gets replaced)."""
    if old.digest != new.digest:
        return False
    text = (old.annotations or {}).get(cosign.SIGNATURE_ANNOTATION, "")
    try:
        signature = base64.b64decode(text, validate=True)
    except ValueError:
        return True  # a broken signature over our payload: drop it
    return keys.verify(public, signature, store.read_blob(old))
