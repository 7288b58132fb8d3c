"""The transport interface: an image source that hands out manifests and blobs.

Every backend (oci layout, oci-archive, docker-archive, registry) implements
ImageSource; `open_source()` picks one from a reference.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import IO, Any

from hardbase.errors import ImageError, IntegrityError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import MAX_JSON, Descriptor
from hardbase.oci.reference import ImageRef
from hardbase.util import jsondoc
from hardbase.util.digest import Digest


class TransportError(ImageError):
    """A transport could not read or write an image."""


@dataclass(frozen=True)
class ResolvedImage:
    """One platform's image: its manifest, config and layers."""

    ref: ImageRef
    index_digest: str | None  # when the reference named an index
    manifest: Descriptor
    manifest_json: dict[str, Any]
    config: dict[str, Any]
    layers: tuple[Descriptor, ...]

    @property
    def platform(self) -> str:
        return f"{self.config.get('os', '?')}/{self.config.get('architecture', '?')}"


class VerifyingReader:
    """Wraps a blob stream; at EOF, raises IntegrityError if the sha256 or size is wrong."""

    def __init__(self, raw: IO[bytes], descriptor: Descriptor, where: str) -> None:
        self._raw = raw
        self._desc = descriptor
        self._where = where
        self._hash = hashlib.sha256()
        self._seen = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._seen += len(data)
        if self._seen > self._desc.size:
            raise IntegrityError(
                f"blob {self._desc.digest} in {self._where} is larger than its descriptor says"
            )
        self._hash.update(data)
        if not data or (n < 0):
            self._check()
        return data

    def _check(self) -> None:
        if self._seen != self._desc.size or (
            Digest.from_hex(self._hash.hexdigest()) != self._desc.digest
        ):
            raise IntegrityError(
                f"blob {self._desc.digest} in {self._where} does not match its digest"
            )

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageSource(ABC):
    """Read access to one image reference."""

    def __init__(self, ref: ImageRef) -> None:
        self.ref = ref

    @abstractmethod
    def top(self) -> Descriptor:
        """The descriptor the reference names (an index or a manifest)."""

    @abstractmethod
    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        """A raw stream of a blob (manifests included); callers verify via VerifyingReader."""

    def read_blob(self, descriptor: Descriptor, max_size: int = MAX_JSON) -> bytes:
        if descriptor.size > max_size:
            raise ImageError(f"blob {descriptor.digest} in {self.ref} is too large to read")
        with VerifyingReader(self.open_blob(descriptor), descriptor, str(self.ref)) as reader:
            data = reader.read()
        return data

    def read_json(self, descriptor: Descriptor) -> dict[str, Any]:
        data = self.read_blob(descriptor)
        try:
            obj = jsondoc.loads(data)
        except ValueError as exc:
            raise ImageError(f"{descriptor.digest} in {self.ref} is not valid JSON") from exc
        if not isinstance(obj, dict):
            raise ImageError(f"{descriptor.digest} in {self.ref} is not a JSON object")
        return obj

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve_all(self) -> list[ResolvedImage]:
        """Every platform image the reference names (one for a plain manifest)."""
        top = self.top()
        if top.media_type in mt.INDEX_TYPES:
            index = self.read_json(top)
            out = []
            for entry in index.get("manifests", []):
                desc = Descriptor.from_json(entry)
                if desc.media_type not in mt.MANIFEST_TYPES:
                    continue
                if (desc.platform or {}).get("architecture") == "unknown":
                    continue  # attestation manifests (buildkit style)
                out.append(self._resolve_manifest(desc, top.digest))
            if not out:
                raise ImageError(f"{self.ref} names an index with no image manifests")
            return out
        return [self._resolve_manifest(top, None)]

    def resolve(self, arch: str | None = None) -> ResolvedImage:
        """The image for `arch` (default: amd64 if present, else the first)."""
        images = self.resolve_all()
        if arch:
            for image in images:
                if image.config.get("architecture") == arch:
                    return image
            raise ImageError(f"{self.ref} has no {arch} image")
        for image in images:
            if image.config.get("architecture") == "amd64":
                return image
        return images[0]

    def _resolve_manifest(self, desc: Descriptor, index_digest: str | None) -> ResolvedImage:
        manifest = self.read_json(desc)
        try:
            config_desc = Descriptor.from_json(manifest["config"])
            layers = tuple(Descriptor.from_json(layer) for layer in manifest["layers"])
        except (KeyError, TypeError) as exc:
            raise ImageError(f"manifest {desc.digest} in {self.ref} is malformed") from exc
        config = self.read_json(config_desc)
        return ResolvedImage(self.ref, index_digest, desc, manifest, config, layers)
