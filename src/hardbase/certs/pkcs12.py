"""Java trust stores as PKCS#12, written deterministically.

The keystore holds one trusted-certificate entry per CA, the way keytool
writes one: a certBag with a friendlyName (the alias) and Oracle's
trusted-key-usage attribute (2.16.840.1.113894.746875.1.1 =
anyExtendedKeyUsage), without which the JDK does not treat a certificate as
trusted. The certificates are not encrypted (they are public, and a JVM that
opens its default trust store without a password can then read them), and a
MAC (HMAC-SHA-256, RFC 7292 key derivation, 10000 iterations) lets tools check
the store with its password, `changeit` by default.

cryptography's PKCS#12 writer draws random salts and IVs and writes no trust
attribute, so this module writes the structure itself; the MAC salt is derived
from the content, so the same certificates and aliases always give the same
bytes.
"""

from __future__ import annotations

import hashlib
import hmac

from hardbase.certs import der
from hardbase.errors import UsageError

PASSWORD = "changeit"
MAC_ITERATIONS = 10_000
MAX_ITERATIONS = 5_000_000  # the JDK's own limit when it reads a keystore

DATA = "1.2.840.113549.1.7.1"
ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
CERT_BAG = "1.2.840.113549.1.12.10.1.3"
X509_CERT = "1.2.840.113549.1.9.22.1"
FRIENDLY_NAME = "1.2.840.113549.1.9.20"
TRUSTED_KEY_USAGE = "2.16.840.1.113894.746875.1.1"
ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0"
SHA256 = "2.16.840.1.101.3.4.2.1"
SHA1 = "1.3.14.3.2.26"
_DIGESTS = {der.oid(SHA256): "sha256", der.oid(SHA1): "sha1"}


class KeystoreError(UsageError):
    """A keystore cannot be read: not PKCS#12, a wrong password, or encrypted entries."""


def write(entries: list[tuple[str, bytes]], password: str = PASSWORD) -> bytes:
    """A PKCS#12 trust store of (alias, certificate DER) entries, sorted by alias."""
    bags = [_cert_bag(alias, cert) for alias, cert in sorted(entries)]
    safe_contents = der.seq(*bags)
    auth_safe = der.seq(der.seq(der.oid(DATA), der.explicit(0, der.octets(safe_contents))))
    salt = hashlib.sha256(b"hardbase pkcs12 mac salt\0" + auth_safe).digest()[:20]
    key = _kdf(password, salt, 3, MAC_ITERATIONS, "sha256", 32)
    mac = hmac.new(key, auth_safe, "sha256").digest()
    mac_data = der.seq(
        der.seq(der.seq(der.oid(SHA256), der.tlv(der.NULL, b"")), der.octets(mac)),
        der.octets(salt),
        der.integer(MAC_ITERATIONS),
    )
    return der.seq(
        der.integer(3),
        der.seq(der.oid(DATA), der.explicit(0, der.octets(auth_safe))),
        mac_data,
    )


def _cert_bag(alias: str, cert: bytes) -> bytes:
    cert_bag = der.seq(der.oid(X509_CERT), der.explicit(0, der.octets(cert)))
    attributes = der.set_of(
        der.seq(der.oid(FRIENDLY_NAME), der.set_of(der.bmp(alias))),
        der.seq(der.oid(TRUSTED_KEY_USAGE), der.set_of(der.oid(ANY_EXTENDED_KEY_USAGE))),
        sort=False,  # keytool's order
    )
    return der.seq(der.oid(CERT_BAG), der.explicit(0, cert_bag), attributes)


