"""Reading untrusted layer tars: decompression by magic bytes, limits, hostile members.

A layer from someone else's image is input from outside. `LayerReader` streams it
once, never touches the disk, and yields only members that are safe to reason
about: hostile ones (`..`, absolute names, escaping links, devices, fifos, NULs,
oversized files) are skipped with a warning and counted, while a corrupt or
truncated stream, or one that expands past the size limit, fails with ImageError.
"""

from __future__ import annotations

import bz2
import collections
import functools
import gzip
import hashlib
import io
import logging
import lzma
import tarfile
import weakref
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal, cast

from hardbase.errors import HardbaseError, ImageError
from hardbase.util.digest import Digest

log = logging.getLogger(__name__)

Kind = Literal["file", "dir", "symlink", "hardlink"]
Compression = Literal["gzip", "zstd", "xz", "bzip2", "none"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"

_CHUNK = 1 << 20
_MAX_WARNINGS = 20  # per layer; the rest are only counted


@functools.cache
def _igzip() -> Any:
    """isal's gzip module (several times faster than zlib's, the same streams), or None.

    isal and zstandard are imported when a layer is first decompressed: a scan
    answered from the layer cache reads none and does not pay for their import.
    """
    try:
        from isal import igzip
    except ImportError:  # pragma: no cover - isal is a dependency, but optional in spirit
        return None
    return igzip


@functools.cache
def _stream_errors() -> tuple[type[BaseException], ...]:
    """Errors that decompressors and tarfile raise on bad input; ours pass through.

    Called in `except` clauses, so only once an exception is being matched.
    """
    import zstandard

    gzip_errors: tuple[type[BaseException], ...] = ()
    if _igzip() is not None:
        from isal.igzip_lib import IsalError

        gzip_errors = (cast(type[BaseException], IsalError),)
    return (
        tarfile.TarError,
        EOFError,
        OSError,
        zlib.error,
        lzma.LZMAError,
        zstandard.ZstdError,
        ValueError,
        *gzip_errors,
    )


@dataclass(frozen=True)
class Limits:
    """How much an untrusted layer may expand to."""

    max_total: int = 8 << 30  # bytes of uncompressed tar per layer
    max_file: int = 4 << 30  # bytes in one member; larger members are skipped
    max_members: int = 4_000_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Member:
    """A tar member that passed the checks, with its name normalised (`usr/bin/x`)."""

    path: str
    kind: Kind
    mode: int  # permission bits, setuid/setgid/sticky included
    uid: int
    gid: int
    size: int
    link: str = ""  # symlink target as written; hardlink target normalised
    mtime: int = 0


@dataclass(frozen=True)
class Skipped:
    """A member left out because it is hostile or unsupported."""

    where: str
    name: str
    reason: str


def detect_compression(head: bytes) -> Compression:
    """The compression of a stream, from its first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    return "none"


def normalize_name(name: str) -> tuple[str, str]:
    """`(path, problem)`: `./usr//bin/` gives `("usr/bin", "")`; a hostile name gives a problem.

    The root itself normalises to `""`.
    """
    if "\x00" in name:
        return "", "name contains a NUL byte"
    if name.startswith("/"):
        return "", "absolute name"
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return "", "name has a '..' component"
        parts.append(part)
    return "/".join(parts), ""


def link_escapes(path: str, target: str) -> bool:
    """True when symlink `path` -> `target`, resolved inside the image, leaves its root.

    Absolute targets are resolved against the image root, so they stay inside;
    relative ones may not climb above it.
    """
    if target.startswith("/"):
        return False
    stack = path.split("/")[:-1]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return True
            stack.pop()
        else:
            stack.append(part)
    return False


def open_decompressed(raw: IO[bytes], where: str) -> tuple[Compression, IO[bytes]]:
    """Detect the compression of `raw` by magic bytes and return a decompressing stream."""
    try:
        head = _read_exact(raw, 6)
    except HardbaseError:
        raise
    except _stream_errors() as exc:
        raise ImageError(f"{where} could not be read; fetch the image again") from exc
    kind = detect_compression(head)
    stream = cast(IO[bytes], _Prefixed(head, raw))
    if kind == "gzip":
        igzip = _igzip()
        if igzip is not None:
            return kind, cast(IO[bytes], igzip.GzipFile(fileobj=stream, mode="rb"))
        return kind, cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))
    if kind == "zstd":
        return kind, cast(IO[bytes], _ZstdReader(stream, where))
    if kind == "xz":
        return kind, lzma.LZMAFile(stream)
    if kind == "bzip2":
        return kind, bz2.BZ2File(stream)
    return kind, stream


class LayerReader:
    """Streams one layer tar once and yields its safe members.

    Iterate it for `Member`s; during an iteration step, `read()` returns the
    current member's content. After the iteration `diff_id`, `expanded` and
    `skipped` are final, and the raw stream has been read to its end, so a
    VerifyingReader underneath has checked the blob's digest.
    """

    def __init__(
        self, raw: IO[bytes], where: str, *, limits: Limits = DEFAULT_LIMITS, size: int = 0
    ) -> None:
        self._raw = raw
        self._size = size  # the blob's size when known (0: unknown)
        self.where = where
        self.limits = limits
        self.skipped: list[Skipped] = []
        self.compression: Compression = "none"
        self._counter: _Counting | None = None
        self._tar: tarfile.TarFile | None = None
        self._current: tarfile.TarInfo | None = None
        self._done = False

    @property
    def expanded(self) -> int:
        """Bytes of uncompressed tar read so far."""
        return self._counter.count if self._counter else 0

    @property
    def diff_id(self) -> Digest:
        """sha256 of the uncompressed tar (valid once iteration has finished)."""
        if not self._done or self._counter is None:
            raise ImageError(f"{self.where} has not been read to its end yet")
        return Digest.from_hex(self._counter.hash.hexdigest())

    def __iter__(self) -> Iterator[Member]:
        if self._counter is not None:
            raise ImageError(f"{self.where} can only be read once")
        self.compression, stream = open_decompressed(self._raw, self.where)
        self._counter = _Counting(stream, self.where, self.limits.max_total)
        try:
            yield from self._members(self._counter)
            self._counter.drain()
            _drain(self._raw)
        except HardbaseError:
            raise
        except _stream_errors() as exc:
            raise self._corrupt() from exc
        self._done = True
        if len(self.skipped) > _MAX_WARNINGS:
            log.warning(
                "skipped %d hostile or unsupported members in %s in all",
                len(self.skipped),
                self.where,
            )

    def read(self, max_size: int | None = None) -> bytes:
        """Content of the current member (a regular file); ImageError if over `max_size`."""
        info = self._current
        if info is None or self._tar is None or not info.isreg():
            raise ImageError(f"no regular file is being read from {self.where}")
        limit = self.limits.max_file if max_size is None else max_size
        if info.size > limit:
            raise ImageError(f"{info.name} in {self.where} is larger than {limit} bytes")
        try:
            fh = self._tar.extractfile(info)
            if fh is None:
                raise ImageError(f"{info.name} in {self.where} has no content")
            data = fh.read()
        except HardbaseError:
            raise
        except _stream_errors() as exc:
            raise self._corrupt() from exc
        if len(data) != info.size:
            raise self._corrupt()
        return data

    def _corrupt(self) -> ImageError:
        return ImageError(
            f"{self.where} is truncated or corrupt ({self.compression} tar stream); "
            "fetch or rebuild the image"
        )

    def _members(self, counter: _Counting) -> Iterator[Member]:
        probe = counter.peek_empty()
        if probe:
            return  # a zero-byte layer: nothing in it
        # Layers that fit in memory are read whole (fast decompression in large
        # blocks), then walked seekably, so skipping file contents costs nothing;
        # larger ones are streamed.
        # (a blob larger than that, compressed, cannot fit: it is streamed from the start,
        # without holding its first IN_MEMORY bytes)
        buffered = _read_up_to(counter, IN_MEMORY) if self._size <= IN_MEMORY else None
        if buffered is not None:
            tar = tarfile.open(fileobj=io.BytesIO(buffered), mode="r:", tarinfo=_RecordingTarInfo)
        else:
            tar = tarfile.open(
                fileobj=cast(IO[bytes], counter), mode="r|", tarinfo=_RecordingTarInfo
            )
        self._tar = tar
        count = 0
        for info in tar:
            tar.members.clear()  # type: ignore[attr-defined]  # stream mode keeps every TarInfo
            count += 1
            if count > self.limits.max_members:
                raise ImageError(
                    f"{self.where} has more than {self.limits.max_members} members; "
                    "it is not a plausible image layer"
                )
            member = self._check(info)
            if member is None:
                continue
            self._current = info
            yield member
            self._current = None
        if _STOPS.get(tar) != "EOFHeaderError":
            raise self._corrupt()

    def _check(self, info: tarfile.TarInfo) -> Member | None:
        path, problem = normalize_name(info.name)
        if problem:
            return self._skip(info.name, problem)
        if not path:
            return None  # the root directory entry ("./")
        if len(path) > 4096:
            return self._skip(info.name, "name longer than 4096 bytes")
        kind: Kind
        link = ""
        if info.isreg():
            kind = "file"
            if info.size > self.limits.max_file:
                return self._skip(info.name, f"file larger than {self.limits.max_file} bytes")
        elif info.isdir():
            kind = "dir"
        elif info.issym():
            kind = "symlink"
            link = info.linkname
            if not link or "\x00" in link:
                return self._skip(info.name, "symlink with an empty or NUL target")
            if link_escapes(path, link):
                return self._skip(info.name, f"symlink target '{link}' escapes the image root")
        elif info.islnk():
            kind = "hardlink"
            link, problem = normalize_name(info.linkname)
            if problem or not link:
                return self._skip(info.name, f"hardlink target '{info.linkname}' escapes the root")
        elif info.ischr() or info.isblk():
            return self._skip(info.name, "device file")
        elif info.isfifo():
            return self._skip(info.name, "fifo")
        else:
            return self._skip(info.name, f"unsupported member type {info.type!r}")
        return Member(
            path=path,
            kind=kind,
            mode=info.mode & 0o7777,
            uid=info.uid,
            gid=info.gid,
            size=info.size if kind == "file" else 0,
            link=link,
            mtime=int(info.mtime),
        )

    def _skip(self, name: str, reason: str) -> Member | None:
        self.skipped.append(Skipped(self.where, name, reason))
        if len(self.skipped) <= _MAX_WARNINGS:
            log.warning("skipping %r in %s: %s", name, self.where, reason)
        return None


# The header error that ended each tar: only EOFHeaderError (a zero block) is a clean end;
# tarfile treats a missing end marker or a truncated header as the end and says nothing.
_STOPS: weakref.WeakKeyDictionary[tarfile.TarFile, str] = weakref.WeakKeyDictionary()


class _RecordingTarInfo(tarfile.TarInfo):
    @classmethod
    def fromtarfile(cls, tar_file: tarfile.TarFile) -> _RecordingTarInfo:
        try:
            info = super().fromtarfile(tar_file)
        except tarfile.HeaderError as exc:
            _STOPS[tar_file] = type(exc).__name__
            raise
        _STOPS[tar_file] = ""
        return info


class _Counting(io.RawIOBase):
    """Counts and hashes what is read; fails once more than `limit` bytes came out."""

    def __init__(self, inner: IO[bytes], where: str, limit: int) -> None:
        super().__init__()
        self._inner = inner
        self._where = where
        self._limit = limit
        self._head = b""
        self._replay: collections.deque[bytes] = collections.deque()
        self._replay_at = 0  # offset into the first replay chunk
        self.count = 0
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def peek_empty(self) -> bool:
        self._head = self._inner.read(512)
        return not self._head

    def push_back(self, chunks: list[bytes]) -> None:
        """Put back chunks already read (and counted): they are returned again, not recounted.

        They are replayed piece by piece (a read copies what it returns, never the rest),
        as tarfile's stream mode reads a large member in 10 KiB blocks."""
        if self._replay_at:
            self._replay[0] = self._replay[0][self._replay_at :]
            self._replay_at = 0
        self._replay.extendleft(reversed([c for c in chunks if c]))

    def read(self, n: int | None = -1) -> bytes:
        if self._replay:
            first = self._replay[0]
            if n is None or n < 0 or n >= len(first) - self._replay_at:
                data = first[self._replay_at :] if self._replay_at else first
                self._replay.popleft()
                self._replay_at = 0
            else:
                data = first[self._replay_at : self._replay_at + n]
                self._replay_at += n
            return data
        if self._head:
            data, self._head = self._head, b""
            if n is not None and 0 <= n < len(data):
                data, self._head = data[:n], data[n:]
        else:
            data = self._inner.read(-1 if n is None else n)
        self.count += len(data)
        if self.count > self._limit:
            raise ImageError(
                f"{self._where} expands past {self._limit} bytes; "
                "it may be a decompression bomb (raise the limit only if you trust it)"
            )
        self.hash.update(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


# Uncompressed layer size up to which a layer is read whole; larger ones are streamed,
# so memory stays bounded (a build writes its SBOMs by reading its layers back).
IN_MEMORY = 64 << 20


def _read_up_to(counter: _Counting, limit: int) -> bytes | None:
    """All of `counter` if it ends within `limit` bytes; else None, with nothing consumed."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = counter.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    counter.push_back(chunks)
    return None


class _Prefixed(io.RawIOBase):
    """`head` followed by the rest of `raw`: lets us sniff magic bytes without seeking."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._raw.read(-1 if n is None else n)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _ZstdReader(io.RawIOBase):
    """Streams zstd frames, failing on a truncated frame (zstandard's readers do not)."""

    # Small input steps bound what one call can expand to (a 4-byte RLE block is 128 KiB).
    _STEP = 2048

    def __init__(self, raw: IO[bytes], where: str) -> None:
        import zstandard

        super().__init__()
        self._raw = raw
        self._where = where
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._fed = False  # input given to the current frame
        self._buf = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        want = -1 if n is None else n
        while not self._eof and (want < 0 or len(self._buf) < want):
            self._fill()
        if want < 0 or want >= len(self._buf):
            data = bytes(self._buf)
            self._buf.clear()
        else:
            data = bytes(self._buf[:want])
            del self._buf[:want]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _fill(self) -> None:
        chunk = self._raw.read(self._STEP)
        if not chunk:
            if self._fed and not self._obj.eof:
                raise ImageError(
                    f"{self._where} is truncated (the zstd stream ends inside a frame); "
                    "fetch or rebuild the image"
                )
            self._eof = True
            return
        while chunk:
            self._fed = True
            self._buf += self._obj.decompress(chunk)
            if not self._obj.eof:
                return
            chunk = self._obj.unused_data  # a following frame
            self._obj = self._dctx.decompressobj()
            self._fed = False


def _read_exact(raw: IO[bytes], n: int) -> bytes:
    out = b""
    while len(out) < n:
        data = raw.read(n - len(out))
        if not data:
            break
        out += data
    return out


def _drain(raw: IO[bytes]) -> None:
    while raw.read(_CHUNK):
        pass
