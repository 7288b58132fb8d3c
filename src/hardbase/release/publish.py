"""Publish a signed release: immutable version tags first, then the moving tags.

Every version tag must be free or already name the digest (a version tag never
moves); the image, its signature and attestations are copied under the first
(blobs before any manifest), the other version tags are put next, and only
then do the moving tags (`latest`, `13`) point at it.

`hardbase push` is the hand-run step: copy an image (or the four variants of
`build --variants`) to a destination and, with a key, sign it where it now lives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.errors import ImageError, UsageError
from hardbase.oci.reference import ImageRef
from hardbase.oci.registry import RegistryClient
from hardbase.util.progress import Progress

if TYPE_CHECKING:
    from hardbase.oci.copy import CopyResult


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


def check_push_signing(dest: ImageRef, key: Path) -> None:
    """Stop before pushing when `push --sign-key` cannot sign at `dest` with `key`."""
    from hardbase.release.keys import check_signing_key

    if dest.transport != "docker":
        raise UsageError(f"--sign-key signs a registry image; {dest} is not docker://…")
    check_signing_key(key)


def push_image(
    src: ImageRef,
    dest: ImageRef,
    *,
    insecure: bool,
    signatures: bool,
    sign_key: Path | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> CopyResult:
    """Copy `src` to `dest` (`options` go to the registry client, e.g. chunk_size) and,
    with `sign_key`, sign the pushed digest for `dest`'s repository."""
    from hardbase.oci.copy import copy

    result = copy(src, dest, insecure=insecure, progress=progress, signatures=signatures, **options)
    if sign_key is not None:
        from hardbase.attest.sign import sign_image
        from hardbase.release.keys import password_from_env

        by_digest = dataclasses.replace(dest, tag=None, digest=result.digest)
        sign_image(by_digest, sign_key, password_from_env(), insecure=insecure)
    return result


def variant_pairs(src: ImageRef, dest: ImageRef, insecure: bool) -> list[tuple[ImageRef, ImageRef]]:
    """(source, destination) of every variant; each source checked before anything is pushed."""
    from hardbase.build.variants import variant_tags
    from hardbase.oci.copy import open_source

    if src.digest or dest.digest:
        raise UsageError("--variants pushes tags; name SRC and DEST by tag, not @DIGEST")
    pairs = []
    dest_tags = variant_tags(dest.tag)
    for variant, tag in variant_tags(src.tag).items():
        one = dataclasses.replace(src, tag=tag)
        try:
            with open_source(one, insecure=insecure) as source:
                source.top()
        except ImageError as exc:
            raise UsageError(
                f"{one} is missing ({exc.diagnostics()}); --variants needs the four images "
                "`hardbase build --variants` writes"
            ) from None
        pairs.append((one, dataclasses.replace(dest, tag=dest_tags[variant])))
    return pairs