def _kdf(password: str, salt: bytes, purpose: int, rounds: int, digest: str, size: int) -> bytes:
    """RFC 7292 appendix B.2 key derivation (what PKCS#12 MACs use)."""
    v = hashlib.new(digest).block_size
    secret = (password.encode("utf-16-be") + b"\0\0") if password else b""

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        n = v * -(-len(data) // v)
        return (data * (n // len(data) + 1))[:n]

    block = stretch(salt) + stretch(secret)
    out = b""
    while len(out) < size:
        a = bytes([purpose]) * v + block
        for _ in range(rounds):
            a = hashlib.new(digest, a).digest()
        out += a
        b = int.from_bytes(stretch(a), "big")  # A repeated to v bytes
        block = b"".join(
            ((int.from_bytes(block[i : i + v], "big") + b + 1) % (1 << (8 * v))).to_bytes(v, "big")
            for i in range(0, len(block), v)
        )
    return out[:size]


def is_pkcs12(data: bytes) -> bool:
    try:
        pfx = der.read_one(data, der.SEQUENCE)
        first = next(pfx.children())
        return der.to_int(first) == 3
    except (der.DERError, StopIteration):
        return False


def read(
    data: bytes, password: str | None = PASSWORD, where: str = "keystore"
) -> list[tuple[str, bytes]]:
    """The trusted certificates of a PKCS#12 store as (alias, DER).

    The MAC is checked when there is one and a password is given. Certificates
    in encrypted SafeContents are read through cryptography (which needs the
    password); private keys are not read.
    """
    try:
        return _read(data, password, where)
    except der.DERError as exc:
        raise KeystoreError(f"{where} is not a readable PKCS#12 keystore ({exc})") from None


def _read(data: bytes, password: str | None, where: str) -> list[tuple[str, bytes]]:
    parts = der.read_one(data, der.SEQUENCE).child_list()
    if len(parts) < 2 or der.to_int(parts[0]) != 3:
        raise der.DERError("not a PFX version 3")
    auth_safe = _data_content(parts[1])
    if len(parts) > 2 and password is not None:
        _check_mac(parts[2], auth_safe, password, where)
    out: list[tuple[str, bytes]] = []
    for info in der.read_one(auth_safe, der.SEQUENCE).children():
        kind = info.child_list()[0].encoded if info.tag == der.SEQUENCE else b""
        if kind == der.oid(DATA):
            out += _bags(_data_content(info))
        elif kind == der.oid(ENCRYPTED_DATA):
            return _read_encrypted(data, password, where)
        else:
            raise der.DERError("unknown ContentInfo in the AuthenticatedSafe")
    return out


def _data_content(info: der.TLV) -> bytes:
    items = info.child_list()
    if len(items) != 2 or items[0].encoded != der.oid(DATA) or items[1].tag != 0xA0:
        raise der.DERError("expected a data ContentInfo")
    return der.read_one(items[1].value, der.OCTET_STRING).value


def _bags(safe_contents: bytes) -> list[tuple[str, bytes]]:
    out = []
    for bag in der.read_one(safe_contents, der.SEQUENCE).children():
        items = bag.child_list()
        if not items or items[0].encoded != der.oid(CERT_BAG):
            continue  # key bags and others are not trust entries
        alias, trusted = "", False
        if len(items) > 2 and items[2].tag == der.SET:
            for attr in items[2].children():
                attr_id, values = attr.child_list()[:2]
                if attr_id.encoded == der.oid(FRIENDLY_NAME):
                    first = next(values.children())
                    alias = first.value.decode("utf-16-be", errors="replace")
                elif attr_id.encoded == der.oid(TRUSTED_KEY_USAGE):
                    trusted = True
        if not trusted:
            continue  # a certificate of a key entry's chain, not a trusted entry
        cert_bag = der.read_one(items[1].value, der.SEQUENCE).child_list()
        if cert_bag[0].encoded != der.oid(X509_CERT):
            continue
        out.append((alias, der.read_one(cert_bag[1].value, der.OCTET_STRING).value))
    return out


def _check_mac(mac_data: der.TLV, auth_safe: bytes, password: str, where: str) -> None:
    digest_info, salt, *rest = mac_data.child_list()
    algorithm, mac = digest_info.child_list()
    digest = _DIGESTS.get(algorithm.child_list()[0].encoded)
    rounds = der.to_int(rest[0]) if rest else 1
    if digest is None or not 1 <= rounds <= MAX_ITERATIONS:
        raise KeystoreError(f"{where} uses a MAC hardbase does not check")
    size = hashlib.new(digest).digest_size
    key = _kdf(password, salt.value, 3, rounds, digest, size)
    if not hmac.compare_digest(hmac.new(key, auth_safe, digest).digest(), mac.value):
        raise KeystoreError(f"the password of {where} is not '{password}'; the MAC does not match")


def _read_encrypted(data: bytes, password: str | None, where: str) -> list[tuple[str, bytes]]:
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    try:
        loaded = pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise KeystoreError(
            f"cannot decrypt the certificates of {where} with the password '{password}'"
        ) from None
    return [
        ((c.friendly_name or b"").decode("utf-8", errors="replace"),
         c.certificate.public_bytes(Encoding.DER))
        for c in loaded.additional_certs
    ]  # fmt: skip
