"""Verify an image's cosign signature and attestations against a public key.

Checks, each reported: the image's manifest (or index) bytes hash to the
digest the reference names (for a layout, the digest in index.json); the
signature tag for that digest exists; a simple-signing payload in it names
that digest; its signature verifies with the key; every attestation's DSSE
signature verifies and its subject is the image's digest.

Signatures and attestations that other keys made (cosign keeps every signer's
layers in one `.sig` / `.att` manifest) are reported as "not by this key" and
skipped, as cosign skips them; `require` names predicate types that at least one
attestation by this key must have. Reads what cosign writes: its simple-signing
payloads and its DSSE envelopes (in-toto Statement v0.1 or v1).
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from hardbase.attest import cosign, keys
from hardbase.attest.attestation import STATEMENT_V1
from hardbase.attest.identity import DockerReference, ExpectedIdentity, expected_identity
from hardbase.attest.names import OPENVEX
from hardbase.attest.store import ArtifactStore, existing_layers, open_store
from hardbase.errors import ImageError, IntegrityError
from hardbase.oci.layout import Descriptor
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.util import jsondoc
from hardbase.util.digest import Digest, DigestError

log = logging.getLogger(__name__)

MAX_SIG_TAGS = 200


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    skipped: bool = False  # made by another key: reported, neither passes nor fails the image


@dataclass(frozen=True)
class VerifyResult:
    ref: str
    digest: str
    checks: tuple[Check, ...]
    attested: tuple[str, ...] = ()  # predicate types of the attestations this key verified

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def reason(self) -> str:
        """The first failure's explanation ('' when everything passed)."""
        failures = self.failures
        return failures[0].detail if failures else ""


@dataclass(frozen=True)
class _Signature:
    payload_digest: Digest | None  # the digest the payload names (None when unreadable)
    valid: bool
    reference: str = ""  # the payload's docker-reference: the repository it was signed for


def verify_image(
    ref: str | ImageRef,
    pub_path: Path | str,
    *,
    insecure: bool = False,
    require_attestations: bool = False,
    require: tuple[str, ...] = (),
    identity: str | None = None,
) -> VerifyResult:
    """Run every check on the image `ref` names now; never raises for a failed check.

    `identity` is the repository the signature must name (identity.py); by
    default a docker:// reference's own, and none for a layout. With
    `require_attestations`, at least one attestation must verify with the key;
    each predicate type URI in `require` must have one.
    """
    key_path = Path(pub_path)
    public = keys.load_public_key(key_path)
    image_ref = ref if isinstance(ref, ImageRef) else parse_reference(ref)
    expected = expected_identity(image_ref, identity)
    with open_store(image_ref, insecure=insecure) as store:
        try:
            image = store.resolve()  # reads and hashes the manifest bytes
        except IntegrityError as exc:
            detail = f"{exc.diagnostics()}: the image was altered after signing, or is damaged"
            return VerifyResult(str(store.ref), "", (Check("image", False, detail),))
        checks = [Check("image", True, f"{store.ref} is {image.digest}, its bytes hash to it")]
        checks += _signature_checks(store, image.digest, public, key_path, expected)
        found, attested = _attestation_checks(store, image.digest, public, key_path)
        checks += found
        checks += _required(attested, require_attestations, require, key_path)
        return VerifyResult(str(store.ref), image.digest, tuple(checks), tuple(attested))


