"""What one walk kept from one layer, stored by the layer's diff_id, so the next walk
of that layer (a rescan, or another image on the same base) need not read it.

A `LayerRecord` holds every member the walk saw, in order (metadata, whiteouts),
the kept content of wanted files, the inspector's results, the members skipped
and the warnings logged while the layer was read. `oci/filetree.py` replays it
into the merged tree, which then is what streaming the layer would have built.

Entries live in the content-addressed cache under `layer-inventory/KEY/DIFF_ID`,
KEY hashing the format, hardbase's version, the source of the modules that shape
the analysis and the caller's profile (what it keeps), so any change there starts
a new cache. An entry names its format, key and diff_id, lists the compressed
blobs that were checked to uncompress to that diff_id, and ends with the sha256 of
everything before it. A truncated, corrupted, misfiled or malformed entry is
ignored with a warning and rewritten from the layer; it never crashes a walk, and
an entry is used only for a blob it was made from.
"""

from __future__ import annotations

import array
import hashlib
import importlib.util
import json
import logging
import re
import struct
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from hardbase import __version__
from hardbase.util.digest import is_digest
from hardbase.util.fs import DECODE_ERRORS, read_cache_entry, write_atomic

log = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"hardbase-layer-inventory\n"
_CODES = {"file": "f", "dir": "d", "symlink": "l", "hardlink": "h"}
_KINDS = {code: kind for kind, code in _CODES.items()}
# a path as safetar normalises them has no leading `/` and no empty, `.` or `..` part
_UNSAFE = re.compile(r"(?:^|\x00|/)(?:\.\.?)?(?:/|\x00|$)|(?:^|\x00)/")
MAX_ENTRY = 256 << 20  # larger files are not entries this code writes
MAX_BLOBS = 8  # compressed forms of one layer remembered in its entry
_LEN = struct.Struct(">Q")
WHERE = "\x00where\x00"  # stands for the layer's `where` text in a stored warning


class MemberOp(NamedTuple):
    """One member the walk applied: its metadata, whether it was wanted, what was kept."""

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    link: str
    wanted: bool
    content: bytes | None = None
    inspected: bytes | None = None


class WhiteoutOp(NamedTuple):
    path: str
    opaque: bool


Op = MemberOp | WhiteoutOp


@dataclass
class LayerRecord:
    """Everything a walk took from one layer (see the module docstring)."""

    ops: list[Op] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    warnings: list[tuple[str, int, str]] = field(default_factory=list)  # (logger, level, msg)
    blobs: tuple[str, ...] = ()  # compressed digests checked to give this diff_id


def seal(magic: bytes, header: dict[str, Any], *sections: bytes) -> bytes:
    """An entry: `magic`, the length-prefixed JSON header, the sections, and the sha256 of
    all of that (the layer cache's records and the build's listings, `build/listing.py`)."""
    head = json.dumps(header, separators=(",", ":")).encode()
    body = b"".join((magic, _LEN.pack(len(head)), head, *sections))
    return body + hashlib.sha256(body).digest()


def unseal(magic: bytes, data: bytes, what: str) -> tuple[bytes, Any, int]:
    """The checked body of a `seal`ed entry, its JSON header and the offset just past the
    header; ValueError when `data` is not `what`, whole."""
    body, check = data[:-32], data[-32:]
    if len(data) < len(magic) + _LEN.size + 32 or not body.startswith(magic):
        raise ValueError(f"not {what}")
    if hashlib.sha256(body).digest() != check:
        raise ValueError("checksum mismatch (truncated or corrupted)")
    (size,) = _LEN.unpack_from(body, len(magic))
    at = len(magic) + _LEN.size
    if at + size > len(body):
        raise ValueError("header runs past the end")
    return body, json.loads(body[at : at + size]), at + size


def fingerprint(modules: Iterable[ModuleType | str]) -> str:
    """sha256 of the source of `modules` (their names where no source file is found).

    A module may be given by its name: its file is found without importing it.
    """
    digest = hashlib.sha256()
    for module in modules:
        if isinstance(module, str):
            name = module
            spec = importlib.util.find_spec(name)
            path = spec.origin if spec is not None else None
        else:
            name = module.__name__
            path = getattr(module, "__file__", None)
        digest.update(name.encode() + b"\0")
        try:
            digest.update(Path(path).read_bytes() if path else b"")
        except OSError:
            pass
    return digest.hexdigest()


