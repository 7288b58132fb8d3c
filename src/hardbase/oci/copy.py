"""Copy images between transports (oci:, oci-archive:, docker-archive:, docker://).

Every platform of an index is copied. Blobs always go before the manifests
that name them, child manifests before their index, and the tag last, so a
reader of the destination never meets a manifest naming a missing blob. Blobs
the destination already holds are skipped (and counted), so a second image
sharing base layers uploads only its new layers (mounting, within one registry,
the blobs other repositories hold; see `locations`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hardbase.errors import ImageError, UsageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, Layout
from hardbase.oci.locations import BlobLocations
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.registry import (
    NotFoundError,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistrySource,
    RegistryUnavailable,
    client_for,
)
from hardbase.oci.transports.interface import ImageSource, VerifyingReader
from hardbase.util import jsondoc
from hardbase.util.digest import CosignSuffix, Digest
from hardbase.util.fs import atomic_writer
from hardbase.util.progress import NullProgress, Progress

log = logging.getLogger(__name__)

# cosign's tags, then the referrers tag schema's index (`sha256-<hex>`) that lists them.
SIGNATURE_SUFFIXES: tuple[CosignSuffix | None, ...] = ("sig", "att", "sbom", None)


BLOB_WORKERS = 4  # uploads at once, as skopeo and crane do


@dataclass
class CopyStats:
    """What a copy did: blobs uploaded, skipped (already there) or mounted, bytes sent."""

    uploaded: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes: int = 0
    manifests: int = 0


@dataclass(frozen=True)
class CopyResult:
    digest: Digest
    stats: CopyStats


class Destination(ABC):
    """Somewhere images are written: a registry repository or an OCI layout."""

    @abstractmethod
    def put_blob(self, descriptor: Descriptor, opener: Callable[[], IO[bytes]]) -> str:
        """Store a blob unless present: 'uploaded', 'skipped' or 'mounted'."""

    @abstractmethod
    def put_manifest(self, descriptor: Descriptor, data: bytes, tag: str | None) -> None:
        """Store a manifest by digest, and name it `tag` when given."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class RegistryDestination(Destination):
    """A repository; blobs another repository of the registry holds are mounted, not sent.

    The repository to mount from is the source's (registry to registry) or the
    one `BlobLocations` remembers from earlier pushes.
    """

    def __init__(
        self,
        client: RegistryClient,
        mount_from: str | None = None,
        locations: BlobLocations | None = None,
    ) -> None:
        self.client = client
        self.mount_from = mount_from
        self.locations = locations

    def put_blob(self, descriptor: Descriptor, opener: Callable[[], IO[bytes]]) -> str:
        registry = self.client.registry
        remembered = self.locations.lookup(registry, descriptor.digest) if self.locations else None
        mount_from = self.mount_from or remembered
        try:
            outcome = self.client.push_blob(descriptor, opener, mount_from=mount_from)
        except RegistryError as exc:
            if mount_from is None or mount_from != remembered or _transient(exc):
                raise
            # a stale hint some registries answer with an error rather than an upload session
            log.debug("mounting %s from %s failed (%s)", descriptor.digest, mount_from, exc)
            outcome = self.client.push_blob(descriptor, opener)
        if self.locations is not None:
            self.locations.record(registry, descriptor.digest, self.client.repository)
        return outcome

    def put_manifest(self, descriptor: Descriptor, data: bytes, tag: str | None) -> None:
        self.client.put_manifest(tag or descriptor.digest, data, descriptor.media_type)

    def close(self) -> None:
        self.client.close()
        if self.locations is not None:
            self.locations.save()


def _transient(exc: RegistryError) -> bool:
    return isinstance(exc, RegistryUnavailable | RegistryAuthError)


