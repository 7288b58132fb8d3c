"""ECDSA P-256 signing keys: generate, store as PEM, load, sign and verify.

Private keys are written as PKCS#8 PEM, encrypted (`ENCRYPTED PRIVATE KEY`,
PBES2 with AES-256-CBC) when a password is given and plain (`PRIVATE KEY`)
when it is empty. Public keys are SubjectPublicKeyInfo PEM (`PUBLIC KEY`),
the same as `cosign.pub`. cosign's own `ENCRYPTED SIGSTORE PRIVATE KEY`
(scrypt + NaCl secretbox) is not read or written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hardbase.errors import SignatureError, UsageError
from hardbase.util.fs import write_atomic

log = logging.getLogger(__name__)

PASSWORD_ENV = "HARDBASE_KEY_PASSWORD"
MAX_KEY_FILE = 64 << 10


class KeyFileError(SignatureError):
    """A key file is missing, unreadable, of the wrong kind, or its password is wrong."""


def password_from_env() -> bytes:
    """The key password from `HARDBASE_KEY_PASSWORD` (empty when unset)."""
    return os.environ.get(PASSWORD_ENV, "").encode()


def _password(password: str | bytes | None) -> bytes:
    if password is None:
        return b""
    return password.encode() if isinstance(password, str) else password


def generate_keypair(password: str | bytes | None) -> tuple[bytes, bytes]:
    """A new key pair as (private PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    secret = _password(password)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return private_pem, public_pem(key.public_key())


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_keypair(
    prefix: Path, password: str | bytes | None, *, force: bool = False
) -> tuple[Path, Path]:
    """Write PREFIX.key (mode 0600) and PREFIX.pub; refuse to overwrite unless `force`."""
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    for path in (key_path, pub_path):
        if path.exists() and not force:
            raise UsageError(f"{path} already exists; remove it or choose another --output-prefix")
    private_pem, pub = generate_keypair(password)
    try:
        write_atomic(key_path, private_pem, mode=0o600)
        write_atomic(pub_path, pub)
    except OSError as exc:
        raise UsageError(f"cannot write the key pair at {prefix} ({exc.strerror})") from None
    return key_path, pub_path


def _read(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            raise KeyFileError(f"{path} is too large to be a {what}")
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist; check the path") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path} ({exc.strerror})") from None


def load_private_key(path: Path, password: str | bytes | None) -> ec.EllipticCurvePrivateKey:
    """Load an ECDSA private key from PEM; a wrong password is a clear error."""
    data = _read(path, "private key")
    if b"SIGSTORE PRIVATE KEY" in data:
        raise KeyFileError(
            f"{path} is in cosign's own key format, which hardbase does not read; "
            "create a key with `hardbase keygen`"
        )
    secret = _password(password)
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    try:
        key = serialization.load_pem_private_key(data, secret if encrypted else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if encrypted:
            raise KeyFileError(
                f"cannot decrypt private key {path}; check the password in {PASSWORD_ENV}"
            ) from None
        raise KeyFileError(f"{path} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{path} is not an ECDSA private key; create one with `hardbase keygen`")
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFileError(f"{path} is not an ECDSA public key")
    return key


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """An ECDSA-SHA256 signature (DER) over `data`."""
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def verify(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