def _signature_checks(
    store: ArtifactStore,
    digest: Digest,
    public: ec.EllipticCurvePublicKey,
    key_path: Path,
    expected: ExpectedIdentity | None,
) -> list[Check]:
    tag = digest.cosign_tag("sig")
    if store.get_tagged(tag) is None:
        return [Check("signature tag", False, _explain_missing(store, digest, public, tag))]
    checks = [Check("signature tag", True, f"{tag} exists")]
    signatures = [_read_signature(store, layer, public) for layer in _sig_layers(store, tag)]
    if not signatures:
        checks.append(Check("signature", False, f"{tag} in {store.ref} holds no signature"))
        return checks
    good = [s for s in signatures if s.valid and s.payload_digest == digest]
    if good:
        checks.append(Check("payload digest", True, f"a signed payload names {digest}"))
        checks.append(Check("signature", True, f"verified with {key_path}"))
        others = sum(1 for s in signatures if not s.valid)
        if others:
            checks.append(Check("other signatures", True, f"{others} in {tag} not by this key",
                                skipped=True))  # fmt: skip
        if expected is not None:
            checks.append(_identity_check(good, expected))
        return checks
    valid_for = sorted({s.payload_digest or "?" for s in signatures if s.valid})
    if valid_for:
        checks.append(
            Check(
                "payload digest",
                False,
                f"the signature in {tag} was made for {', '.join(valid_for)}, not for the "
                f"image's {digest}; the signature was moved from another image",
            )
        )
    else:
        names = any(s.payload_digest == digest for s in signatures)
        checks.append(
            Check(
                "payload digest",
                names,
                f"a payload names {digest}" if names else f"no payload in {tag} names {digest}",
            )
        )
        checks.append(
            Check(
                "signature",
                False,
                f"no signature in {tag} verifies with {key_path}: the image was signed with "
                "another key, or the signature was altered",
            )
        )
    return checks


def _identity_check(good: list[_Signature], expected: ExpectedIdentity) -> Check:
    matching = [s.reference for s in good if expected.accepts(s.reference)]
    if matching:
        untagged = all(DockerReference.parse(r).tag is None for r in matching)
        scope = " (it names no tag, so it holds for every tag there)" if untagged else ""
        return Check("identity", True, f"signed for {matching[0]}{scope}")
    named = ", ".join(sorted({s.reference or "no repository" for s in good}))
    return Check(
        "identity",
        False,
        f"the signature was made for {named}, not {expected}: the image and its signature "
        "were copied from another repository; pass --identity REPO to accept that one",
    )


def _sig_layers(store: ArtifactStore, tag: str) -> list[Descriptor]:
    return existing_layers(store, tag, cosign.SIMPLESIGNING)


