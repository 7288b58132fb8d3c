"""Pushing images to a real registry (docker-registry 2.8) and reading them back with skopeo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.oci.copy import copy
from hardbase.oci.layout import Layout
from registry_fixture import RegistryServer, make_image, run_hardbase

pytestmark = pytest.mark.peers

BASE = {"etc/os-release": b"ID=debian\n", "usr/lib/libbase.so": b"\x7fELF base" * 100}
APP1 = {"app/one": b"first application\n"}
APP2 = {"app/two": b"second application\n"}


def hardbase(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_hardbase(*args, env=env)


def skopeo(*args: str) -> str:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    out = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_push_then_skopeo_reads_it_back(tmp_path: Path, registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "img", "t", [BASE, APP1], labels={"org.example": "yes"})
    dest = f"docker://{registry.host}/x:t"
    result = hardbase("push", f"oci:{tmp_path / 'img'}:t", dest, "--insecure")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == digest

    skopeo(
        "copy", "--src-tls-verify=false", f"docker://{registry.host}/x:t", f"oci:{tmp_path}/back:t"
    )
    back = Layout.open(tmp_path / "back").find("t")
    assert back.digest == digest
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/x:t"))
    assert info["Digest"] == digest
    assert info["Architecture"] == "amd64"
    assert info["Labels"] == {"org.example": "yes"}
    config = json.loads(
        skopeo("inspect", "--config", "--tls-verify=false", f"docker://{registry.host}/x:t")
    )
    assert config["config"]["User"] == "65532"


def test_multi_arch_index_is_pushed_whole(tmp_path: Path, registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "img", "multi", [BASE, APP1], archs=("amd64", "arm64"))
    result = copy(
        f"oci:{tmp_path / 'img'}:multi", f"docker://{registry.host}/multi:1", insecure=True
    )
    assert result.digest == digest
    assert result.stats.manifests == 3
    raw = json.loads(
        skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/multi:1")
    )
    assert len(raw["manifests"]) == 2
    skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        f"docker://{registry.host}/multi:1",
        f"oci:{tmp_path}/back:m",
    )
    assert Layout.open(tmp_path / "back").find("m").digest == digest


def test_second_image_uploads_only_new_blobs(tmp_path: Path, registry: RegistryServer) -> None:
    make_image(tmp_path / "a", "a", [BASE, APP1])
    make_image(tmp_path / "b", "b", [BASE, APP2])
    first = copy(f"oci:{tmp_path / 'a'}:a", f"docker://{registry.host}/app:a", insecure=True)
    assert (first.stats.uploaded, first.stats.skipped) == (3, 0)  # base, app1, config
    stored_after_first = registry.blob_digests()
    assert len(stored_after_first) == 4  # 3 blobs + the manifest

    second = copy(f"oci:{tmp_path / 'b'}:b", f"docker://{registry.host}/app:b", insecure=True)
    assert (second.stats.uploaded, second.stats.skipped) == (2, 1)  # app2 + config; base skipped
    new = registry.blob_digests() - stored_after_first
    assert len(new) == 3  # app2, its config, its manifest
    assert second.stats.bytes == sum(
        Layout(tmp_path / "b").blob_path(d).stat().st_size for d in new if d != second.digest
    )

    again = copy(f"oci:{tmp_path / 'b'}:b", f"docker://{registry.host}/app:b", insecure=True)
    assert (again.stats.uploaded, again.stats.skipped) == (0, 3)


def test_registry_to_registry_copy_mounts_blobs(tmp_path: Path, registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "a", "a", [BASE, APP1])
    copy(f"oci:{tmp_path / 'a'}:a", f"docker://{registry.host}/src:a", insecure=True)
    result = copy(
        f"docker://{registry.host}/src:a", f"docker://{registry.host}/dst:a", insecure=True
    )
    assert result.digest == digest
    assert result.stats.mounted == 3
    assert result.stats.uploaded == 0
    back = copy(f"docker://{registry.host}/dst:a", f"oci:{tmp_path / 'back'}:a", insecure=True)
    assert back.digest == digest
    assert back.stats.uploaded == 3


def test_chunked_upload(tmp_path: Path, registry: RegistryServer) -> None:
    big = {"blob.bin": os.urandom(20_000)}
    digest = make_image(tmp_path / "img", "t", [big])
    result = hardbase(
        "push",
        "--chunk-size",
        "4096",
        f"oci:{tmp_path / 'img'}:t",
        f"docker://{registry.host}/chunky:t",
        "--insecure",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == digest
    access_log = registry.log_path.read_text()
    assert access_log.count('"PATCH /v2/chunky/blobs/uploads/') >= 5
    skopeo(
        "copy",
        "--src-tls-verify=false",
        f"docker://{registry.host}/chunky:t",
        f"oci:{tmp_path}/back:t",
    )
    assert Layout.open(tmp_path / "back").find("t").digest == digest


def test_push_to_layout_and_by_digest(tmp_path: Path, registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "img", "t", [BASE])
    copy(f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/d@{digest}", insecure=True)
    out = copy(
        f"docker://{registry.host}/d@{digest}", f"oci:{tmp_path / 'out'}:copy", insecure=True
    )
    assert out.digest == digest
    assert Layout.open(tmp_path / "out").find("copy").digest == digest


def test_largest_blob_goes_first(
    tmp_path: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The longest upload starts first, so it does not start last and make the push wait."""
    import hardbase.oci.copy as copy_module

    monkeypatch.setattr(copy_module, "BLOB_WORKERS", 1)  # uploads in submission order
    layers = [{"small": b"s" * 10}, {"large": os.urandom(300_000)}, {"mid": os.urandom(30_000)}]
    make_image(tmp_path / "img", "t", layers)
    copy(f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/order:t", insecure=True)
    layout = Layout.open(tmp_path / "img")
    doc = json.loads(layout.read_blob(layout.find("t").digest))
    sizes = {blob["digest"]: blob["size"] for blob in [doc["config"], *doc["layers"]]}
    heads = [
        line.split("/blobs/")[1].split(" ")[0]
        for line in registry.log_path.read_text().splitlines()
        if '"HEAD /v2/order/blobs/sha256:' in line
    ]
    assert heads == sorted(sizes, key=lambda d: sizes[d], reverse=True)


def test_blobs_to_mount_are_not_looked_for_first(tmp_path: Path, registry: RegistryServer) -> None:
    """The second image's base layer is mounted from the first's repository in one request
    (no HEAD before it); its own layer is looked for, then uploaded."""
    make_image(tmp_path / "a", "a", [BASE, APP1])
    make_image(tmp_path / "b", "b", [BASE, APP2])
    copy(f"oci:{tmp_path / 'a'}:a", f"docker://{registry.host}/base:a", insecure=True)
    second = copy(f"oci:{tmp_path / 'b'}:b", f"docker://{registry.host}/other:b", insecure=True)
    assert (second.stats.mounted, second.stats.uploaded) == (1, 2)  # base; app2 + config
    heads = [
        line for line in registry.log_path.read_text().splitlines()
        if '"HEAD /v2/other/blobs/' in line
    ]  # fmt: skip
    assert len(heads) == 2
    back = copy(f"docker://{registry.host}/other:b", f"oci:{tmp_path / 'back'}:b", insecure=True)
    assert back.digest == second.digest
