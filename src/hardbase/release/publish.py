"""Publish a signed release: immutable version tags first, then the moving tags.

Every version tag must be free or already name the digest (a version tag never
moves); the image, its signature and attestations are copied under the first
(blobs before any manifest), the other version tags are put next, and only
then do the moving tags (`latest`, `13`) point at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hardbase.errors import ImageError
from hardbase.oci.registry import RegistryClient
from hardbase.util.progress import Progress


@dataclass(frozen=True)
class Pushed:
    digest: str
    tags: tuple[str, ...]
    uploaded: int
    skipped: int


def push_versions(
    source: str,
    client: RegistryClient,
    identity: str,
    digest: str,
    version_tags: Sequence[str],
    *,
    insecure: bool,
    progress: Progress | None = None,
) -> Pushed:
    """Push the image `source` names (with its signatures) under its version tags."""
    from hardbase.oci.copy import copy

    for tag in version_tags:
        there = client.head_manifest(tag)
        if there is not None and there.digest != digest:
            raise ImageError(
                f"{identity}:{tag} already names {there.digest}, not {digest}; "
                "version tags are immutable, so the state database and the registry "
                "disagree: check the registry"
            )
    ref = f"docker://{identity}:{version_tags[0]}"
    result = copy(source, ref, insecure=insecure, signatures=True, progress=progress)
    if result.digest != digest:
        raise ImageError(f"pushed {result.digest}, expected the verified {digest}")
    data, media_type, _ = client.get_manifest(digest)
    for tag in version_tags[1:]:
        client.put_manifest(tag, data, media_type)
    return Pushed(digest, tuple(version_tags), result.stats.uploaded, result.stats.skipped)


def move_tags(client: RegistryClient, digest: str, tags: Sequence[str]) -> None:
    """Point each of `tags` at the manifest `digest` (already in the repository)."""
    data, media_type, _ = client.get_manifest(digest)
    for tag in tags:
        client.put_manifest(tag, data, media_type)