class LayerCache:
    """Layer records of one profile, under `root` (the cache root's `layer-inventory`)."""

    def __init__(self, root: Path, profile: str, *, code: str = "") -> None:
        self.key = hashlib.sha256(
            json.dumps([FORMAT, __version__, code, profile]).encode()
        ).hexdigest()[:32]
        self.dir = root / self.key

    def path(self, diff_id: str) -> Path:
        return self.dir / diff_id.replace(":", "-")

    def load(self, diff_id: str) -> LayerRecord | None:
        """The record of `diff_id`, if a valid one is stored (use it only for a blob in its
        `blobs`: another blob has not been checked to uncompress to `diff_id`)."""
        if not is_digest(diff_id):
            return None
        return read_cache_entry(
            self.path(diff_id), MAX_ENTRY, lambda data: self._decode(data, diff_id),
            cache="layer", instead="reading the layer", errors=(*DECODE_ERRORS, struct.error),
        )  # fmt: skip

    def store(self, diff_id: str, record: LayerRecord) -> None:
        """Write the record of `diff_id` (atomically; a cache that cannot be written is
        skipped)."""
        if not is_digest(diff_id):
            return
        try:
            write_atomic(self.path(diff_id), self._encode(record, diff_id))
        except OSError as exc:
            log.debug("not caching layer %s: %s", diff_id, exc)

    def _encode(self, record: LayerRecord, diff_id: str) -> bytes:
        # columns: op codes (header), NUL-separated paths and links, 9 numbers per op
        # (mode, uid, gid, size, wanted, content offset and length, inspected offset and
        # length; -1 for none), then the kept bytes
        blob = bytearray()

        def put(data: bytes | None) -> tuple[int, int]:
            if data is None:
                return -1, -1
            blob.extend(data)
            return len(blob) - len(data), len(data)

        codes: list[str] = []
        paths: list[str] = []
        links: list[str] = []
        numbers = array.array("q")
        for op in record.ops:
            paths.append(op.path)
            if isinstance(op, WhiteoutOp):
                codes.append("o" if op.opaque else "w")
                links.append("")
                numbers.extend((0, 0, 0, 0, 0, -1, -1, -1, -1))
            else:
                codes.append(_CODES[op.kind])
                links.append(op.link)
                numbers.extend((op.mode, op.uid, op.gid, op.size, int(op.wanted),
                                *put(op.content), *put(op.inspected)))  # fmt: skip
        path_bytes = "\0".join(paths).encode("utf-8", "surrogateescape")
        link_bytes = "\0".join(links).encode("utf-8", "surrogateescape")
        number_bytes = numbers.tobytes()
        header = {
            "format": FORMAT,
            "key": self.key,
            "diff_id": diff_id,
            "blobs": list(record.blobs),
            "ops": "".join(codes),
            "sections": [len(path_bytes), len(link_bytes), len(number_bytes)],
            "skipped": [list(s) for s in record.skipped],
            "warnings": [list(w) for w in record.warnings],
        }
        return seal(MAGIC, header, path_bytes, link_bytes, number_bytes, bytes(blob))

    def _decode(self, data: bytes, diff_id: str) -> LayerRecord:
        body, header, at = self._frame(data, diff_id)
        codes, paths, links, numbers, blob = _sections(body, at, header)
        record = LayerRecord(blobs=tuple(_strs(header["blobs"])))
        if not all(is_digest(b) for b in record.blobs):
            raise ValueError("a blob digest is malformed")
        record.ops.extend(_ops(codes, paths, links, numbers, blob))
        for item in header["skipped"]:
            name, reason = _strs(item)
            record.skipped.append((name, reason))
        for item in header["warnings"]:
            record.warnings.append(_warning(item))
        return record

    def _frame(self, data: bytes, diff_id: str) -> tuple[bytes, Any, int]:
        """The checked body, its JSON header and the offset just past the header."""
        body, header, at = unseal(MAGIC, data, "a layer cache entry")
        if header["format"] != FORMAT or header["key"] != self.key:
            raise ValueError("made by another format or profile")
        if header["diff_id"] != diff_id:
            raise ValueError(f"it describes {header['diff_id']}, not {diff_id}")
        return body, header, at


