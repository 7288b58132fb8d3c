"""OCI image layouts on disk: a content-addressed blob store plus `index.json`.

Writes are atomic per blob and `index.json` is replaced last, so a reader
never sees an index naming a missing blob.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardbase.errors import ImageError, IntegrityError
from hardbase.oci import mediatypes as mt
from hardbase.util import jsondoc
from hardbase.util.digest import Digest
from hardbase.util.fs import atomic_writer, write_atomic

LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
MAX_JSON = 16 << 20  # the most hardbase reads of a manifest, config or index.json


def canonical_json(obj: Any) -> bytes:
    """JSON with sorted keys and no spaces, so equal content gives equal digests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: Digest
    size: int
    platform: dict[str, str] | None = None
    annotations: dict[str, str] | None = field(default=None)
    artifact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Descriptor:
        try:
            media_type = str(obj["mediaType"])
            digest_text = str(obj["digest"])
            size = int(obj["size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"malformed descriptor {str(obj)[:200]}") from exc
        digest = Digest(digest_text, "in a descriptor")
        if size < 0:
            raise ImageError(f"descriptor {digest} has a negative size")
        platform = obj.get("platform")
        annotations = obj.get("annotations")
        return cls(
            media_type,
            digest,
            size,
            dict(platform) if isinstance(platform, dict) else None,
            dict(annotations) if isinstance(annotations, dict) else None,
            obj.get("artifactType"),
        )


class Layout:
    """An OCI image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def create(cls, root: Path) -> Layout:
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        marker = root / "oci-layout"
        if not marker.exists():
            write_atomic(marker, LAYOUT_VERSION)
        return cls(root)

    @classmethod
    def open(cls, root: Path) -> Layout:
        if not (root / "oci-layout").is_file() or not (root / "index.json").is_file():
            raise ImageError(f"{root} is not an OCI image layout (no oci-layout or index.json)")
        return cls(root)

    def blob_path(self, digest: Digest) -> Path:
        digest = Digest(digest)  # free for a Digest; a str from untyped code is checked
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def put_bytes(self, data: bytes, media_type: str, **extra: Any) -> Descriptor:
        digest = Digest.of(data)
        path = self.blob_path(digest)
        if not path.exists():
            write_atomic(path, data)
        return Descriptor(media_type, digest, len(data), **extra)

    def put_json(self, obj: Any, media_type: str, **extra: Any) -> Descriptor:
        return self.put_bytes(canonical_json(obj), media_type, **extra)

    def put_file(self, src: Path, digest: Digest, size: int, media_type: str) -> Descriptor:
        """Place a file whose digest is already known, hard-linking when possible."""
        path = self.blob_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, path)
        return Descriptor(media_type, digest, size)

    def read_blob(self, digest: Digest, *, max_size: int = 64 << 20) -> bytes:
        """Read a (small) blob and check its digest."""
        path = self.blob_path(digest)
        try:
            size = path.stat().st_size
            if size > max_size:
                raise ImageError(f"blob {digest} in {self.root} is larger than {max_size} bytes")
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing from {self.root}") from None
        if Digest.of(data) != digest:
            raise IntegrityError(f"blob {digest} in {self.root} does not match its digest")
        return data

    def read_index(self) -> dict[str, Any]:
        path = self.root / "index.json"
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_JSON + 1)  # never more, whatever its size says
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
        except OSError as exc:
            raise ImageError(f"cannot read {path} ({exc.strerror})") from None
        if len(data) > MAX_JSON:
            raise ImageError(
                f"{path} is larger than {MAX_JSON >> 20} MB, the limit for manifests, configs "
                "and indexes; it is not an image index hardbase reads"
            )
        try:
            index = jsondoc.loads(data)
        except ValueError as exc:
            raise ImageError(f"{path} is not valid JSON") from exc
        if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
            raise ImageError(f"{path} is not an OCI index")
        return index

    def entries(self) -> list[Descriptor]:
        return [Descriptor.from_json(m) for m in self.read_index()["manifests"]]

    def find(self, tag: str | None) -> Descriptor:
        """The top-level entry named `tag` (or the only entry when tag is None)."""
        entries = self.entries()
        if tag is None:
            if len(entries) == 1:
                return entries[0]
            tagged = [e for e in entries if (e.annotations or {}).get(mt.REF_NAME) == "latest"]
            if len(tagged) == 1:
                return tagged[0]
            raise ImageError(
                f"{self.root} holds {len(entries)} images; name one with oci:{self.root}:TAG"
            )
        for entry in entries:
            if (entry.annotations or {}).get(mt.REF_NAME) == tag:
                return entry
        raise ImageError(f"no image tagged '{tag}' in {self.root}")

    def set_entry(self, descriptor: Descriptor, tag: str | None) -> None:
        """Add `descriptor` to index.json, replacing any entry with the same tag."""
        index = self.read_index()
        annotations = dict(descriptor.annotations or {})
        if tag:
            annotations[mt.REF_NAME] = tag
        entry = Descriptor(
            descriptor.media_type,
            descriptor.digest,
            descriptor.size,
            descriptor.platform,
            annotations or None,
            descriptor.artifact_type,
        ).to_json()
        kept = [
            m
            for m in index["manifests"]
            if not (tag and m.get("annotations", {}).get(mt.REF_NAME) == tag)
            and not (not tag and m.get("digest") == descriptor.digest)
        ]
        kept.append(entry)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": kept}
        with atomic_writer(self.root / "index.json") as fh:
            fh.write(json.dumps(index, indent=2, sort_keys=True).encode() + b"\n")
