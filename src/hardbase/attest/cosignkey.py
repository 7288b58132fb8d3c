"""cosign's encrypted private key file: `ENCRYPTED SIGSTORE PRIVATE KEY`.

The PEM body is a JSON document (go-securesystemslib's `encrypted` format):

    {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": B64},
     "cipher": {"name": "nacl/secretbox", "nonce": B64},
     "ciphertext": B64}

The secretbox key is scrypt(password, salt, N, r, p) of 32 bytes; the sealed
plaintext is the PKCS#8 DER private key. `cosign generate-key-pair` writes
this; older cosign wrote the same body as `ENCRYPTED COSIGN PRIVATE KEY`.
An empty password is a valid password (cosign accepts it too).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
PEM_TYPES = (PEM_TYPE, "ENCRYPTED COSIGN PRIVATE KEY")
SCRYPT = {"N": 1 << 16, "r": 8, "p": 1}  # what cosign writes
SALT_SIZE = 32
NONCE_SIZE = 24
KEY_SIZE = 32
# A key file decides how much work and memory scrypt takes: bound it (cosign writes N=2^16).
MAX_N = 1 << 20
MAX_R = 32
MAX_P = 16
MAX_SCRYPT_MEMORY = 1 << 30


class Malformed(ValueError):
    """The file is not a readable cosign key; the text says what is wrong."""


class WrongPassword(ValueError):
    """The secretbox does not open with this password."""


def is_cosign_key(data: bytes) -> bool:
    return any(f"-----BEGIN {kind}-----".encode() in data for kind in PEM_TYPES)


def seal(der: bytes, password: bytes) -> bytes:
    """The PEM file cosign writes for the PKCS#8 DER key `der`."""
    from nacl.secret import SecretBox

    salt, nonce = os.urandom(SALT_SIZE), os.urandom(NONCE_SIZE)
    box = SecretBox(_derive(password, salt, SCRYPT["N"], SCRYPT["r"], SCRYPT["p"]))
    ciphertext = box.encrypt(der, nonce).ciphertext
    doc = {
        "kdf": {"name": "scrypt", "params": dict(SCRYPT), "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }
    body = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    armour = [f"-----BEGIN {PEM_TYPE}-----", *lines, f"-----END {PEM_TYPE}-----", ""]
    return "\n".join(armour).encode()


def unseal(data: bytes, password: bytes) -> bytes:
    """The PKCS#8 DER key inside a cosign key file; Malformed or WrongPassword otherwise."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    doc = _document(_pem_body(data))
    try:
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = kdf["params"]
        n, r, p = params["N"], params["r"], params["p"]
        salt = _unb64(kdf["salt"], "salt")
        nonce = _unb64(cipher["nonce"], "nonce")
        ciphertext = _unb64(doc["ciphertext"], "ciphertext")
        names = (kdf["name"], cipher["name"])
    except (KeyError, TypeError):
        raise Malformed("it lacks the kdf, cipher or ciphertext fields of a cosign key") from None
    if names != ("scrypt", "nacl/secretbox"):
        raise Malformed(f"its kdf/cipher are {names[0]!r}/{names[1]!r}, not scrypt/nacl/secretbox")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)):
        raise Malformed("its scrypt parameters are not integers")
    if not (1 < n <= MAX_N and n & (n - 1) == 0 and 0 < r <= MAX_R and 0 < p <= MAX_P):
        raise Malformed(f"its scrypt parameters N={n} r={r} p={p} are out of range")
    if len(nonce) != NONCE_SIZE or not salt or len(ciphertext) <= 16:
        raise Malformed("its nonce, salt or ciphertext has the wrong size")
    try:
        return SecretBox(_derive(password, salt, n, r, p)).decrypt(ciphertext, nonce)
    except CryptoError:
        raise WrongPassword("the password does not open the key") from None


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    memory = 128 * r * (n + p + 2)
    if memory > MAX_SCRYPT_MEMORY:
        raise Malformed(f"its scrypt parameters N={n} r={r} p={p} need too much memory")
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=memory + (1 << 20),
                          dklen=KEY_SIZE)  # fmt: skip


def _pem_body(data: bytes) -> bytes:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise Malformed("it is not a PEM text file") from None
    lines = [line.strip() for line in text.strip().splitlines()]
    kinds = [k for k in PEM_TYPES if lines and lines[0] == f"-----BEGIN {k}-----"]
    if not kinds:
        raise Malformed("it does not start with a cosign PEM header")
    if lines[-1] != f"-----END {kinds[0]}-----":
        raise Malformed("its PEM block has no END line (the file is truncated)")
    body = "".join(lines[1:-1])
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("its PEM body is not base64 (the file is damaged)") from None


def _document(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Malformed("its PEM body is not a cosign key's JSON (the file is damaged)") from None
    if not isinstance(doc, dict):
        raise Malformed("its PEM body is not a JSON object")
    return doc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise Malformed(f"its {what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"its {what} is not base64") from None