def _read_signature(
    store: ArtifactStore, layer: Descriptor, public: ec.EllipticCurvePublicKey
) -> _Signature:
    try:
        payload = store.read_blob(layer, max_size=1 << 20)
        doc = jsondoc.loads(payload)
        named = doc["critical"]["image"]["docker-manifest-digest"]
        kind = doc["critical"]["type"]
        reference = doc["critical"]["identity"]["docker-reference"]
        signature = base64.b64decode(
            (layer.annotations or {}).get(cosign.SIGNATURE_ANNOTATION, ""), validate=True
        )
    except (ImageError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        log.debug("unreadable signature layer %s: %s", layer.digest, exc)
        return _Signature(None, False)
    if not isinstance(named, str) or kind != cosign.SIGNATURE_TYPE:
        return _Signature(None, False)
    try:
        payload_digest = Digest(named, "(the docker-manifest-digest of a signature)")
    except DigestError as exc:
        log.debug("unreadable signature layer %s: %s", layer.digest, exc)
        return _Signature(None, False)
    valid = keys.verify(public, signature, payload)
    return _Signature(payload_digest, valid, reference if isinstance(reference, str) else "")


def _names_signature(tag: str) -> bool:
    """Whether `tag` is cosign's signature tag of some digest (`sha256-<hex>.sig`)."""
    named = Digest.from_cosign_tag(tag)
    return named is not None and named[1] == "sig"


def _explain_missing(
    store: ArtifactStore, digest: Digest, public: ec.EllipticCurvePublicKey, tag: str
) -> str:
    """Say whether the image changed since it was signed, or was never (or no longer) signed."""
    signed: set[str] = set()
    sig_tags = [t for t in store.tags() if _names_signature(t)]
    for other in sig_tags[:MAX_SIG_TAGS]:
        for layer in _sig_layers(store, other):
            found = _read_signature(store, layer, public)
            if found.valid and found.payload_digest and found.payload_digest != digest:
                signed.add(found.payload_digest)
    if signed:
        return (
            f"{store.ref} is now {digest}, but the key signed {', '.join(sorted(signed))}: "
            "the manifest changed after it was signed"
        )
    return (
        f"there is no signature tag {tag} for {digest}: the image was never signed or its "
        "signature was removed; sign it with `hardbase sign`"
    )


def _attestation_checks(
    store: ArtifactStore, digest: Digest, public: ec.EllipticCurvePublicKey, key_path: Path
) -> tuple[list[Check], list[str]]:
    """A check per attestation layer, and the predicate types this key verified."""
    tag = digest.cosign_tag("att")
    if store.get_tagged(tag) is None:
        return [Check("attestations", True, f"none ({tag} does not exist)")], []
    layers = existing_layers(store, tag, cosign.DSSE_ENVELOPE)
    if not layers:
        return [Check("attestations", True, f"{tag} holds no DSSE envelopes")], []
    checks: list[Check] = []
    attested: list[str] = []
    for layer in layers:
        check, verified = _check_envelope(store, layer, digest, public, key_path)
        checks.append(check)
        if verified is not None:
            attested.append(verified)
    return checks, attested


def _required(
    attested: list[str], any_required: bool, types: tuple[str, ...], key_path: Path
) -> list[Check]:
    checks: list[Check] = []
    if any_required and not attested:
        detail = f"no attestation beside the image verifies with {key_path}"
        checks.append(Check("attestations", False, detail))
    for kind in dict.fromkeys(types):
        if kind == OPENVEX and any(t.startswith(f"{OPENVEX}/") for t in attested):
            attested = [*attested, OPENVEX]  # cosign's openvex names the family (…/v0.2.0)
        if kind in attested:
            detail = f"an attestation verified with {key_path}"
        else:
            detail = f"no {kind} attestation beside the image verifies with {key_path}"
        checks.append(Check(f"required {kind}", kind in attested, detail))
    return checks


def _check_envelope(
    store: ArtifactStore,
    layer: Descriptor,
    digest: Digest,
    public: ec.EllipticCurvePublicKey,
    key_path: Path,
) -> tuple[Check, str | None]:
    """The check of one DSSE layer, and its predicate type when it verified with the key."""
    declared = (layer.annotations or {}).get(cosign.PREDICATE_ANNOTATION, "?")
    name = f"attestation {declared}"
    try:
        env = jsondoc.loads(store.read_blob(layer, max_size=64 << 20))
        payload_type = env["payloadType"]
        payload = base64.b64decode(env["payload"], validate=True)
        sigs = [base64.b64decode(s["sig"], validate=True) for s in env["signatures"]]
    except (ImageError, ValueError, KeyError, TypeError, binascii.Error):
        return Check(name, False, f"layer {layer.digest} is not a DSSE envelope"), None
    if payload_type != cosign.IN_TOTO:
        detail = f"the envelope's payloadType is '{payload_type}', not in-toto"
        return Check(name, False, detail), None
    signed = cosign.pae(payload_type, payload)
    if not any(keys.verify(public, sig, signed) for sig in sigs):
        detail = (
            f"not by this key: no signature of layer {layer.digest} verifies with {key_path} "
            "(another signer's, or altered); skipped, as cosign skips it"
        )
        return Check(name, True, detail, skipped=True), None
    try:
        statement: Any = jsondoc.loads(payload)
        subjects = statement["subject"]
        predicate_type = statement["predicateType"]
        kind = statement["_type"]
        hexes = {s["digest"]["sha256"] for s in subjects if "sha256" in s.get("digest", {})}
    except (ValueError, KeyError, TypeError, AttributeError):
        return Check(name, False, "the envelope's payload is not an in-toto statement"), None
    if kind not in (STATEMENT_V1, "https://in-toto.io/Statement/v0.1"):
        detail = f"the payload's _type is '{kind}', not an in-toto statement"
        return Check(name, False, detail), None
    name = f"attestation {predicate_type}"
    if digest.hex not in hexes:
        others = ", ".join(f"{digest.algorithm}:{h}" for h in sorted(hexes)) or "nothing"
        detail = f"the attestation's subject is {others}, not the image's {digest}"
        return Check(name, False, detail), None
    if declared != predicate_type:
        detail = f"the layer says {declared} but the statement {predicate_type}"
        return Check(name, False, detail), None
    return Check(name, True, f"signed, subject {digest}"), str(predicate_type)
