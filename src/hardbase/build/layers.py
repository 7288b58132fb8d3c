"""Deterministic layers and the content-addressed layer cache.

A layer is a PAX tar of entries sorted by path, numeric owners, no user or
group names, mtimes clamped to SOURCE_DATE_EPOCH when set, compressed with a
fixed gzip header. The same inputs give the same bytes, so layers of common
package groups are identical across images, and the cache stores each once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbase.build.tree import DIR, REG, SYMLINK, Entry, parents
from hardbase.util.fs import write_atomic
from hardbase.util.paths import cache_dir

# Bump when the bytes a layer is made of change for the same inputs.
LAYER_FORMAT = 3
GZIP_LEVEL = 3  # isal's best; about zlib -6 in size, several times faster


@dataclass(frozen=True)
class BuiltLayer:
    digest: str  # of the gzip blob
    diff_id: str  # of the uncompressed tar
    size: int
    files: int
    blob: Path


def source_date_epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        from hardbase.errors import UsageError

        raise UsageError(f"SOURCE_DATE_EPOCH='{value}' is not a whole number of seconds") from None


def tar_entries(entries: list[Entry], clamp: int | None) -> tuple[bytes, int]:
    """The layer tar for `entries` (parents added, sorted); returns (bytes, file count)."""
    by_path = {e.path: e for e in entries}
    for entry in entries:
        for parent in parents(entry.path):
            if parent not in by_path or by_path[parent].kind != DIR:
                if parent not in by_path:
                    by_path[parent] = Entry(parent, DIR, 0o755, mtime=entry.mtime)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(by_path):
            e = by_path[path]
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
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue(), sum(1 for e in by_path.values() if e.kind == REG)


def gzip_bytes(data: bytes) -> bytes:
    from isal import igzip

    return igzip.compress(data, GZIP_LEVEL, mtime=0)


class LayerCache:
    """Layers by the hash of what they are made of; blobs by their digest."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir() / "layers"

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / digest.removeprefix("sha256:")

    def _meta_path(self, key: str) -> Path:
        return self.root / "keys" / f"{key}.json"

    def get(self, key: str) -> BuiltLayer | None:
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        blob = self.blob_path(meta["digest"])
        if not blob.is_file() or blob.stat().st_size != meta["size"]:
            return None
        return BuiltLayer(meta["digest"], meta["diff_id"], meta["size"], meta["files"], blob)

    def put(self, key: str, tar: bytes, files: int) -> BuiltLayer:
        diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
        blob = gzip_bytes(tar)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            write_atomic(path, blob)
        meta: dict[str, Any] = {
            "digest": digest,
            "diff_id": diff_id,
            "size": len(blob),
            "files": files,
        }
        write_atomic(self._meta_path(key), json.dumps(meta).encode())
        return BuiltLayer(digest, diff_id, len(blob), files, path)


def layer_key(kind: str, parts: Any) -> str:
    doc = {"format": LAYER_FORMAT, "kind": kind, "parts": parts}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
