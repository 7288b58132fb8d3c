"""Read-side transports (oci, oci-archive, docker-archive) and the streamed file tree."""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from data.images.fixture_images import (
    device,
    directory,
    file,
    gz,
    hardlink,
    opaque,
    sha256,
    symlink,
    tar_bytes,
    two_layer_image,
    whiteout,
    write_docker_archive,
    write_oci,
    write_oci_archive,
    zst,
)
from hardbase.errors import HardbaseError, ImageError, IntegrityError, UsageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.filetree import FileTreeResult, walk_dir, walk_layers
from hardbase.oci.layout import Layout
from hardbase.oci.transports.docker_archive import DockerArchiveSource
from hardbase.oci.transports.interface import TransportError
from hardbase.oci.transports.oci_archive import OCIArchiveSource
from hardbase.oci.transports.open import open_source
from peers import skopeo_copy

BASE = tar_bytes(
    [
        directory("etc"),
        file("etc/hostname", "fixture\n"),
        symlink("etc/os-release", "../usr/lib/os-release"),
        directory("usr/lib"),
        file("usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\n'),
        file("usr/bin/dash", "#!fixture", mode=0o755),
        symlink("bin", "usr/bin"),
        symlink("usr/bin/sh", "dash"),
        file("usr/bin/su", "fixture", mode=0o4755),
        directory("tmp", mode=0o1777),
        directory("opt/app"),
        file("opt/app/old.txt", "old"),
        file("opt/app/sub/deep.txt", "deep"),
        file("var/gone", "gone"),
        directory("var/dir"),
        file("var/dir/child", "child"),
    ]
)
TOP = tar_bytes(
    [
        opaque("opt/app"),
        file("opt/app/new.txt", "new"),
        whiteout("var/gone"),
        whiteout("var/dir"),
        file("etc/hostname", "upper\n"),
        hardlink("etc/hostname-link", "etc/hostname"),
    ]
)


def wanted(path: str) -> bool:
    return path.startswith(("etc/", "usr/lib/", "opt/"))


def walk(ref: str) -> FileTreeResult:
    with open_source(ref) as source:
        return walk_layers(source, source.resolve(), wanted)


@pytest.fixture
def images(tmp_path: Path) -> dict[str, str]:
    """The same two-layer fixture image through each transport."""
    return two_layer_image(tmp_path, BASE, TOP)


@pytest.mark.parametrize("transport", ["oci", "oci-archive", "docker-archive"])
def test_each_transport_gives_the_final_filesystem(images: dict[str, str], transport: str) -> None:
    tree = walk(images[transport])
    assert tree.read("etc/hostname") == b"upper\n"
    assert tree.read("etc/os-release") == b'ID=debian\nVERSION_ID="12"\n'  # via the symlink
    assert tree.read("etc/hostname-link") == b"upper\n"
    assert tree.layer_of("etc/hostname") == tree.layers[1]
    assert tree.layer_of("etc/os-release") == tree.layers[0]
    # opaque directory: lower entries hidden, the directory and the upper entry stay
    assert "opt/app" in tree.files
    assert "opt/app/new.txt" in tree.files
    assert "opt/app/old.txt" not in tree.files
    assert "opt/app/sub/deep.txt" not in tree.files
    # whiteouts remove a file and a directory with everything under it
    assert "var/gone" not in tree.files
    assert "var/dir" not in tree.files and "var/dir/child" not in tree.files
    assert not any(".wh." in p for p in tree.files)
    # what the scorecard needs
    assert tree.setuid_files() == ["usr/bin/su"]
    assert tree.world_writable() == ["tmp"]
    assert tree.has_shell()
    assert tree.files["usr/bin/sh"].kind == "symlink"
    assert tree.read("usr/bin/dash") is None  # not wanted: listed, content not kept
    assert tree.files["usr/bin/dash"].size == len("#!fixture")


def test_transports_agree(images: dict[str, str]) -> None:
    oci, archive = walk(images["oci"]), walk(images["oci-archive"])
    assert oci.files == archive.files
    assert oci.contents == archive.contents
    docker = walk(images["docker-archive"])
    assert {p: (f.kind, f.mode, f.size) for p, f in docker.files.items()} == {
        p: (f.kind, f.mode, f.size) for p, f in oci.files.items()
    }


def test_docker_archive_synthesizes_an_oci_manifest(tmp_path: Path) -> None:
    layers = [BASE, gz(TOP)]
    path = write_docker_archive(tmp_path / "docker.tar", layers, arch="arm64")
    with DockerArchiveSource(open_source(f"docker-archive:{path}").ref) as source:
        image = source.resolve()
        assert image.manifest.media_type == mt.OCI_MANIFEST
        assert [d.digest for d in image.layers] == [sha256(b) for b in layers]
        assert [d.media_type for d in image.layers] == [mt.OCI_LAYER, mt.OCI_LAYER_GZIP]
        assert image.config["architecture"] == "arm64"
        assert source.read_blob(image.manifest) == source.read_blob(source.top())


def test_oci_archive_selects_by_tag(tmp_path: Path) -> None:
    layout = write_oci(tmp_path / "layout", [gz(BASE)], tag="one")
    write_oci(tmp_path / "layout", [gz(TOP)], tag="two")
    archive = write_oci_archive(layout, tmp_path / "image.tar")
    with open_source(f"oci-archive:{archive}:two") as source:
        assert isinstance(source, OCIArchiveSource)
        assert source.resolve().layers[0].digest == sha256(gz(TOP))
    with (
        pytest.raises(ImageError, match="holds 2 images"),
        open_source(f"oci-archive:{archive}") as s,
    ):
        s.top()
    with pytest.raises(ImageError, match="no image tagged 'three'"):
        open_source(f"oci-archive:{archive}:three").top()


def test_oci_archive_refuses_bad_files(tmp_path: Path) -> None:
    layout = write_oci(tmp_path / "layout", [gz(BASE)])
    archive = write_oci_archive(layout, tmp_path / "image.tar")
    compressed = tmp_path / "image.tar.gz"
    compressed.write_bytes(gz(archive.read_bytes()))
    with pytest.raises(TransportError, match="gzip-compressed; decompress it first"):
        open_source(f"oci-archive:{compressed}")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"fixture: not a tar" * 100)
    with pytest.raises(TransportError, match="not a readable tar archive"):
        open_source(f"oci-archive:{junk}")
    with pytest.raises(TransportError, match="cannot open"):
        open_source(f"oci-archive:{tmp_path / 'missing.tar'}")
    docker = write_docker_archive(tmp_path / "docker.tar", [BASE])
    with pytest.raises(TransportError, match="not an OCI archive"):
        open_source(f"oci-archive:{docker}")
    with pytest.raises(TransportError, match="no manifest.json"):
        open_source(f"docker-archive:{archive}")


