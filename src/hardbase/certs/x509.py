"""X.509 certificates as trust stores hold them: PEM blocks, DER bytes, subject hashes.

A certificate is kept as its DER bytes, never re-encoded, so a bundle, a hash
link and a keystore entry of one CA hold the same bytes. `subject_hash` is
OpenSSL's `X509_NAME_hash` (what `openssl x509 -hash` prints and what
`/etc/ssl/certs/HASH.0` links are named after).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from hardbase.certs import der
from hardbase.errors import UsageError

MAX_CERT_FILE = 4 << 20
_PEM = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s*(?P<body>[A-Za-z0-9+/=\s]*?)\s*-----END CERTIFICATE-----"
)
# ASN.1 string types OpenSSL canonicalises (ASN1_MASK_CANON): UTF8, Printable,
# T61, IA5, Visible, Universal, BMP.
_CANON = {0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1A: "latin-1",
          0x1C: "utf-32-be", 0x1E: "utf-16-be"}  # fmt: skip
_SPACE = b" \t\n\v\f\r"


@dataclass(frozen=True)
class Cert:
    """One certificate: its DER bytes and the name it goes by in file names and aliases."""

    der: bytes
    name: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    def pem(self) -> bytes:
        return to_pem(self.der)


def to_pem(data: bytes) -> bytes:
    body = base64.b64encode(data)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def pem_blocks(data: bytes) -> list[bytes]:
    """The DER bytes of every CERTIFICATE block in `data`, in order."""
    out = []
    for match in _PEM.finditer(data):
        try:
            out.append(base64.b64decode(re.sub(rb"\s+", b"", match.group("body")), validate=True))
        except binascii.Error:
            continue
    return out


def load_cert_files(paths: list[Path]) -> list[Cert]:
    """PEM certificates from files, each checked to be X.509; bad input is a UsageError.

    A file with several certificates gives several, named FILE-STEM, FILE-STEM-2, ….
    """
    from cryptography import x509

    out: list[Cert] = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_CERT_FILE:
                raise UsageError(f"{path} is too large to be a PEM certificate file")
            data = path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"certificate file {path} does not exist") from None
        except OSError as exc:
            raise UsageError(f"cannot read certificate file {path} ({exc.strerror})") from None
        blocks = pem_blocks(data)
        if not blocks:
            raise UsageError(
                f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
                "convert a DER file with `openssl x509 -inform der -in FILE -out FILE.pem`"
            )
        stem = safe_name(path.name.removesuffix(".pem").removesuffix(".crt"))
        for i, block in enumerate(blocks):
            try:
                x509.load_der_x509_certificate(block)
                subject_hash(block)
            except (ValueError, UsageError):
                raise UsageError(
                    f"certificate {i + 1} in {path} is not a valid X.509 certificate"
                ) from None
            out.append(Cert(block, stem if i == 0 else f"{stem}-{i + 1}"))
    return out


def safe_name(text: str) -> str:
    """A file-name-safe form of `text` (letters, digits, '.', '_', '-')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return name or "cert"


def _tbs_fields(cert_der: bytes) -> list[der.TLV]:
    cert = der.read_one(cert_der, der.SEQUENCE)
    tbs = next(cert.children(), None)
    if tbs is None or tbs.tag != der.SEQUENCE:
        raise der.DERError("certificate has no TBSCertificate")
    fields = tbs.child_list()
    if fields and fields[0].tag == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 6:
        raise der.DERError("TBSCertificate is too short")
    return fields  # serial, signature, issuer, validity, subject, spki, …


def subject_der(cert_der: bytes) -> bytes:
    return _tbs_fields(cert_der)[4].encoded


def subject_hash(cert_der: bytes) -> str:
    """OpenSSL's subject name hash of a certificate, as 8 lowercase hex digits."""
    name = der.read_one(subject_der(cert_der), der.SEQUENCE)
    canon = b""
    for rdn in name.children():
        if rdn.tag != der.SET:
            raise der.DERError("Name holds something other than a SET")
        canon += der.set_of(*(_canon_atv(atv) for atv in rdn.children()))
    digest = hashlib.sha1(canon).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _canon_atv(atv: der.TLV) -> bytes:
    parts = atv.child_list()
    if atv.tag != der.SEQUENCE or len(parts) != 2 or parts[0].tag != der.OID:
        raise der.DERError("bad AttributeTypeAndValue in a Name")
    kind, value = parts
    codec = _CANON.get(value.tag)
    if codec is None:
        return der.seq(kind.encoded, value.encoded)
    try:
        text = value.value.decode(codec).encode("utf-8")
    except UnicodeDecodeError:
        raise der.DERError("undecodable string in a Name") from None
    return der.seq(kind.encoded, der.tlv(der.UTF8_STRING, _canon_text(text)))


def _canon_text(text: bytes) -> bytes:
    """OpenSSL's asn1_string_canon: trim, fold runs of space to one, lowercase ASCII."""
    text = text.strip(_SPACE)
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c in _SPACE:
            out.append(0x20)
            while i < len(text) and text[i] in _SPACE:
                i += 1
            continue
        out.append(c + 32 if 0x41 <= c <= 0x5A else c)
        i += 1
    return bytes(out)


_CN, _O = der.oid("2.5.4.3"), der.oid("2.5.4.10")


def label(cert_der: bytes) -> str:
    """A file-name-safe label for a certificate: its subject CN, else O, else its hash."""
    found: dict[bytes, str] = {}
    try:
        for rdn in der.read_one(subject_der(cert_der), der.SEQUENCE).children():
            for atv in rdn.children():
                kind, value = atv.child_list()[:2]
                codec = _CANON.get(value.tag)
                if codec and kind.encoded in (_CN, _O):
                    found.setdefault(kind.encoded, value.value.decode(codec, errors="replace"))
    except (der.DERError, ValueError):
        pass
    text = found.get(_CN) or found.get(_O)
    return safe_name(text) if text else hashlib.sha256(cert_der).hexdigest()[:16]
