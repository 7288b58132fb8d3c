"""Which repository of a registry last held each blob, so a push can mount instead of upload.

A registry keeps one copy of a blob, but a repository only sees the blobs
linked into it: pushing `hardbase/python3` after `hardbase/cc` finds its base
layers missing there. Like skopeo's blob info cache and docker's, pushes
remember (registry, digest) → repository here, and a later push of the same
blob to another repository of that registry asks for a cross-repository
mount, which sends no bytes; the registry declines with a plain upload
session when it no longer has the blob there. The file is only a hint:
unreadable or lost entries cost an upload, never correctness.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hardbase.util.fs import write_atomic
from hardbase.util.paths import cache_dir

log = logging.getLogger(__name__)

MAX_ENTRIES = 20_000
MAX_FILE = 8 << 20


def default_path() -> Path:
    return cache_dir() / "blob-locations.json"


class BlobLocations:
    """The hint file: {registry: {digest: repository}}, newest entries last."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._data: dict[str, dict[str, str]] = {}
        self._dirty = False
        self._load()

    def _load(self) -> None:
        try:
            if self.path.stat().st_size > MAX_FILE:
                return
            doc = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return
        if not isinstance(doc, dict):
            return
        for registry, blobs in doc.items():
            if isinstance(registry, str) and isinstance(blobs, dict):
                self._data[registry] = {
                    d: r for d, r in blobs.items() if isinstance(d, str) and isinstance(r, str)
                }

    def lookup(self, registry: str, digest: str) -> str | None:
        return self._data.get(registry, {}).get(digest)

    def record(self, registry: str, digest: str, repository: str) -> None:
        blobs = self._data.setdefault(registry, {})
        if blobs.get(digest) == repository:
            return
        blobs.pop(digest, None)  # re-insert so the newest entries survive trimming
        blobs[digest] = repository
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        total = sum(len(b) for b in self._data.values())
        for blobs in self._data.values():
            while total > MAX_ENTRIES and blobs:
                blobs.pop(next(iter(blobs)))
                total -= 1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self._data).encode(), 0o600)
        except OSError as exc:
            log.debug("cannot save blob locations to %s: %s", self.path, exc)
        self._dirty = False
