"""Where signatures and attestations live: beside the image, under cosign's tags.

For `docker://HOST/REPO` the artifacts are manifests tagged
`sha256-<hex>.sig` / `.att` / `.sbom` in the same repository; for `oci:DIR` they
are entries of the layout's index with those tags. The `.att` and `.sbom`
manifests also name the image as their OCI 1.1 `subject` (with an
`artifactType`, and a file name on each layer), and the referrers tag schema's
index `sha256-<hex>` lists them, so OCI 1.1 tools (`oras discover`, `oras pull`)
find them on registries with or without the referrers API.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any

from hardbase.attest import cosign
from hardbase.errors import ImageError, UsageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, Layout, canonical_json
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.registry import MAX_MANIFEST, NotFoundError, RegistryClient, client_for
from hardbase.util import jsondoc
from hardbase.util.digest import Digest


class ArtifactStore(ABC):
    """An image's home: resolves it and reads or writes the artifacts tagged beside it."""

    def __init__(self, ref: ImageRef) -> None:
        self.ref = ref

    @property
    @abstractmethod
    def identity(self) -> str:
        """The name signatures record (cosign's `docker-reference`)."""

    @abstractmethod
    def resolve(self) -> Descriptor:
        """The descriptor of the image the reference names now, from its bytes.

        The manifest (or index) is read and hashed, so the digest a signature is
        checked against is the digest of the bytes a consumer gets; raises
        IntegrityError when they differ.
        """

    @abstractmethod
    def get_tagged(self, tag: str) -> tuple[Descriptor, dict[str, Any]] | None:
        """The manifest tagged `tag` (descriptor and JSON), or None."""

    @abstractmethod
    def read_blob(self, descriptor: Descriptor, max_size: int = 16 << 20) -> bytes: ...

    @abstractmethod
    def put_blob(self, data: bytes, media_type: str) -> Descriptor: ...

    @abstractmethod
    def put_manifest(
        self, manifest: dict[str, Any], tag: str, media_type: str = mt.OCI_MANIFEST
    ) -> Digest:
        """Store an OCI manifest (or index) under `tag`; returns its digest."""

    @abstractmethod
    def tags(self) -> list[str]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RegistryStore(ArtifactStore):
    def __init__(self, ref: ImageRef, client: RegistryClient) -> None:
        super().__init__(ref)
        self.client = client

    @property
    def identity(self) -> str:
        return self.ref.docker_reference

    def resolve(self) -> Descriptor:
        reference = self.ref.digest or self.ref.tag or "latest"
        try:
            data, media_type, digest = self.client.get_manifest(reference)  # hashes the bytes
        except NotFoundError:
            missing = f"{self.ref} does not exist; check the repository and tag"
            raise NotFoundError(missing) from None
        return Descriptor(media_type, digest, len(data))

    def get_tagged(self, tag: str) -> tuple[Descriptor, dict[str, Any]] | None:
        try:
            data, media_type, digest = self.client.get_manifest(tag)
        except NotFoundError:
            return None
        return Descriptor(media_type, digest, len(data)), _parse(data, f"{self.ref} tag {tag}")

    def read_blob(self, descriptor: Descriptor, max_size: int = 16 << 20) -> bytes:
        return self.client.read_blob(descriptor, max_size)

    def put_blob(self, data: bytes, media_type: str) -> Descriptor:
        desc = Descriptor(media_type, Digest.of(data), len(data))
        self.client.push_blob(desc, lambda: _BytesReader(data))  # type: ignore[arg-type,return-value]
        return desc

    def put_manifest(
        self, manifest: dict[str, Any], tag: str, media_type: str = mt.OCI_MANIFEST
    ) -> Digest:
        return self.client.put_manifest(tag, canonical_json(manifest), media_type)

    def tags(self) -> list[str]:
        return self.client.list_tags()

    def close(self) -> None:
        self.client.close()


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else min(len(self._data), self._pos + n)
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk

    def close(self) -> None:
        pass


class LayoutStore(ArtifactStore):
    def __init__(self, ref: ImageRef) -> None:
        super().__init__(ref)
        self.layout = Layout.open(ref.local_path)

    @property
    def identity(self) -> str:
        return self.ref.path.name if self.ref.path else ""

    def resolve(self) -> Descriptor:
        desc = self.layout.find(self.ref.tag)
        self.read_blob(desc, MAX_MANIFEST)  # index.json names it; its bytes must hash to it
        return desc

    def get_tagged(self, tag: str) -> tuple[Descriptor, dict[str, Any]] | None:
        try:
            desc = self.layout.find(tag)
        except ImageError:
            return None
        return desc, _parse(self.layout.read_blob(desc.digest), f"{self.ref.path} tag {tag}")

    def read_blob(self, descriptor: Descriptor, max_size: int = 16 << 20) -> bytes:
        data = self.layout.read_blob(descriptor.digest, max_size=max_size)
        if len(data) != descriptor.size:
            raise ImageError(f"blob {descriptor.digest} in {self.ref.path} has the wrong size")
        return data

    def put_blob(self, data: bytes, media_type: str) -> Descriptor:
        return self.layout.put_bytes(data, media_type)

    def put_manifest(
        self, manifest: dict[str, Any], tag: str, media_type: str = mt.OCI_MANIFEST
    ) -> Digest:
        desc = self.layout.put_json(manifest, media_type)
        self.layout.set_entry(desc, tag)
        return desc.digest

    def tags(self) -> list[str]:
        return [
            tag
            for entry in self.layout.entries()
            if (tag := (entry.annotations or {}).get(mt.REF_NAME))
        ]