class LayoutDestination(Destination):
    def __init__(self, root: Path) -> None:
        try:
            self.layout = Layout.create(root)
        except OSError as exc:
            raise ImageError(
                f"cannot create an OCI layout at {root} ({exc.strerror}); check the path"
            ) from None

    def put_blob(self, descriptor: Descriptor, opener: Callable[[], IO[bytes]]) -> str:
        if self.layout.has_blob(descriptor.digest):
            return "skipped"
        path = self.layout.blob_path(descriptor.digest)
        try:
            with (
                VerifyingReader(opener(), descriptor, "the source") as reader,
                atomic_writer(path) as out,
            ):
                while chunk := reader.read(1 << 20):
                    out.write(chunk)
        except OSError as exc:
            raise ImageError(
                f"cannot write blob {descriptor.digest} to {self.layout.root} ({exc.strerror})"
            ) from None
        return "uploaded"

    def put_manifest(self, descriptor: Descriptor, data: bytes, tag: str | None) -> None:
        self.layout.put_bytes(data, descriptor.media_type)
        if tag is not None:
            self.layout.set_entry(descriptor, tag or None)


def open_source(ref: ImageRef, *, insecure: bool = False, **options: Any) -> ImageSource:
    """An ImageSource for any transport (registry here, the rest via transports.open)."""
    if ref.transport == "docker":
        return RegistrySource(ref, insecure=insecure, **options)
    try:
        generic = importlib.import_module("hardbase.oci.transports.open").open_source
    except (ImportError, AttributeError):
        generic = None
    if generic is not None:
        source: ImageSource = generic(ref, insecure=insecure)
        return source
    if ref.transport == "oci":
        from hardbase.oci.transports.oci_layout import OCILayoutSource

        return OCILayoutSource(ref)
    raise UsageError(f"cannot read images from {ref.transport}: yet; use oci: or docker://")


def open_destination(
    ref: ImageRef, *, insecure: bool = False, source: ImageRef | None = None, **options: Any
) -> Destination:
    if ref.transport == "docker":
        mount_from = None
        if source is not None and source.transport == "docker" and source.registry == ref.registry:
            mount_from = source.repository
        return RegistryDestination(
            client_for(ref, insecure=insecure, **options), mount_from, BlobLocations()
        )
    if ref.transport == "oci":
        return LayoutDestination(ref.local_path)
    raise UsageError(
        f"cannot write images to {ref.transport}:; "
        "push to docker://HOST/REPO[:TAG] or oci:DIR[:TAG]"
    )


def _as_ref(value: str | ImageRef) -> ImageRef:
    return value if isinstance(value, ImageRef) else parse_reference(value)


