"""Deterministic layers and the content-addressed layer cache.

A layer is a PAX tar of entries sorted by path, numeric owners, no user or
group names, mtimes clamped to SOURCE_DATE_EPOCH when set, compressed with a
fixed gzip header. The same inputs give the same bytes, so layers of common
package groups are identical across images, and the cache stores each once.
Package layers are written as a stream (`LayerCache.write`): payloads, the
tar and the gzip blob pass in chunks, so a large file is never held whole.
Each layer's listing (`build/listing.py`: what the inventory and the SBOM
read from it) is recorded as the tar is written and kept beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import struct
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from hardbase.build.tree import DIR, REG, SYMLINK, Entry, parents
from hardbase.errors import BuildError
from hardbase.util.clock import source_date_epoch as source_date_epoch  # its old home
from hardbase.util.digest import Digest, DigestError
from hardbase.util.fs import DECODE_ERRORS, read_cache_entry, write_atomic
from hardbase.util.paths import cache_dir

if TYPE_CHECKING:
    from hardbase.build.listing import Listing, Recorder

log = logging.getLogger(__name__)

# Bump when the bytes a layer is made of change for the same inputs.
LAYER_FORMAT = 4  # 4: layers over IN_MEMORY are compressed in CHUNK pieces
GZIP_LEVEL = 3  # isal's best; about zlib -6 in size, several times faster
IN_MEMORY = 64 << 20  # layer tars up to this size are compressed in one shot
CHUNK = 1 << 20  # larger ones are compressed in pieces of this size


@dataclass(frozen=True)
class BuiltLayer:
    digest: Digest  # of the gzip blob
    diff_id: Digest  # of the uncompressed tar
    size: int
    files: int
    blob: Path


def tar_entries(
    entries: list[Entry], clamp: int | None, recorder: Recorder | None = None
) -> tuple[bytes, int]:
    """The layer tar for `entries` (parents added, sorted); returns (bytes, file count)."""
    buf = io.BytesIO()
    files = write_tar(buf, entries, clamp, recorder)
    return buf.getvalue(), files


def recorded_tar(entries: list[Entry], clamp: int | None) -> tuple[bytes, int, Listing]:
    """`tar_entries`, with the layer's listing (for `LayerCache.put`)."""
    from hardbase.build.listing import Recorder

    recorder = Recorder()
    tar, files = tar_entries(entries, clamp, recorder)
    return tar, files, recorder.listing


def write_tar(
    out: IO[bytes], entries: list[Entry], clamp: int | None, recorder: Recorder | None = None
) -> int:
    """Write the layer tar for `entries` to `out`, payloads in chunks; returns the file count.

    A `recorder` is given each entry as it is written (the layer's listing)."""
    by_path = {e.path: e for e in entries}
    for entry in entries:
        for parent in parents(entry.path):
            if parent not in by_path or by_path[parent].kind != DIR:
                if parent not in by_path:
                    by_path[parent] = Entry(parent, DIR, 0o755, mtime=entry.mtime)
    with tarfile.TarFile(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK
    ) as tar:
        for path in sorted(by_path):
            e = by_path[path]
            if recorder is not None:
                recorder.add(e)
            info = tarfile.TarInfo(path)
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.uname = info.gname = ""
            info.mtime = min(e.mtime, clamp) if clamp is not None else e.mtime
            if e.kind == DIR:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == SYMLINK:
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                tar.addfile(info)
            else:
                info.size = e.size
                with e.open() as content:
                    tar.addfile(info, content)
    return sum(1 for e in by_path.values() if e.kind == REG)


def gzip_bytes(data: bytes | bytearray) -> bytes:
    from isal import igzip

    return igzip.compress(data, GZIP_LEVEL, mtime=0)


