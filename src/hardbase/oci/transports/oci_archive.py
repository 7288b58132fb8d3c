"""The `oci-archive:FILE[:TAG]` transport: an OCI image layout packed in one tar file.

The tar is indexed once (member name → offset and size) and blobs are then read
as slices of the file, so nothing is extracted to disk. `TarIndex` is shared
with the docker-archive transport.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from hardbase.errors import HardbaseError, ImageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import MAX_JSON, Descriptor
from hardbase.oci.reference import ImageRef
from hardbase.oci.safetar import detect_compression, normalize_name
from hardbase.oci.transports.interface import ImageSource, TransportError
from hardbase.util import jsondoc
from hardbase.util.digest import Digest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Span:
    offset: int
    size: int


class TarIndex:
    """The regular members of an uncompressed tar file, read later as slices of it."""

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self.where = where
        self.members: dict[str, _Span] = {}
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise TransportError(f"cannot open {path} for {where}; check the path") from exc
        try:
            self._index()
        except BaseException:
            os.close(self._fd)
            raise

    def _index(self) -> None:
        head = os.pread(self._fd, 6, 0)
        compression = detect_compression(head)
        if compression != "none":
            raise TransportError(
                f"{self.path} is {compression}-compressed; decompress it first "
                f"(an archive for {self.where} must be a plain tar)"
            )
        links: dict[str, str] = {}
        try:
            with (
                os.fdopen(os.dup(self._fd), "rb") as fh,
                tarfile.open(fileobj=fh, mode="r:") as tar,
            ):
                for info in tar:
                    name, problem = normalize_name(info.name)
                    if problem or not name:
                        continue  # never used: blobs are looked up by exact name
                    if info.isreg():
                        self.members[name] = _Span(info.offset_data, info.size)
                    elif info.islnk():
                        links[name], _ = normalize_name(info.linkname)
                    elif info.issym():
                        links[name] = _resolve_symlink(name, info.linkname)
        except HardbaseError:
            raise
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise TransportError(
                f"{self.path} is not a readable tar archive ({self.where}); check the file"
            ) from exc
        # docker save links identical layer.tar files to each other
        for name, target in links.items():
            for _ in range(8):
                if target in links:
                    target = links[target]
            if target in self.members:
                self.members[name] = self.members[target]
        size = os.fstat(self._fd).st_size
        for name, span in self.members.items():
            if span.offset + span.size > size:
                raise TransportError(f"{self.path} is truncated at {name}; copy it again")

    def has(self, name: str) -> bool:
        return name in self.members

    def size(self, name: str) -> int:
        return self._span(name).size

    def open(self, name: str) -> IO[bytes]:
        span = self._span(name)
        return cast(IO[bytes], io.BufferedReader(_Slice(self._fd, span), buffer_size=1 << 16))

    def read(self, name: str, max_size: int = MAX_JSON) -> bytes:
        span = self._span(name)
        if span.size > max_size:
            raise TransportError(f"{name} in {self.path} is larger than {max_size} bytes")
        try:
            data = os.pread(self._fd, span.size, span.offset)
        except OSError as exc:
            raise TransportError(f"cannot read {name} from {self.path}") from exc
        if len(data) != span.size:
            raise TransportError(f"{self.path} is truncated at {name}; copy it again")
        return data

    def read_json(self, name: str) -> Any:
        try:
            return jsondoc.loads(self.read(name))
        except ValueError as exc:
            raise TransportError(f"{name} in {self.path} is not valid JSON") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _span(self, name: str) -> _Span:
        try:
            return self.members[name]
        except KeyError:
            raise TransportError(f"{name} is missing from {self.path} ({self.where})") from None


def _resolve_symlink(name: str, target: str) -> str:
    if target.startswith("/"):
        return normalize_name(target)[0]
    parts = name.split("/")[:-1]
    for part in target.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


class _Slice(io.RawIOBase):
    """A window on a shared file descriptor, read with pread so several can be open at once."""

    def __init__(self, fd: int, span: _Span) -> None:
        super().__init__()
        self._fd = fd
        self._pos = span.offset
        self._end = span.offset + span.size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._end - self._pos)
        if n <= 0:
            return 0
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        buffer[: len(data)] = data
        return len(data)


def select_entry(entries: list[Descriptor], tag: str | None, where: str) -> Descriptor:
    """The top-level index entry named `tag`, or the only (or `latest`) one when tag is None."""
    if tag is None:
        if len(entries) == 1:
            return entries[0]
        tagged = [e for e in entries if (e.annotations or {}).get(mt.REF_NAME) == "latest"]
        if len(tagged) == 1:
            return tagged[0]
        raise ImageError(f"{where} holds {len(entries)} images; name one with {where}:TAG")
    for entry in entries:
        if (entry.annotations or {}).get(mt.REF_NAME) == tag:
            return entry
    raise ImageError(f"no image tagged '{tag}' in {where}")


class OCIArchiveSource(ImageSource):
    """Reads an image from a tar of an OCI image layout."""

    def __init__(self, ref: ImageRef) -> None:
        super().__init__(ref)
        if ref.path is None:
            raise TransportError(f"'{ref}' names no archive file")
        self._tar = TarIndex(ref.path, str(ref))
        try:
            if not self._tar.has("oci-layout") or not self._tar.has("index.json"):
                raise TransportError(
                    f"{ref.path} is not an OCI archive (no oci-layout or index.json); "
                    "for `docker save` output use docker-archive:"
                )
            index = self._tar.read_json("index.json")
            manifests = index.get("manifests") if isinstance(index, dict) else None
            if not isinstance(manifests, list):
                raise TransportError(f"index.json in {ref.path} is not an OCI index")
            self._entries = [Descriptor.from_json(m) for m in manifests]
        except BaseException:
            self._tar.close()
            raise

    def top(self) -> Descriptor:
        return select_entry(self._entries, self.ref.tag, f"oci-archive:{self.ref.path}")

    def entries(self) -> list[Descriptor]:
        """Every entry of the archive's index.json (images and cosign's tagged artifacts)."""
        return list(self._entries)

    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        digest = Digest(descriptor.digest)  # free for a Digest; untyped text is checked
        name = f"blobs/{digest.algorithm}/{digest.hex}"
        if not self._tar.has(name):
            raise TransportError(f"blob {descriptor.digest} is missing from {self.ref.path}")
        return self._tar.open(name)

    def close(self) -> None:
        self._tar.close()