class ArchiveStore(ArtifactStore):
    """An `oci-archive:` file: read-only, so `verify` can check a packed signed layout."""

    def __init__(self, ref: ImageRef) -> None:
        from hardbase.oci.transports.oci_archive import OCIArchiveSource

        super().__init__(ref)
        self.source = OCIArchiveSource(ref)

    @property
    def identity(self) -> str:
        return self.ref.path.name if self.ref.path else ""

    def resolve(self) -> Descriptor:
        desc = self.source.top()
        self.read_blob(desc, MAX_MANIFEST)  # index.json names it; its bytes must hash to it
        return desc

    def get_tagged(self, tag: str) -> tuple[Descriptor, dict[str, Any]] | None:
        from hardbase.oci.transports.oci_archive import select_entry

        try:
            desc = select_entry(self.source.entries(), tag, str(self.ref))
        except ImageError:
            return None
        return desc, _parse(self.read_blob(desc, MAX_MANIFEST), f"{self.ref} tag {tag}")

    def read_blob(self, descriptor: Descriptor, max_size: int = 16 << 20) -> bytes:
        return self.source.read_blob(descriptor, max_size)  # hashed and size-checked

    def put_blob(self, data: bytes, media_type: str) -> Descriptor:
        raise self._read_only()

    def put_manifest(
        self, manifest: dict[str, Any], tag: str, media_type: str = mt.OCI_MANIFEST
    ) -> Digest:
        raise self._read_only()

    def tags(self) -> list[str]:
        return [t for e in self.source.entries() if (t := (e.annotations or {}).get(mt.REF_NAME))]

    def close(self) -> None:
        self.source.close()

    def _read_only(self) -> UsageError:
        return UsageError(
            f"{self.ref} is read-only; sign the oci:DIR layout (or the registry image) "
            "before packing it into an archive"
        )


def _parse(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = jsondoc.loads(data)
    except ValueError:
        raise ImageError(f"the manifest at {where} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ImageError(f"the manifest at {where} is not a JSON object")
    return doc


def open_store(ref: str | ImageRef, *, insecure: bool = False, **options: Any) -> ArtifactStore:
    """The store for a `docker://`, `oci:` or (read-only) `oci-archive:` reference."""
    image = ref if isinstance(ref, ImageRef) else parse_reference(ref)
    if image.transport == "docker":
        return RegistryStore(image, client_for(image, insecure=insecure, **options))
    if image.transport == "oci":
        return LayoutStore(image)
    if image.transport == "oci-archive":
        return ArchiveStore(image)
    raise UsageError(
        f"{image} cannot hold signatures; sign docker://HOST/REPO[:TAG] or oci:DIR[:TAG] images"
    )


def with_tag(ref: ImageRef, tag: str) -> ImageRef:
    return dataclasses.replace(ref, tag=tag, digest=None)


def existing_layers(store: ArtifactStore, tag: str, media_type: str) -> list[Descriptor]:
    """The layers of media type `media_type` in the manifest tagged `tag` (if any)."""
    found = store.get_tagged(tag)
    if found is None:
        return []
    _, manifest = found
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise ImageError(f"the manifest tagged {tag} in {store.ref} has no layers list")
    return [
        desc
        for desc in (Descriptor.from_json(entry) for entry in layers)
        if desc.media_type == media_type
    ]


def publish(
    store: ArtifactStore,
    tag: str,
    layers: list[Descriptor],
    *,
    subject: Descriptor | None = None,
    artifact_type: str | None = None,
) -> str:
    """Store an artifact manifest of `layers` (with cosign's config) under `tag`.

    With `subject` (the image) and `artifact_type`, the manifest is also an OCI 1.1
    referrer of the image, listed in the referrers tag schema's index.
    """
    config_data, config = cosign.config_descriptor(layers)
    store.put_blob(config_data, config.media_type)
    manifest = cosign.artifact_manifest(config, layers)
    if subject is None or artifact_type is None:
        return store.put_manifest(manifest, tag)
    manifest["artifactType"] = artifact_type
    manifest["subject"] = Descriptor(subject.media_type, subject.digest, subject.size).to_json()
    digest = store.put_manifest(manifest, tag)
    entry = Descriptor(
        mt.OCI_MANIFEST,
        digest,
        len(canonical_json(manifest)),
        annotations={REFERRER_TAG: tag},
        artifact_type=artifact_type,
    )
    _list_referrer(store, subject.digest, entry)
    return digest


# On each entry of the referrers index: the cosign tag it is the manifest of, so a newer
# manifest under that tag replaces the entry rather than piling up.
REFERRER_TAG = "dev.hardbase.artifact.tag"


def _list_referrer(store: ArtifactStore, subject: Digest, entry: Descriptor) -> None:
    tag = subject.referrers_tag
    found = store.get_tagged(tag)
    listed = found[1].get("manifests") if found is not None else None
    kept = [
        m
        for m in (listed if isinstance(listed, list) else [])
        if isinstance(m, dict)
        and m.get("digest") != entry.digest
        and (m.get("annotations") or {}).get(REFERRER_TAG)
        != (entry.annotations or {})[REFERRER_TAG]
    ]
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [*kept, entry.to_json()]}
    store.put_manifest(index, tag, mt.OCI_INDEX)
