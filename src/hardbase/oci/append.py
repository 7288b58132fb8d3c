"""One more layer on top of an existing image: new config, manifest and index, old blobs kept.

Used by the commands that change images hardbase did not build (`certs add`,
`patch-image`) through `append_layers`: the image is first copied into a
staging layout, each platform's manifest
gets the new layer (its media type matching the manifest's family, Docker or
OCI), the config's diff_ids and history grow by one, and an index (when the
source had one) names the new manifests. Everything else stays as it was, so
the original layers keep their digests and a registry mounts them.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.build.tree import DIR, Entry, parents
from hardbase.errors import ImageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.filetree import FileTreeResult
from hardbase.oci.layout import Descriptor, Layout, canonical_json
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.transports.interface import ResolvedImage
from hardbase.util import clock
from hardbase.util.digest import Digest
from hardbase.util.progress import Labelled, NullProgress, Progress

if TYPE_CHECKING:
    from hardbase.oci.transports.oci_layout import OCILayoutSource

BASE_DIGEST = "org.opencontainers.image.base.digest"


@dataclass(frozen=True)
class NewLayer:
    """A gzip layer blob and what the config records for it."""

    data: bytes  # the gzip blob
    diff_id: str  # sha256 of the uncompressed tar
    created_by: str  # the history entry's `created_by`


# (source, platform image, scratch dir) -> the new layer's entries (none: the image
# stays as it is) and its history line
LayerPlan = Callable[["OCILayoutSource", ResolvedImage, Path], tuple[list[Entry], str]]


@dataclass(frozen=True)
class Appended:
    digest: Digest  # of what DEST now names
    source_digest: Digest  # of SRC's top manifest or index, as read
    layers: dict[str, str] = field(default_factory=dict)  # platform -> new layer ("" none)


def append_layers(
    src: ImageRef,
    dest: ImageRef,
    plan: LayerPlan,
    *,
    insecure: bool = False,
    progress: Progress | None = None,
) -> Appended:
    """Copy `src` to `dest` with one layer from `plan` on top of each platform image."""
    from hardbase.build.layers import tar_entries
    from hardbase.oci.copy import copy as copy_to
    from hardbase.oci.transports.oci_layout import OCILayoutSource

    progress = progress or NullProgress()
    with tempfile.TemporaryDirectory(prefix="hardbase-append-") as tmp:
        staged = parse_reference(f"oci:{tmp}/image:source")
        copy_to(src, staged, insecure=insecure, progress=Labelled(progress, f"reading {src}"))
        source = OCILayoutSource(staged)
        top = source.top()
        index = source.read_json(top) if top.media_type in mt.INDEX_TYPES else None
        replaced: dict[str, Descriptor] = {}
        layers: dict[str, str] = {}
        for image in source.resolve_all():
            entries, created_by = plan(source, image, Path(tmp))
            if not entries:
                replaced[image.manifest.digest] = image.manifest
                layers[image.platform] = ""
                continue
            tar, _ = tar_entries(entries, None)
            data, diff_id = gzip_layer(tar)
            replaced[image.manifest.digest] = add_layer(
                source.layout, image, NewLayer(data, diff_id, created_by)
            )
            layers[image.platform] = Digest.of(data)
        source.layout.set_entry(replace_manifests(source.layout, top, index, replaced), "out")
        written = copy_to(
            f"oci:{tmp}/image:out", dest, insecure=insecure,
            progress=Labelled(progress, f"writing {dest}"),
        )  # fmt: skip
    return Appended(written.digest, top.digest, layers)


def add_layer(layout: Layout, image: ResolvedImage, layer: NewLayer) -> Descriptor:
    """Write `image` with `layer` on top into `layout`; returns the new manifest's descriptor."""
    docker = image.manifest.media_type == mt.DOCKER_MANIFEST
    layer_type = mt.DOCKER_LAYER_GZIP if docker else mt.OCI_LAYER_GZIP
    layer_desc = layout.put_bytes(layer.data, layer_type)
    config: dict[str, Any] = copy.deepcopy(image.config)
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs.setdefault("diff_ids", []).append(layer.diff_id)
    entry = {"created_by": layer.created_by, "comment": "hardbase"}
    if "created" in config:
        entry = {"created": config["created"], **entry}  # the same input gives the same bytes
    config.setdefault("history", []).append(entry)
    config_type = image.manifest_json.get("config", {}).get("mediaType") or (
        mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG
    )
    config_desc = layout.put_bytes(canonical_json(config), config_type)
    manifest = copy.deepcopy(image.manifest_json)
    manifest["config"] = config_desc.to_json()
    manifest["layers"] = [*manifest.get("layers", []), layer_desc.to_json()]
    if not docker:
        manifest.setdefault("annotations", {})[BASE_DIGEST] = image.manifest.digest
    desc = layout.put_bytes(canonical_json(manifest), image.manifest.media_type)
    return Descriptor(desc.media_type, desc.digest, desc.size, image.manifest.platform)


def replace_manifests(
    layout: Layout, top: Descriptor, index: dict[str, Any] | None, new: dict[str, Descriptor]
) -> Descriptor:
    """The image's new top descriptor: the new manifest, or an index naming the new ones.

    `new` maps each old manifest digest to its replacement. Index entries that
    are not replaced (attestation manifests of the old digests) are dropped.
    """
    if index is None:
        (only,) = new.values()
        return only
    out = copy.deepcopy(index)
    manifests = []
    for entry in index.get("manifests", []):
        replacement = new.get(entry.get("digest", ""))
        if replacement is None:
            continue
        manifests.append({**entry, **replacement.to_json(), "platform": entry.get("platform")})
        if manifests[-1]["platform"] is None:
            del manifests[-1]["platform"]
    out["manifests"] = manifests
    return layout.put_bytes(canonical_json(out), top.media_type)


def gzip_layer(tar: bytes) -> tuple[bytes, Digest]:
    """The deterministic gzip blob of a layer tar and its diff_id."""
    from hardbase.build.layers import gzip_bytes

    return gzip_bytes(tar), Digest.of(tar)


def with_parents(tree: FileTreeResult, entries: list[Entry], mtime: int, where: str) -> list[Entry]:
    """`entries` plus their parent directories, with the mode and owner the image gives them.

    A parent that is a file or a link in the image is refused: a layer never writes
    through a link it did not make.
    """
    out = {e.path: e for e in entries}
    for entry in entries:
        for parent in parents(entry.path):
            if parent in out:
                continue
            info = tree.files.get(parent)
            if info is not None and info.kind != "dir":
                raise ImageError(
                    f"/{parent} in {where} is a {info.kind}, not a directory; hardbase "
                    f"cannot put /{entry.path} below it"
                )
            mode, uid, gid = (info.mode, info.uid, info.gid) if info else (0o755, 0, 0)
            out[parent] = Entry(parent, DIR, mode, uid, gid, mtime=mtime)
    return list(out.values())


def layer_mtime(image: ResolvedImage) -> int:
    """SOURCE_DATE_EPOCH, else the image's `created`, so the same input gives the same layer."""
    epoch = clock.source_date_epoch()
    if epoch is not None:
        return epoch
    created = image.config.get("created")
    if isinstance(created, str):
        try:
            return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return 0
