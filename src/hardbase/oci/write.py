"""Writing a finished OCI layout as an oci-archive or a docker-archive tar."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from hardbase.errors import ImageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, Layout
from hardbase.util.digest import Digest


def _tar_info(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def write_oci_archive(layout_dir: Path, dest: Path) -> None:
    """Tar the layout deterministically (sorted, mtime 0, numeric owners)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        paths = sorted(p for p in layout_dir.rglob("*"))
        for path in paths:
            rel = path.relative_to(layout_dir).as_posix()
            if path.is_dir():
                tar.addfile(_tar_info(rel, 0, directory=True))
            else:
                with path.open("rb") as fh:
                    tar.addfile(_tar_info(rel, path.stat().st_size), fh)


def write_docker_archive(layout: Layout, dest: Path, repo_tag: str) -> None:
    """`docker save` format with uncompressed layers, so `podman load` and skopeo read it."""
    from isal import igzip

    top = layout.entries()[-1]
    index = json.loads(layout.read_blob(top.digest))
    manifests = [Descriptor.from_json(m) for m in index.get("manifests", [])]
    if top.media_type != mt.OCI_INDEX or len(manifests) != 1:
        raise ImageError("docker-archive holds exactly one single-platform image")
    manifest = json.loads(layout.read_blob(manifests[0].digest))
    config_desc = Descriptor.from_json(manifest["config"])
    config_digest = config_desc.digest.hex
    config = layout.read_blob(config_desc.digest)
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_tar_info(f"{config_digest}.json", len(config)), _bytes(config))
        names = []
        for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
            hexid = Digest(diff_id, "(a diff_id of the image's config)").hex
            with layout.blob_path(layer["digest"]).open("rb") as fh:
                data = igzip.decompress(fh.read())  # type: ignore[no-untyped-call]
            name = f"{hexid}/layer.tar"
            tar.addfile(_tar_info(hexid, 0, directory=True))
            tar.addfile(_tar_info(name, len(data)), _bytes(data))
            names.append(name)
        doc = json.dumps(
            [{"Config": f"{config_digest}.json", "RepoTags": [repo_tag], "Layers": names}]
        ).encode()
        tar.addfile(_tar_info("manifest.json", len(doc)), _bytes(doc))


def _bytes(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)
