"""The `docker-archive:FILE` transport: the tar that `docker save` and skopeo write.

Its `manifest.json` names a config and layer files by path (`<id>/layer.tar` in
the legacy layout, `blobs/sha256/<hex>` since Docker 25). We synthesize an OCI
manifest for it, computing digests of files not named by their digest, so the
rest of hardbase sees an ordinary image.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from typing import IO

from hardbase.errors import IntegrityError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, canonical_json
from hardbase.oci.reference import ImageRef
from hardbase.oci.safetar import detect_compression, normalize_name
from hardbase.oci.transports.interface import ImageSource, TransportError
from hardbase.oci.transports.oci_archive import TarIndex
from hardbase.util.digest import Digest

log = logging.getLogger(__name__)

_NAMED_BY_DIGEST = re.compile(r"^(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?$")
_LAYER_TYPES = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD, "none": mt.OCI_LAYER}


class DockerArchiveSource(ImageSource):
    """Reads the one image of a `docker save` archive."""

    def __init__(self, ref: ImageRef) -> None:
        super().__init__(ref)
        if ref.path is None:
            raise TransportError(f"'{ref}' names no archive file")
        self._tar = TarIndex(ref.path, str(ref))
        try:
            self._load()
        except BaseException:
            self._tar.close()
            raise

    def _load(self) -> None:
        path = self.ref.path
        if not self._tar.has("manifest.json"):
            if self._tar.has("repositories"):
                raise TransportError(
                    f"{path} is a pre-1.10 `docker save` archive without manifest.json; "
                    "save the image again with a current docker or skopeo"
                )
            raise TransportError(f"{path} is not a docker archive (no manifest.json)")
        entries = self._tar.read_json("manifest.json")
        if not isinstance(entries, list) or not entries:
            raise TransportError(f"manifest.json in {path} lists no images")
        if len(entries) > 1:
            raise TransportError(
                f"{path} holds {len(entries)} images; save one image per archive "
                "(e.g. skopeo copy docker-archive:FILE:NAME:TAG docker-archive:ONE.tar)"
            )
        entry = entries[0]
        config_name = entry.get("Config") if isinstance(entry, dict) else None
        layer_names = entry.get("Layers") if isinstance(entry, dict) else None
        if not isinstance(config_name, str) or not isinstance(layer_names, list):
            raise TransportError(f"manifest.json in {path} has no Config or Layers")
        self._blobs: dict[str, str] = {}  # digest -> member name
        config = self._config_descriptor(self._member(config_name))
        layers = [self._layer_descriptor(self._member(name)) for name in layer_names]
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
        self._manifest = canonical_json(manifest)
        self._top = Descriptor(mt.OCI_MANIFEST, Digest.of(self._manifest), len(self._manifest))

    def _member(self, name: object) -> str:
        if not isinstance(name, str):
            raise TransportError(f"manifest.json in {self.ref.path} names a non-string file")
        member, problem = normalize_name(name)
        if problem or not self._tar.has(member):
            raise TransportError(f"{name} named by manifest.json is missing from {self.ref.path}")
        return member

    def _config_descriptor(self, name: str) -> Descriptor:
        data = self._tar.read(name)
        digest = Digest.of(data)
        named = _NAMED_BY_DIGEST.match(name.rsplit("/", 1)[-1] if "blobs/" not in name else name)
        if named and Digest.from_hex(named.group(1)) != digest:
            raise IntegrityError(
                f"config {name} in {self.ref.path} does not match the digest in its name"
            )
        self._blobs[digest] = name
        return Descriptor(mt.OCI_CONFIG, digest, len(data))

    def _layer_descriptor(self, name: str) -> Descriptor:
        size = self._tar.size(name)
        with self._tar.open(name) as fh:
            head = fh.read(6)
        media_type = _LAYER_TYPES.get(detect_compression(head))
        if media_type is None:
            raise TransportError(
                f"layer {name} in {self.ref.path} is neither a plain, gzip nor zstd tar"
            )
        named = _NAMED_BY_DIGEST.match(name)
        if named:
            # the reader checks this digest when the layer is streamed
            digest = Digest.from_hex(named.group(1))
        else:
            digest = self._hash(name)
        self._blobs[digest] = name
        return Descriptor(media_type, digest, size)

    def _hash(self, name: str) -> Digest:
        h = hashlib.sha256()
        with self._tar.open(name) as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return Digest.from_hex(h.hexdigest())

    def top(self) -> Descriptor:
        return self._top

    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        if descriptor.digest == self._top.digest:
            return io.BytesIO(self._manifest)
        name = self._blobs.get(descriptor.digest)
        if name is None:
            raise TransportError(f"blob {descriptor.digest} is not in {self.ref.path}")
        return self._tar.open(name)

    def close(self) -> None:
        self._tar.close()
