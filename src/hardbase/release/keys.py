"""The keys a release is signed with: the names `keygen`, `sign` and `verify` parse,
the password from the environment, generating a pair, and checking a key before use.

Importing this module loads no cryptography (the parser of those commands needs
only the names); the functions import the key code when they run.
"""

from __future__ import annotations

from pathlib import Path

from hardbase.attest.names import (
    KEY_FORMATS,
    PREDICATE_TYPES,
    KeyFormat,
    password_from_env,
    predicate_type_uri,
)

__all__ = [
    "KEY_FORMATS",
    "PREDICATE_TYPES",
    "KeyFormat",
    "check_signing_key",
    "generate_keys",
    "password_from_env",
    "predicate_type_uri",
]


def generate_keys(prefix: Path, *, key_format: KeyFormat, unencrypted: bool) -> tuple[Path, Path]:
    """Write PREFIX.key and PREFIX.pub, the private key sealed with the environment's password."""
    from hardbase.attest.keys import write_keypair

    return write_keypair(
        prefix, password_from_env(), unencrypted=unencrypted, key_format=key_format
    )


def check_signing_key(path: Path) -> None:
    """Open the private key at `path` with the environment's password, so a missing key, a
    wrong password or a public key given by mistake stops a command before it changes
    anything (raises KeyFileError)."""
    from hardbase.attest.keys import load_private_key

    load_private_key(path, password_from_env())
