"""ECDSA P-256 signing keys: generate, store as PEM, load, sign and verify.

Private keys are written in cosign's own format by default (`ENCRYPTED
SIGSTORE PRIVATE KEY`, scrypt + NaCl secretbox: cosignkey.py), so cosign signs
with a hardbase key and hardbase with a cosign key; or as PKCS#8 PEM
(`ENCRYPTED PRIVATE KEY`, PBES2 with AES-256-CBC; plain `PRIVATE KEY` only
when the caller asks for an unencrypted key). All of these are read. The
password is HARDBASE_KEY_PASSWORD, else COSIGN_PASSWORD. A key file is never
overwritten, and loading one that its group or others can read logs a warning.
Public keys are SubjectPublicKeyInfo PEM (`PUBLIC KEY`), the same as `cosign.pub`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hardbase.attest import cosignkey
from hardbase.attest.names import COSIGN_PASSWORD_ENV, KEY_FORMATS, PASSWORD_ENV, KeyFormat
from hardbase.attest.names import password_from_env as password_from_env
from hardbase.errors import SignatureError, UsageError
from hardbase.util.fs import write_new

log = logging.getLogger(__name__)

PASSWORD_HELP = f"{PASSWORD_ENV} (or {COSIGN_PASSWORD_ENV})"
MAX_KEY_FILE = 64 << 10

# Decrypted keys by (file bytes, password) digest: a build signs and attests with one key
# several times, and each scrypt of a cosign key takes a quarter of a second.
_loaded: dict[str, ec.EllipticCurvePrivateKey] = {}
_loaded_lock = threading.Lock()


class KeyFileError(SignatureError):
    """A key file is missing, unreadable, of the wrong kind, or its password is wrong."""


def _password_source() -> str:
    return next((n for n in (PASSWORD_ENV, COSIGN_PASSWORD_ENV) if os.environ.get(n)), PASSWORD_ENV)


def _password(password: str | bytes | None) -> bytes:
    if password is None:
        return b""
    return password.encode() if isinstance(password, str) else password


def generate_keypair(
    password: str | bytes | None, key_format: KeyFormat = "cosign", *, unencrypted: bool = False
) -> tuple[bytes, bytes]:
    """A new key pair as (private PEM, public PEM).

    `cosign`: cosign's encrypted format (with an empty password when `unencrypted`,
    as `cosign generate-key-pair` writes one); `pkcs8`: PKCS#8 PEM, encrypted when
    there is a password.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    secret = _password(password)
    if key_format == "cosign":
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cosignkey.seal(der, b"" if unencrypted else secret), public_pem(key.public_key())
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
    prefix: Path,
    password: str | bytes | None,
    *,
    unencrypted: bool = False,
    key_format: KeyFormat = "cosign",
) -> tuple[Path, Path]:
    """Write PREFIX.key (mode 0600) and PREFIX.pub, never replacing an existing file.

    An empty password writes a key anyone can open (cosign format with an empty
    password; PKCS#8 in the clear), which happens only when the caller asks for
    it with `unencrypted`.
    """
    if key_format not in KEY_FORMATS:  # a caller that is not type-checked
        raise UsageError(f"key format {key_format!r} is not one of {', '.join(KEY_FORMATS)}")
    secret = _password(password)
    if not secret and not unencrypted:
        raise UsageError(
            f"{PASSWORD_HELP} is empty, so the private key would be written unencrypted; "
            f"set a password in {PASSWORD_ENV}, or pass --no-password to write it in the clear"
        )
    if secret and unencrypted:
        raise UsageError(
            f"--no-password was given but {_password_source()} is set; unset one of them"
        )
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    for path in (key_path, pub_path):
        if path.exists() or path.is_symlink():
            raise UsageError(
                f"{path} already exists and hardbase never overwrites a key; "
                "move it away or choose another --output-prefix"
            )
    private_pem, pub = generate_keypair(secret, key_format, unencrypted=unencrypted)
    written: list[Path] = []
    try:
        for path, data, mode in ((key_path, private_pem, 0o600), (pub_path, pub, 0o644)):
            write_new(path, data, mode=mode)
            written.append(path)
    except FileExistsError as exc:
        for path in written:
            path.unlink()
        raise UsageError(
            f"{exc.filename} appeared while the key pair was written; nothing was kept"
        ) from None
    except OSError as exc:
        for path in written:
            path.unlink()
        raise UsageError(f"cannot write the key pair at {prefix} ({exc.strerror})") from None
    return key_path, pub_path


def warn_if_exposed(path: Path) -> None:
    """Log a warning when a private key file can be read by its group or others."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    readers = [who for bits, who in ((0o070, "its group"), (0o007, "others")) if mode & bits]
    if readers:
        log.warning(
            "private key %s is readable by %s (mode %04o); restrict it with `chmod 600 %s`",
            path,
            " and ".join(readers),
            mode & 0o777,
            path,
        )


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
    """Load an ECDSA private key (cosign's format or PEM); a wrong password is a clear error."""
    data = _read(path, "private key")
    warn_if_exposed(path)
    secret = _password(password)
    cache_key = hashlib.sha256(
        hashlib.sha256(data).digest() + hashlib.sha256(secret).digest()
    ).hexdigest()
    with _loaded_lock:
        cached = _loaded.get(cache_key)
    if cached is not None:
        return cached
    key = _load_cosign(path, data, secret) if cosignkey.is_cosign_key(data) else None
    if key is None:
        key = _load_pem(path, data, secret)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{path} is not an ECDSA private key; create one with `hardbase keygen`")
    with _loaded_lock:
        _loaded[cache_key] = key
    return key


def _load_cosign(path: Path, data: bytes, secret: bytes) -> object:
    try:
        der = cosignkey.unseal(data, secret)
    except cosignkey.WrongPassword:
        raise KeyFileError(
            f"cannot decrypt the cosign private key {path}: the password is wrong; "
            f"check {PASSWORD_HELP}"
        ) from None
    except cosignkey.Malformed as exc:
        raise KeyFileError(f"{path} is not a readable cosign private key: {exc}") from None
    try:
        return serialization.load_der_private_key(der, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"the cosign private key {path} holds no PKCS#8 key") from None


def _load_pem(path: Path, data: bytes, secret: bytes) -> object:
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    try:
        return serialization.load_pem_private_key(data, secret if encrypted else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if encrypted and b"-----END ENCRYPTED PRIVATE KEY-----" in data:
            raise KeyFileError(
                f"cannot decrypt private key {path}; check the password in {PASSWORD_HELP}"
            ) from None
        raise KeyFileError(
            f"{path} is not a PEM private key (or the file is truncated); "
            "create one with `hardbase keygen`"
        ) from None


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
