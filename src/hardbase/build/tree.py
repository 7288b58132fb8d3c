"""The image tree: entries read from .deb data archives, keyed by path.

Paths are relative and normalised ("usr/bin/python3"), with the merged-/usr
layout applied: what a package ships under /bin, /sbin or /lib lands in /usr.
Small payloads are kept in memory; a payload over SPOOL_OVER is copied in
chunks to its package's `Spool` (an unnamed temp file in the cache) and read
back the same way, so memory does not grow with a member's size.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import IO

from hardbase.util.paths import cache_dir

REG, DIR, SYMLINK = "file", "dir", "symlink"
MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
SPOOL_OVER = 1 << 20  # payloads larger than this go to a spool file
CHUNK = 1 << 20


class Spool:
    """An unnamed temp file holding the large payloads of one package, read back by offset.

    One thread appends (the package's reader); any number read (`os.pread`).
    The file has no name (O_TMPFILE where the filesystem has it), so it is gone
    when the last payload referring to it is.
    """

    def __init__(self) -> None:
        where = cache_dir() / "spool"
        where.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=where)
        self._end = 0

    def append(self, source: IO[bytes], size: int) -> Payload:
        """Copy `size` bytes of `source` in chunks; EOFError if it ends sooner."""
        digest = hashlib.sha256()
        offset, left = self._end, size
        while left:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise EOFError(f"payload ended {left} bytes early")
            self._file.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
        self._file.flush()
        self._end += size
        return Payload(self, offset, size, digest.hexdigest())

    def read(self, offset: int, size: int) -> bytes:
        return os.pread(self._file.fileno(), size, offset)


@dataclass(frozen=True)
class Payload:
    """A spooled payload: equal to another when size and sha256 are."""

    spool: Spool = field(compare=False, repr=False)
    offset: int = field(compare=False)
    size: int
    sha256: str

    def chunks(self) -> Iterator[bytes]:
        done = 0
        while done < self.size:
            chunk = self.spool.read(self.offset + done, min(CHUNK, self.size - done))
            if not chunk:
                raise EOFError("the spool file is shorter than its payload")
            done += len(chunk)
            yield chunk

    def open(self) -> IO[bytes]:
        return io.BufferedReader(_PayloadReader(self), CHUNK)


class _PayloadReader(io.RawIOBase):
    def __init__(self, payload: Payload) -> None:
        self._payload = payload
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._payload.size - self._pos)
        if n <= 0:
            return 0
        data = self._payload.spool.read(self._payload.offset + self._pos, n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


@dataclass(frozen=True)
class Entry:
    path: str
    kind: str
    mode: int
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    data: bytes = b""
    target: str = ""  # symlink target
    owner: str = ""  # package (or "hardbase") that put it there
    payload: Payload | None = None  # a large file's content, instead of `data`

    def with_owner(self, owner: str) -> Entry:
        return replace(self, owner=owner)

    @property
    def size(self) -> int:
        return self.payload.size if self.payload is not None else len(self.data)

    def open(self) -> IO[bytes]:
        """The content as a stream, read in chunks when spooled."""
        return self.payload.open() if self.payload is not None else io.BytesIO(self.data)

    def content(self) -> bytes:
        """The whole content, for the small files that are parsed (certificates, control)."""
        if self.payload is None:
            return self.data
        return b"".join(self.payload.chunks())


def normalize(name: str) -> str | None:
    """A tar member name as a clean relative path; None for the root or a hostile name."""
    if "\x00" in name or name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return merged_usr("/".join(parts))


def merged_usr(path: str) -> str:
    head, sep, rest = path.partition("/")
    if head in MERGED and sep:
        return f"usr/{head}/{rest}"
    return path


def parents(path: str) -> list[str]:
    """Ancestor directories of `path`, outermost first."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
