"""Java's own keystore format (JKS), read and written for trusted-certificate entries.

Older JDKs (Temurin before 18, Java 8) ship `lib/security/cacerts` as JKS:
magic 0xFEEDFEED, version 2, entries (tag 2 = trusted certificate: alias,
timestamp, type, DER), then SHA-1 over the password (UTF-16BE), the words
"Mighty Aphrodite" and the content. hardbase writes entries sorted by alias
with a fixed timestamp, so the same certificates give the same bytes.
"""

from __future__ import annotations

import hashlib
import struct

from hardbase.certs.pkcs12 import PASSWORD, KeystoreError

MAGIC = b"\xfe\xed\xfe\xed"
_WHITENER = b"Mighty Aphrodite"
_PRIVATE_KEY, _TRUSTED_CERT = 1, 2


def is_jks(data: bytes) -> bool:
    return data[:4] == MAGIC


def _digest(password: str, body: bytes) -> bytes:
    return hashlib.sha1(password.encode("utf-16-be") + _WHITENER + body).digest()


class _Reader:
    def __init__(self, data: bytes, where: str) -> None:
        self.data, self.pos, self.where = data, 0, where

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise KeystoreError(f"{self.where} is a truncated JKS keystore")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def utf(self) -> str:
        return self.take(self.u16()).decode("utf-8", errors="replace")


def read(
    data: bytes, password: str | None = PASSWORD, where: str = "keystore"
) -> list[tuple[str, bytes]]:
    """The trusted certificates of a JKS keystore as (alias, DER); key entries are skipped."""
    r = _Reader(data, where)
    if r.take(4) != MAGIC or r.u32() not in (1, 2):
        raise KeystoreError(f"{where} is not a JKS keystore")
    version = struct.unpack(">I", data[4:8])[0]
    out = []
    for _ in range(r.u32()):
        tag = r.u32()
        alias = r.utf()
        r.take(8)  # timestamp
        if tag == _TRUSTED_CERT:
            if version == 2:
                r.utf()  # certificate type, "X.509"
            out.append((alias, r.take(r.u32())))
        elif tag == _PRIVATE_KEY:
            r.take(r.u32())
            for _ in range(r.u32()):
                if version == 2:
                    r.utf()
                r.take(r.u32())
        else:
            raise KeystoreError(f"{where} has a JKS entry of unknown kind {tag}")
    body = data[: r.pos]
    if password is not None and r.take(20) != _digest(password, body):
        raise KeystoreError(
            f"the password of {where} is not '{password}'; its digest does not match"
        )
    return out


def write(entries: list[tuple[str, bytes]], password: str = PASSWORD) -> bytes:
    """A JKS keystore of trusted (alias, DER) entries, sorted by alias, timestamps 0."""
    body = bytearray(MAGIC + struct.pack(">II", 2, len(entries)))
    for alias, cert in sorted(entries):
        name = alias.encode("utf-8")
        body += struct.pack(">IH", _TRUSTED_CERT, len(name)) + name + struct.pack(">Q", 0)
        body += struct.pack(">H", 5) + b"X.509" + struct.pack(">I", len(cert)) + cert
    return bytes(body) + _digest(password, bytes(body))
