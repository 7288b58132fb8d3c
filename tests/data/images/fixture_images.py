"""Test fixture: small images written by hand (tar layers, OCI layouts, archives).

Everything here is fixture data built in a test's tmp_path; nothing is real
distro content. Used by tests/oci and tests/vuln: `two_layer_image` writes one base
and one top layer as the same image through each local transport.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Layout

MTIME = 1_700_000_000


@dataclass(frozen=True)
class Entry:
    """One tar member of a fixture layer."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    mode: int = 0o644
    link: str = ""
    uid: int = 0
    gid: int = 0


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> Entry:
    return Entry(name, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, type=tarfile.DIRTYPE, mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, type=tarfile.SYMTYPE, mode=0o777, link=target)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, type=tarfile.LNKTYPE, link=target)


def device(name: str) -> Entry:
    return Entry(name, type=tarfile.CHRTYPE, mode=0o666)


def fifo(name: str) -> Entry:
    return Entry(name, type=tarfile.FIFOTYPE, mode=0o644)


def whiteout(path: str) -> Entry:
    head, _, name = path.rpartition("/")
    return file(f"{head}/.wh.{name}" if head else f".wh.{name}")


def opaque(directory_path: str) -> Entry:
    return file(f"{directory_path}/.wh..wh..opq")


def tar_bytes(entries: list[Entry]) -> bytes:
    """An uncompressed tar (PAX) with the entries in the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.type
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = MTIME
            info.linkname = e.link
            if e.type == tarfile.REGTYPE:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer_type(blob: bytes) -> str:
    if blob.startswith(b"\x1f\x8b"):
        return mt.OCI_LAYER_GZIP
    if blob.startswith(b"\x28\xb5\x2f\xfd"):
        return mt.OCI_LAYER_ZSTD
    return mt.OCI_LAYER


def _uncompressed(blob: bytes) -> bytes:
    if blob.startswith(b"\x1f\x8b"):
        return gzip.decompress(blob)
    if blob.startswith(b"\x28\xb5\x2f\xfd"):
        return zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 30)
    return blob


def config_for(layers: list[bytes], arch: str = "amd64") -> dict[str, object]:
    return {
        "architecture": arch,
        "os": "linux",
        "config": {"User": "65532:65532"},
        "rootfs": {"type": "layers", "diff_ids": [sha256(_uncompressed(b)) for b in layers]},
    }


def write_oci(
    root: Path,
    layers: list[bytes],
    *,
    tag: str | None = "latest",
    arch: str = "amd64",
    config: dict[str, object] | None = None,
) -> Path:
    """An OCI image layout at `root` holding one image made of `layers` (blobs as given)."""
    layout = Layout.create(root)
    layer_descs = [layout.put_bytes(b, _layer_type(b)) for b in layers]
    config_desc = layout.put_json(config or config_for(layers, arch), mt.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [d.to_json() for d in layer_descs],
    }
    layout.set_entry(layout.put_json(manifest, mt.OCI_MANIFEST), tag)
    return root


def write_oci_archive(layout_dir: Path, out: Path) -> Path:
    """Pack an OCI layout directory into a tar, as skopeo's oci-archive: does."""
    with tarfile.open(out, "w") as tar:
        for path in sorted(layout_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(layout_dir).as_posix(), recursive=False)
    return out


def write_docker_archive(out: Path, layers: list[bytes], *, arch: str = "amd64") -> Path:
    """A legacy-style `docker save` tar: `<id>.json` config and `<id>/layer.tar` layers."""
    config = json.dumps(config_for(layers, arch)).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    members: list[tuple[str, bytes]] = [(config_name, config)]
    layer_names = []
    for i, blob in enumerate(layers):
        name = f"{hashlib.sha256(blob + bytes([i])).hexdigest()}/layer.tar"
        layer_names.append(name)
        members.append((name, blob))
    manifest = [{"Config": config_name, "RepoTags": ["fixture:latest"], "Layers": layer_names}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    with tarfile.open(out, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    return out


def two_layer_image(root: Path, base: bytes, top: bytes) -> dict[str, str]:
    """The image of the tars `base` and `top` (bottom first), by transport: an OCI layout
    (`oci`, base gzip, top zstd), its oci-archive, and a docker-archive (base as is, top
    gzip), each a reference to the one image it holds."""
    layout = write_oci(root / "layout", [gz(base), zst(top)])
    archive = write_oci_archive(layout, root / "image.tar")
    docker = write_docker_archive(root / "docker.tar", [base, gz(top)])
    return {
        "oci": f"oci:{layout}",
        "oci-archive": f"oci-archive:{archive}",
        "docker-archive": f"docker-archive:{docker}",
    }
