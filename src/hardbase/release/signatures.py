"""Signing, attesting and verifying an image that is already built: `hardbase sign` and
`hardbase verify`, with the key's password from the environment and predicate types
by cosign's `--type` names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.errors import UsageError
from hardbase.release.keys import password_from_env, predicate_type_uri
from hardbase.util import jsondoc

if TYPE_CHECKING:
    from hardbase.attest.verify import VerifyResult


def load_predicate(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, to be attested."""
    try:
        doc = jsondoc.loads(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read predicate {path} ({exc.strerror})") from None
    except ValueError:
        raise UsageError(f"predicate {path} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise UsageError(f"predicate {path} must be a JSON object")
    return doc


def sign_reference(
    ref: str,
    key: Path,
    *,
    predicate: Path | None = None,
    predicate_type: str = "slsaprovenance1",
    identity: str | None = None,
    insecure: bool = False,
) -> str:
    """Sign the image `ref` names, and attest the predicate in `predicate` about it when
    given; returns the signed digest. A bad predicate or type stops before anything is
    signed."""
    from hardbase.attest.attestation import attest_image
    from hardbase.attest.sign import sign_image
    from hardbase.oci.reference import parse_reference

    image = parse_reference(ref)
    password = password_from_env()
    document = load_predicate(predicate) if predicate is not None else None
    kind = predicate_type_uri(predicate_type)
    digest = sign_image(image, key, password, insecure=insecure, identity=identity)
    if document is not None:
        attest_image(image, key, password, kind, document, insecure=insecure, identity=identity)
    return digest


def verify_reference(
    ref: str,
    key: Path,
    *,
    require: Sequence[str] = (),
    require_attestations: bool = False,
    identity: str | None = None,
    insecure: bool = False,
) -> VerifyResult:
    """Every check of the image's signatures and attestations against the public `key`;
    `require` names predicate types (cosign's names or URIs) that must be attested."""
    from hardbase.attest.verify import verify_image
    from hardbase.oci.reference import parse_reference

    required = tuple(predicate_type_uri(kind) for kind in require)
    return verify_image(
        parse_reference(ref),
        key,
        insecure=insecure,
        require_attestations=require_attestations,
        require=required,
        identity=identity,
    )
