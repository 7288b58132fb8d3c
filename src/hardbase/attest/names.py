"""The names `sign`, `verify` and `keygen` parse, without loading cryptography.

Key formats, the password variables and cosign's predicate `--type` names live
here so that building the command-line parser stays light; keys.py and
attestation.py, which do the work, take them from this module.
"""

from __future__ import annotations

import os
from typing import Literal, get_args

from hardbase.errors import UsageError

PASSWORD_ENV = "HARDBASE_KEY_PASSWORD"
COSIGN_PASSWORD_ENV = "COSIGN_PASSWORD"
KeyFormat = Literal["cosign", "pkcs8"]  # what keys.generate_keypair writes
KEY_FORMATS: tuple[KeyFormat, ...] = get_args(KeyFormat)

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SPDX = "https://spdx.dev/Document"
CYCLONEDX = "https://cyclonedx.org/bom"
OPENVEX = "https://openvex.dev/ns"
# The predicate type of the OpenVEX attestation `hardbase build --sign-key` attaches
# (the document's @context); `verify --require openvex` takes it as openvex too.
OPENVEX_V020 = "https://openvex.dev/ns/v0.2.0"

# cosign's `--type` names (and their URIs), which `sign --type` and `verify --require` take.
PREDICATE_TYPES = {
    "slsaprovenance1": SLSA_PROVENANCE_V1,
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "spdxjson": SPDX,
    "spdx": SPDX,
    "cyclonedx": CYCLONEDX,
    "openvex": OPENVEX,
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}


def password_from_env() -> bytes:
    """The key password: `HARDBASE_KEY_PASSWORD`, else `COSIGN_PASSWORD` (empty when neither)."""
    return (os.environ.get(PASSWORD_ENV) or os.environ.get(COSIGN_PASSWORD_ENV) or "").encode()


def predicate_type_uri(name: str) -> str:
    """The URI of a cosign `--type` name, or `name` itself when it is a URI."""
    uri = PREDICATE_TYPES.get(name, name)
    if "://" not in uri:
        raise UsageError(
            f"'{name}' is not a predicate type; use {', '.join(PREDICATE_TYPES)} or a URI"
        )
    return uri