def test_dir_transport_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="root filesystem, not an image"):
        open_source(f"dir:{tmp_path}")


def test_tampered_manifest_fails(tmp_path: Path) -> None:
    layout_dir = write_oci(tmp_path / "layout", [gz(BASE)])
    layout = Layout(layout_dir)
    manifest = layout.find("latest")
    path = layout.blob_path(manifest.digest)
    doc = json.loads(path.read_bytes())
    doc["annotations"] = {"fixture": "tampered"}
    path.write_bytes(json.dumps(doc).encode())
    with pytest.raises(IntegrityError), open_source(f"oci:{layout_dir}") as source:
        source.resolve()


@pytest.mark.parametrize("same_size", [True, False])
def test_tampered_layer_fails(tmp_path: Path, same_size: bool) -> None:
    layer = gz(BASE)
    layout_dir = write_oci(tmp_path / "layout", [layer])
    evil = gz(tar_bytes([file("etc/hostname", "evil")]))
    if same_size:
        evil = evil + bytes(len(layer) - len(evil))  # trailing zeros keep the size equal
    Layout(layout_dir).blob_path(sha256(layer)).write_bytes(evil)
    with pytest.raises(HardbaseError) as err:
        walk(f"oci:{layout_dir}")
    assert isinstance(err.value, IntegrityError | ImageError)
    assert sha256(layer) in str(err.value)