class _Plan:
    """The blobs and manifests to copy, children first."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source
        self.blobs: dict[str, Descriptor] = {}
        self.manifests: list[tuple[Descriptor, bytes]] = []
        self._seen: set[str] = set()

    def walk(self, desc: Descriptor, depth: int = 0) -> None:
        if depth > 4:
            raise ImageError(f"{self.source.ref} nests indexes too deeply")
        if desc.digest in self._seen:
            return
        self._seen.add(desc.digest)
        data = self.source.read_blob(desc)
        try:
            doc = jsondoc.loads(data)
        except ValueError:
            raise ImageError(f"manifest {desc.digest} in {self.source.ref} is not JSON") from None
        if not isinstance(doc, dict):
            raise ImageError(f"manifest {desc.digest} in {self.source.ref} is not a JSON object")
        if desc.media_type in mt.INDEX_TYPES:
            for entry in _list(doc, "manifests", desc, self.source.ref):
                self.walk(Descriptor.from_json(entry), depth + 1)
        elif desc.media_type in mt.MANIFEST_TYPES:
            config = doc.get("config")
            if not isinstance(config, dict):
                raise ImageError(f"manifest {desc.digest} in {self.source.ref} has no config")
            for entry in [config, *_list(doc, "layers", desc, self.source.ref)]:
                blob = Descriptor.from_json(entry)
                if entry.get("urls"):
                    continue  # foreign layers stay where they are
                self.blobs.setdefault(blob.digest, blob)
        else:
            raise ImageError(
                f"{desc.digest} in {self.source.ref} has media type '{desc.media_type}', "
                "which is neither a manifest nor an index"
            )
        self.manifests.append((desc, data))


def _list(doc: dict[str, Any], key: str, desc: Descriptor, ref: ImageRef) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ImageError(f"'{key}' of {desc.digest} in {ref} is not a list of descriptors")
    return value


def copy(
    src: str | ImageRef,
    dest: str | ImageRef,
    *,
    insecure: bool = False,
    progress: Progress | None = None,
    signatures: bool = False,
    **options: Any,
) -> CopyResult:
    """Copy the image `src` names to `dest`; `options` go to RegistryClient (e.g. chunk_size).

    With `signatures`, cosign's `sha256-<hex>.sig`/`.att`/`.sbom` tags that the
    source holds for the image are copied after it, then the referrers index
    `sha256-<hex>` that lists the `.att` and `.sbom` manifests.
    """
    src_ref, dest_ref = _as_ref(src), _as_ref(dest)
    progress = progress or NullProgress()
    stats = CopyStats()
    with open_source(src_ref, insecure=insecure, **options) as source:
        destination = open_destination(dest_ref, insecure=insecure, source=src_ref, **options)
        try:
            top = _copy_one(
                source, destination, _dest_tag(dest_ref), stats, progress, str(dest_ref)
            )
            if dest_ref.digest and dest_ref.digest != top.digest:
                raise UsageError(
                    f"{src_ref} is {top.digest}, not the digest {dest_ref.digest} named in the "
                    "destination; drop @DIGEST from it"
                )
            if signatures:
                _copy_signatures(
                    src_ref, top.digest, destination, stats, progress, insecure, options
                )
        finally:
            destination.close()
    log.debug("copied %s to %s: %s", src_ref, dest_ref, stats)
    return CopyResult(top.digest, stats)


def copy_image(
    src: str | ImageRef,
    dest: str | ImageRef,
    *,
    insecure: bool = False,
    progress: Progress | None = None,
    **options: Any,
) -> Digest:
    """Copy an image between transports; returns the digest of what was pushed."""
    return copy(src, dest, insecure=insecure, progress=progress, **options).digest


def _dest_tag(ref: ImageRef) -> str | None:
    if ref.transport == "docker":
        return None if ref.digest else (ref.tag or "latest")
    return ref.tag or ""  # '' = an untagged entry in the layout's index


def _copy_one(
    source: ImageSource,
    destination: Destination,
    tag: str | None,
    stats: CopyStats,
    progress: Progress,
    where: str,
) -> Descriptor:
    top = source.top()
    plan = _Plan(source)
    plan.walk(top)
    progress.start(f"copying {len(plan.blobs)} blobs to {where}", len(plan.blobs))
    # Blobs go up in parallel, largest first (the largest is the longest upload, so it
    # starts at once); every one is in place before any manifest is sent.
    largest_first = sorted(plan.blobs.values(), key=lambda b: b.size, reverse=True)
    with ThreadPoolExecutor(BLOB_WORKERS) as pool:
        futures = [
            (blob, pool.submit(destination.put_blob, blob,
                               functools.partial(source.open_blob, blob)))
            for blob in largest_first
        ]  # fmt: skip
        for blob, future in futures:
            outcome = future.result()
            if outcome == "skipped":
                stats.skipped += 1
            elif outcome == "mounted":
                stats.mounted += 1
            else:
                stats.uploaded += 1
                stats.bytes += blob.size
            progress.advance(1)
    for desc, data in plan.manifests:
        if desc.digest == top.digest:
            # the source's own annotations (its ref.name) do not belong to the destination
            clean = Descriptor(top.media_type, top.digest, top.size, top.platform)
            destination.put_manifest(clean, data, tag)
        else:
            destination.put_manifest(desc, data, None)
        stats.manifests += 1
    progress.finish()
    return top


def _copy_signatures(
    src_ref: ImageRef,
    digest: Digest,
    destination: Destination,
    stats: CopyStats,
    progress: Progress,
    insecure: bool,
    options: dict[str, Any],
) -> None:
    for suffix in SIGNATURE_SUFFIXES:
        tag = digest.cosign_tag(suffix) if suffix else digest.referrers_tag
        ref = dataclasses.replace(src_ref, tag=tag, digest=None)
        with open_source(ref, insecure=insecure, **options) as source:
            try:
                source.top()
            except NotFoundError:
                continue
            except ImageError:
                if ref.transport == "docker":
                    raise
                continue  # a layout or archive without that tag
            _copy_one(source, destination, tag, stats, progress, tag)
