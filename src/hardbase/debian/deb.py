"""Reading .deb files safely: the ar container, the control paragraph, the data tar.

A .deb is an ar archive holding `debian-binary` ("2.0"), `control.tar[.EXT]`
and `data.tar[.EXT]`. Every header is checked (magic, field syntax, sizes that
stay inside the file) before a member is read, and members are decompressed as
streams, so a hostile or truncated file gives an ArchiveError, never a crash
or an unbounded read.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from hardbase.errors import ArchiveError

log = logging.getLogger(__name__)

AR_MAGIC = b"!<arch>\n"
_HEADER = 60
MAX_CONTROL_TAR = 64 << 20  # uncompressed; real control tars are kilobytes
MAX_CONTROL_FILE = 16 << 20
_CONTROL_EXTS = ("", ".xz", ".zst", ".gz")
_DATA_EXTS = ("", ".xz", ".zst", ".gz", ".bz2")


@dataclass(frozen=True)
class ArMember:
    """One member of an ar archive: its name, and where its data lies in the file."""

    name: str
    offset: int
    size: int


def read_members(path: Path) -> list[ArMember]:
    """The members of the ar archive at `path`, checked against the file's size."""
    try:
        with open(path, "rb") as fh:
            return _members(fh, path)
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}; check that the file exists") from exc


def _members(fh: BinaryIO, path: Path) -> list[ArMember]:
    total = fh.seek(0, io.SEEK_END)
    fh.seek(0)
    if fh.read(len(AR_MAGIC)) != AR_MAGIC:
        raise ArchiveError(f"{path} is not a .deb (no ar archive header)")
    members: list[ArMember] = []
    offset = len(AR_MAGIC)
    while offset < total:
        if offset + _HEADER > total:
            raise ArchiveError(f"{path} is truncated (incomplete ar member header)")
        fh.seek(offset)
        header = fh.read(_HEADER)
        if header[58:60] != b"`\n":
            raise ArchiveError(f"{path} is corrupt (bad ar member header at byte {offset})")
        try:
            name = header[0:16].decode("ascii").rstrip(" ").removesuffix("/")
            size_text = header[48:58].decode("ascii").strip()
        except UnicodeDecodeError:
            raise ArchiveError(f"{path} is corrupt (non-ASCII ar header)") from None
        if not size_text.isdigit() or not name or "/" in name:
            raise ArchiveError(f"{path} is corrupt (bad ar member name or size at {offset})")
        size = int(size_text)
        start = offset + _HEADER
        if start + size > total:
            raise ArchiveError(
                f"{path} is truncated: member {name!r} needs {size} bytes past byte {start}"
            )
        members.append(ArMember(name, start, size))
        offset = start + size + (size & 1)  # members are padded to an even offset
    return members


def _layout(path: Path) -> tuple[ArMember, ArMember]:
    """Check the .deb structure; return its control and data members."""
    members = read_members(path)
    if not members or members[0].name != "debian-binary":
        raise ArchiveError(f"{path} is not a .deb (its first member is not debian-binary)")
    with open(path, "rb") as fh:
        fh.seek(members[0].offset)
        version = fh.read(min(members[0].size, 16))
    if not version.startswith(b"2."):
        raise ArchiveError(
            f"{path} has .deb format {version.strip()!r}; only format 2.x is supported"
        )
    control = _find(members, "control.tar", _CONTROL_EXTS, path)
    data = _find(members, "data.tar", _DATA_EXTS, path)
    return control, data


def _find(members: list[ArMember], stem: str, exts: tuple[str, ...], path: Path) -> ArMember:
    for member in members:
        if member.name.startswith(stem):
            if member.name.removeprefix(stem) not in exts:
                raise ArchiveError(
                    f"{path} has {member.name}, a compression hardbase does not read "
                    f"(known: {', '.join(stem + e for e in exts)})"
                )
            return member
    raise ArchiveError(f"{path} is not a complete .deb (no {stem} member)")


class _Slice(io.RawIOBase):
    """A read-only stream over `size` bytes at `offset` of an open file."""

    def __init__(self, fh: BinaryIO, offset: int, size: int) -> None:
        self._fh = fh
        self._offset = offset
        self._remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._remaining <= 0:
            return 0
        view = memoryview(buffer)
        want = min(len(view), self._remaining)
        self._fh.seek(self._offset)
        data = self._fh.read(want)
        if not data:
            raise ArchiveError("the .deb ended before the end of a member")
        view[: len(data)] = data
        self._offset += len(data)
        self._remaining -= len(data)
        return len(data)