def test_tampered_layer_in_docker_archive_fails(tmp_path: Path) -> None:
    # Docker 25+ names layers by digest; the digest in the name is checked when streamed
    good, evil = tar_bytes([file("a", "good")]), tar_bytes([file("a", "evil")])
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    name = f"blobs/sha256/{sha256(good)[7:]}"
    cfg_name = f"blobs/sha256/{sha256(config)[7:]}"
    manifest = json.dumps([{"Config": cfg_name, "Layers": [name]}]).encode()
    out = tmp_path / "docker.tar"
    with tarfile.open(out, "w") as tar:
        for member, data in ((cfg_name, config), (name, evil), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(IntegrityError, match="does not match its digest"):
        walk(f"docker-archive:{out}")


def test_diff_id_mismatch_fails(tmp_path: Path) -> None:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(b"fixture: something else")]},
    }
    layout_dir = write_oci(tmp_path / "layout", [gz(BASE)], config=config)
    with pytest.raises(IntegrityError, match="uncompresses to"):
        walk(f"oci:{layout_dir}")


def test_hostile_layer_never_writes_outside(tmp_path: Path) -> None:
    marker = f"hardbase-escape-{uuid.uuid4().hex}"
    outside = Path("/tmp") / marker
    layer = tar_bytes(
        [
            file(f"../../../../../../../tmp/{marker}", "escaped"),
            file(f"/tmp/{marker}", "absolute"),
            symlink("evil", "../../../../../../tmp"),
            file(f"evil/{marker}", "through a symlink"),
            hardlink("hard", "../../../../etc/passwd"),
            device("dev/kmsg"),
            file("etc/ok", "ok"),
        ]
    )
    layout_dir = write_oci(tmp_path / "layout", [gz(layer)])
    before = set(os.listdir(tmp_path))
    tree = walk(f"oci:{layout_dir}")
    assert not outside.exists()
    assert set(os.listdir(tmp_path)) == before
    assert tree.read("etc/ok") == b"ok"
    assert len(tree.skipped) == 5
    # evil/<marker> is kept as a plain path inside the image: the symlink was dropped
    assert tree.files[f"evil/{marker}"].kind == "file"


def test_walk_dir(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text("ID=debian\n")
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    secret = tmp_path / "secret"
    secret.write_text("fixture: outside the root")
    (root / "etc/leak").symlink_to(secret)  # absolute: must resolve inside root, not to it
    (root / "etc/leak2").symlink_to("../../secret")
    os.mkfifo(root / "etc/pipe")
    tree = walk_dir(root, lambda p: p.startswith(("etc/", "usr/lib/")))
    assert tree.read("etc/os-release") == b"ID=debian\n"
    assert tree.layer_of("etc/os-release") == ""
    assert tree.read("etc/leak") is None
    assert tree.read("etc/leak2") is None
    assert tree.files["etc/leak"].kind == "symlink"
    assert [s.name for s in tree.skipped] == ["etc/pipe"]
    with pytest.raises(ImageError, match="not a directory"):
        walk_dir(secret, lambda p: True)


def test_skopeo_docker_archive_round_trip(tmp_path: Path) -> None:
    layers = [gz(BASE), gz(TOP)]
    layout = write_oci(tmp_path / "layout", layers, tag="fixture")
    out = tmp_path / "docker.tar"
    skopeo_copy(f"oci:{layout}:fixture", f"docker-archive:{out}:fixture:latest", tmp_path)
    with open_source(f"docker-archive:{out}") as source:
        image = source.resolve()
        diff_ids = image.config["rootfs"]["diff_ids"]
        tree = walk_layers(source, image, wanted)  # checks every layer against its diff_id
    with open_source(f"oci:{layout}:fixture") as source:
        assert diff_ids == source.resolve().config["rootfs"]["diff_ids"]
    assert tree.read("etc/hostname") == b"upper\n"


def test_skopeo_oci_archive_round_trip(tmp_path: Path) -> None:
    layout = write_oci(tmp_path / "layout", [gz(BASE), zst(TOP)], tag="fixture")
    out = tmp_path / "image.tar"
    skopeo_copy(f"oci:{layout}:fixture", f"oci-archive:{out}:fixture", tmp_path)
    assert walk(f"oci-archive:{out}:fixture").contents == walk(f"oci:{layout}:fixture").contents