class _LayerSink(io.RawIOBase):
    """Where a layer tar is written: hashed as it comes, compressed in one shot while it
    is at most IN_MEMORY bytes (the bytes `gzip_bytes` gives), else in CHUNK pieces to a
    temp file beside the blobs, so memory stays bounded whatever the layer's size.

    ISA-L's streaming deflate does not give its one-shot bytes, so the path is chosen
    by size alone and the chunks are cut at fixed offsets: the same tar, the same blob.
    """

    def __init__(self, blobs: Path) -> None:
        super().__init__()
        self._blobs = blobs
        self.diff = hashlib.sha256()
        self.size = 0
        self._buf = bytearray()
        self._tmp: IO[bytes] | None = None
        self._blob_hash = hashlib.sha256()
        self._blob_size = 0
        self._deflate: Any = None
        self._crc = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.diff.update(view)
        self.size += len(view)
        self._buf += view
        if self._deflate is None and len(self._buf) > IN_MEMORY:
            self._start_stream()
        if self._deflate is not None:
            self._feed(whole_chunks=True)
        return len(view)

    def finish(self) -> tuple[bytes | Path, Digest, int]:
        """(blob bytes, or the temp file holding them; blob digest; blob size)."""
        if self._deflate is None:
            blob = gzip_bytes(self._buf)
            self._buf = bytearray()
            return blob, Digest.of(blob), len(blob)
        self._feed(whole_chunks=False)
        self._emit(self._deflate.flush())
        self._emit(struct.pack("<LL", self._crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))
        tmp = self._spool()
        tmp.close()
        return Path(tmp.name), Digest.from_hex(self._blob_hash.hexdigest()), self._blob_size

    def discard(self) -> None:
        if self._tmp is not None:
            self._tmp.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp.name)

    def _spool(self) -> IO[bytes]:
        # _start_stream opens it before anything is emitted
        if self._tmp is None:
            raise BuildError("the layer stream was written to before it was started")
        return self._tmp

    def _start_stream(self) -> None:
        from isal import isal_zlib

        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.NamedTemporaryFile(dir=self._blobs, prefix=".", delete=False)
        self._deflate = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, -15)
        # The header igzip.compress writes: no name, mtime 0, unknown OS.
        self._emit(struct.pack("<BBBBLBB", 0x1F, 0x8B, 8, 0, 0, 0, 255))

    def _feed(self, *, whole_chunks: bool) -> None:
        from isal import isal_zlib

        done = 0
        while len(self._buf) - done >= CHUNK or (not whole_chunks and done < len(self._buf)):
            piece = bytes(self._buf[done : done + CHUNK])
            self._crc = isal_zlib.crc32(piece, self._crc)
            self._emit(self._deflate.compress(piece))
            done += len(piece)
        del self._buf[:done]

    def _emit(self, data: bytes) -> None:
        self._spool().write(data)
        self._blob_hash.update(data)
        self._blob_size += len(data)


class LayerCache:
    """Layers by the hash of what they are made of; blobs by their digest."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir() / "layers"

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.hex

    def _meta_path(self, key: str) -> Path:
        return self.root / "keys" / f"{key}.json"

    def get(self, key: str) -> BuiltLayer | None:
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
            digest, diff_id = Digest(meta["digest"]), Digest(meta["diff_id"])
        except (FileNotFoundError, ValueError, KeyError, TypeError, DigestError) as exc:
            log.debug("no cached layer %s: %s", key, exc)  # a damaged record is a miss
            return None
        blob = self.blob_path(digest)
        if not blob.is_file() or blob.stat().st_size != meta["size"]:
            return None
        return BuiltLayer(digest, diff_id, meta["size"], meta["files"], blob)

    def listing_path(self, diff_id: Digest) -> Path:
        from hardbase.build.listing import code_key

        return self.root / "listings" / code_key() / diff_id.hex

    def listing(self, layer: BuiltLayer) -> Listing | None:
        """The listing recorded when `layer` was written; None if there is none (or, with a
        warning, it is damaged), and then the caller reads the layer."""
        from hardbase.build.listing import decode
        from hardbase.oci.layercache import MAX_ENTRY

        return read_cache_entry(
            self.listing_path(layer.diff_id), MAX_ENTRY, decode, cache="layer listing",
            instead="reading the layer", errors=(*DECODE_ERRORS, struct.error),
        )  # fmt: skip

    def put(self, key: str, tar: bytes, files: int, listing: Listing | None = None) -> BuiltLayer:
        diff_id = Digest.of(tar)
        blob = gzip_bytes(tar)
        digest = Digest.of(blob)
        path = self.blob_path(digest)
        if not path.exists():
            write_atomic(path, blob)
        self._store_listing(diff_id, listing)
        return self._record(key, digest, diff_id, len(blob), files)

    def write(self, key: str, entries: list[Entry], clamp: int | None) -> BuiltLayer:
        """Build the layer of `entries` as a stream (see `_LayerSink`) and store it,
        with its listing."""
        from hardbase.build.listing import Recorder

        sink = _LayerSink(self.root / "blobs")
        recorder = Recorder()
        try:
            files = write_tar(cast(IO[bytes], sink), entries, clamp, recorder)
            blob, digest, size = sink.finish()
        except BaseException:
            sink.discard()
            raise
        path = self.blob_path(digest)
        if isinstance(blob, Path):
            os.chmod(blob, 0o644)
            os.replace(blob, path)
        elif not path.exists():
            write_atomic(path, blob)
        diff_id = Digest.from_hex(sink.diff.hexdigest())
        self._store_listing(diff_id, recorder.listing)
        return self._record(key, digest, diff_id, size, files)

    def _store_listing(self, diff_id: Digest, listing: Listing | None) -> None:
        if listing is None:
            return
        from hardbase.build.listing import encode

        try:
            write_atomic(self.listing_path(diff_id), encode(listing))
        except OSError as exc:  # the SBOM then reads the layer
            log.debug("not keeping the listing of %s: %s", diff_id, exc)

    def _record(
        self, key: str, digest: Digest, diff_id: Digest, size: int, files: int
    ) -> BuiltLayer:
        meta: dict[str, Any] = {"digest": digest, "diff_id": diff_id, "size": size, "files": files}
        write_atomic(self._meta_path(key), json.dumps(meta).encode())
        return BuiltLayer(digest, diff_id, size, files, self.blob_path(digest))


def layer_key(kind: str, parts: Any) -> str:
    doc = {"format": LAYER_FORMAT, "kind": kind, "parts": parts}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