class _Tracked(io.RawIOBase):
    """The decompressed stream under the tarfile: enforces a size limit and remembers
    where the last non-zero byte was, to find data hidden after the end of the tar."""

    def __init__(self, inner: IO[bytes], limit: int | None, what: str) -> None:
        self._inner = inner
        self._left = limit
        self._what = what
        self.position = 0
        self.last_nonzero = -1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        want = len(view) if self._left is None else min(len(view), self._left + 1)
        data = self._inner.read(want)
        if self._left is not None:
            if len(data) > self._left:
                raise ArchiveError(f"{self._what} expands beyond its size limit; refusing it")
            self._left -= len(data)
        significant = len(data.rstrip(b"\0"))
        if significant:
            self.last_nonzero = self.position + significant - 1
        self.position += len(data)
        view[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


def _decompressor(raw: IO[bytes], name: str, path: Path) -> IO[bytes]:
    """A streaming reader of the decompressed content of member `name`."""
    if name.endswith(".xz"):
        import lzma

        return lzma.LZMAFile(raw)
    if name.endswith(".zst"):
        import zstandard

        reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(raw, closefd=False)
        return reader
    if name.endswith(".gz"):
        import gzip

        gunzip: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        return gunzip
    if name.endswith(".bz2"):
        import bz2

        return bz2.BZ2File(raw)
    if name.endswith(".tar"):
        return raw
    raise ArchiveError(f"{path} has {name}, compressed in a way hardbase does not read")


def _stream_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that decompressors and tarfile raise on corrupt input."""
    errors: list[type[BaseException]] = [tarfile.TarError, zlib.error, EOFError, ValueError]
    import lzma

    errors.append(lzma.LZMAError)
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    import gzip

    errors.append(gzip.BadGzipFile)
    return tuple(errors)


@contextlib.contextmanager
def _member_tar(path: Path, member: ArMember, limit: int | None) -> Iterator[tarfile.TarFile]:
    what = f"{member.name} of {path}"
    try:
        fh = open(path, "rb")  # closed by the ExitStack below
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}; check that the file exists") from exc
    with contextlib.ExitStack() as stack:
        stack.enter_context(fh)
        raw = io.BufferedReader(_Slice(fh, member.offset, member.size), 1 << 16)
        try:
            stream = stack.enter_context(_decompressor(raw, member.name, path))
            tracked = _Tracked(stream, limit, what)
            tar = stack.enter_context(
                tarfile.open(fileobj=io.BufferedReader(tracked, 1 << 16), mode="r|")
            )
        except _stream_errors() as exc:
            raise ArchiveError(f"{what} is not a readable tar archive") from exc
        try:
            yield tar
            if getattr(tar, "_loaded", False):
                # The caller read every member. tarfile stops quietly at a header
                # it cannot parse, so check that only zero padding follows the last
                # member, and read the stream to its end so the decompressor checks
                # its CRC or checksum.
                tracked.drain()
                if tracked.last_nonzero >= tar.offset:
                    raise ArchiveError(
                        f"{what} is corrupt: it has data after the end of its tar "
                        f"archive (at byte {tar.offset})"
                    )
        except _stream_errors() as exc:
            raise ArchiveError(f"{what} is corrupt or truncated") from exc


def read_control(path: Path) -> tuple[str, bytes | None]:
    """The control paragraph of the .deb at `path`, and its md5sums file if it has one."""
    files = read_control_files(path, ("control", "md5sums"))
    control = files.get("control")
    if control is None:
        raise ArchiveError(f"{path} has no control file in its control archive")
    try:
        text = control.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"the control file of {path} is not UTF-8") from exc
    return text, files.get("md5sums")


def read_control_files(path: Path, names: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """The regular files of the .deb's control archive (only `names` when given), by name.

    Maintainer scripts, conffiles, triggers, shlibs: what dpkg keeps in its info directory.
    """
    control_member, _ = _layout(path)
    out: dict[str, bytes] = {}
    with _member_tar(path, control_member, MAX_CONTROL_TAR) as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if not info.isfile() or "/" in name or (names is not None and name not in names):
                continue
            if info.size > MAX_CONTROL_FILE:
                raise ArchiveError(f"the {name} file of {path} is too large ({info.size} bytes)")
            extracted = tar.extractfile(info)
            if extracted is None:  # pragma: no cover - isfile() was checked
                continue
            out[name] = extracted.read()
    return out


@contextlib.contextmanager
def open_data_tar(path: Path, limit: int | None = None) -> Iterator[tarfile.TarFile]:
    """Yield the data.tar of the .deb at `path` as a streaming (`r|`) TarFile.

    Iterate over it once, in order; `extractfile` works for the current member.
    Corruption found while iterating raises ArchiveError, and so does a
    decompressed stream longer than `limit` bytes.
    """
    _, data_member = _layout(path)
    with _member_tar(path, data_member, limit) as tar:
        yield tar


@contextlib.contextmanager
def open_tarball(path: Path, limit: int | None = None) -> Iterator[tarfile.TarFile]:
    """Yield a compressed tarball (`.tar.xz`, `.tar.gz`, ...) as a streaming TarFile.

    The same checked reader as a .deb's members: decompressed as a stream, expanded
    size at most `limit`, corruption found while iterating raises ArchiveError.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}; check that the file exists") from exc
    with _member_tar(path, ArMember(path.name, 0, size), limit) as tar:
        yield tar