def _sections(
    body: bytes, at: int, header: Any
) -> tuple[str, list[str], list[str], array.array[int], memoryview]:
    """The operation codes, paths, link targets, numbers and content blob, checked."""
    codes = header["ops"]
    path_len, link_len, number_len = _ints(header["sections"], 3)
    if not isinstance(codes, str) or at + path_len + link_len + number_len > len(body):
        raise ValueError("malformed sections")
    paths = body[at : at + path_len].decode("utf-8", "surrogateescape").split("\0")
    at += path_len
    links = body[at : at + link_len].decode("utf-8", "surrogateescape").split("\0")
    at += link_len
    numbers = array.array("q")
    numbers.frombytes(body[at : at + number_len])
    blob = memoryview(body)[at + number_len :]
    n = len(codes)
    if not n:
        paths = links = []
    if len(paths) != n or len(links) != n or len(numbers) != 9 * n:
        raise ValueError("the sections do not match the operations")
    checked = (p for p, c in zip(paths, codes, strict=True) if p or c != "o")  # "": root
    if _UNSAFE.search("\0".join(checked)):
        raise ValueError("an unsafe path")
    if n and min(min(numbers[i::9]) for i in range(5)) < 0:
        raise ValueError("a negative size or id")
    return codes, paths, links, numbers, blob


def _ops(
    codes: str, paths: list[str], links: list[str], numbers: array.array[int], blob: memoryview
) -> list[Op]:
    def get(offset: int, length: int) -> bytes | None:
        if offset == -1 and length == -1:
            return None
        if offset < 0 or length < 0 or offset + length > len(blob):
            raise ValueError("content outside the entry")
        return bytes(blob[offset : offset + length])

    ops: list[Op] = []
    for i, code in enumerate(codes):
        if code in "wo":
            ops.append(WhiteoutOp(paths[i], code == "o"))
            continue
        kind = _KINDS.get(code)
        if kind is None:
            raise ValueError(f"unknown operation {code!r}")
        mode, uid, gid, size, wanted, coff, clen, ioff, ilen = numbers[9 * i : 9 * i + 9]
        content = None if clen == -1 and coff == -1 else get(coff, clen)
        inspected = None if ilen == -1 and ioff == -1 else get(ioff, ilen)
        ops.append(MemberOp(paths[i], kind, mode, uid, gid, size, links[i], wanted == 1,
                            content, inspected))  # fmt: skip
    return ops


def _warning(item: Any) -> tuple[str, int, str]:
    if not isinstance(item, list) or len(item) != 3:
        raise ValueError("malformed warning")
    name, level, message = item
    if not (isinstance(name, str) and isinstance(message, str)):
        raise ValueError("malformed warning")
    return (name, _ints([level], 1)[0], message)


def _ints(values: Any, n: int) -> list[int]:
    if not isinstance(values, list) or len(values) != n:
        raise ValueError("malformed numbers")
    if not all(type(v) is int and v >= 0 for v in values):
        raise ValueError("malformed numbers")
    return values


def _strs(values: Any) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("malformed strings")
    return values


class _Capture(logging.Handler):
    def __init__(self, where: str) -> None:
        super().__init__(logging.WARNING)
        self.where = where
        self.thread = threading.get_ident()
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            message = record.getMessage().replace(self.where, WHERE)
            self.records.append((record.name, record.levelno, message))


@contextmanager
def capture_warnings(where: str) -> Iterator[list[tuple[str, int, str]] | None]:
    """The warnings hardbase logs in this thread during the block (None when warnings are
    not enabled, so what would be logged cannot be known: the layer is then not cached)."""
    root = logging.getLogger("hardbase")
    if not root.isEnabledFor(logging.WARNING):
        yield None
        return
    handler = _Capture(where)
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


def replay_warnings(record: LayerRecord, where: str) -> None:
    """Log again what reading the layer logged, naming the layer as it is seen now."""
    for name, level, message in record.warnings:
        logging.getLogger(name).log(level, "%s", message.replace(WHERE, where))
