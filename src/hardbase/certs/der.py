"""The little DER that trust stores need: read a TLV, write one.

Only definite lengths (DER has no other), tags up to 30 (one byte), and
lengths that fit the input: anything else is a `DERError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hardbase.errors import UsageError

INTEGER, OCTET_STRING, NULL, OID = 0x02, 0x04, 0x05, 0x06
UTF8_STRING, BMP_STRING = 0x0C, 0x1E
SEQUENCE, SET = 0x30, 0x31


class DERError(UsageError):
    """Bytes that should be DER are not."""


@dataclass(frozen=True)
class TLV:
    tag: int
    data: bytes  # the whole buffer the value lives in
    start: int  # first byte of the value
    end: int  # one past the last byte of the value
    header: int  # first byte of the tag

    @property
    def value(self) -> bytes:
        return self.data[self.start : self.end]

    @property
    def encoded(self) -> bytes:
        """The whole TLV, tag and length included."""
        return self.data[self.header : self.end]

    def children(self) -> Iterator[TLV]:
        """The TLVs inside a constructed value, in order."""
        offset = self.start
        while offset < self.end:
            child = read(self.data, offset, self.end)
            yield child
            offset = child.end

    def child_list(self) -> list[TLV]:
        return list(self.children())


def read(data: bytes, offset: int = 0, limit: int | None = None) -> TLV:
    """The TLV at `offset`; it must end at or before `limit` (default: the end of data)."""
    end_of = len(data) if limit is None else limit
    if offset + 2 > end_of:
        raise DERError("DER value is truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError("DER value has a multi-byte tag")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end_of:
            raise DERError("DER value has a bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end_of:
        raise DERError("DER value is longer than its container")
    return TLV(tag, data, pos, pos + length, offset)


def read_one(data: bytes, tag: int) -> TLV:
    """`data` as exactly one TLV with `tag`."""
    tlv = read(data)
    if tlv.tag != tag or tlv.end != len(data):
        raise DERError(f"expected one DER value with tag 0x{tag:02x}")
    return tlv


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes, sort: bool = True) -> bytes:
    """A SET OF; DER orders its members by their encodings."""
    return tlv(SET, b"".join(sorted(items) if sort else items))


def explicit(number: int, content: bytes) -> bytes:
    """A context-specific constructed tag [number] around `content`."""
    return tlv(0xA0 | number, content)


def integer(value: int) -> bytes:
    size = value.bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def octets(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def bmp(value: str) -> bytes:
    return tlv(BMP_STRING, value.encode("utf-16-be"))


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def to_int(value: TLV) -> int:
    if value.tag != INTEGER or not value.value:
        raise DERError("expected a DER INTEGER")
    return int.from_bytes(value.value, "big", signed=True)
