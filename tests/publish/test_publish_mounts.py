"""Cross-repository mounts from remembered blob locations (offline, small images).

A push remembers which repository of a registry holds each blob; pushing the
same blobs to another repository of that registry mounts them (no bytes
sent). Stale or broken hints cost an upload, never a failed push.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.oci.copy import copy
from hardbase.oci.locations import BlobLocations
from registry_fixture import make_image, running_registry

BASE = [{"etc/os-release": b"ID=debian\n"}, {"usr/lib/libc.so": b"\x7fELF" * 1000}]
APP = [*BASE, {"usr/bin/app": b"#!app\n" * 100}]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARDBASE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "blob-locations.json"


def _image_blobs(layout: Path) -> list[str]:
    import json

    index = json.loads((layout / "index.json").read_text())
    top = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    manifests = top.get("manifests", [index["manifests"][0]])
    blobs = []
    for entry in manifests:
        manifest = json.loads((layout / "blobs/sha256" / entry["digest"][7:]).read_text())
        blobs += [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
    return blobs


def test_second_repository_mounts_the_shared_blobs(tmp_path: Path, own_cache: Path) -> None:
    make_image(tmp_path / "base", "latest", BASE)
    make_image(tmp_path / "app", "latest", APP)
    with running_registry(tmp_path / "registry") as registry:
        first = copy(f"oci:{tmp_path / 'base'}:latest", f"docker://{registry.host}/base:1",
                     insecure=True)  # fmt: skip
        assert (first.stats.uploaded, first.stats.mounted) == (3, 0)
        # every blob of the image (not the manifest, which the registry stores as a blob too)
        hints = BlobLocations(own_cache)
        for digest in _image_blobs(tmp_path / "base"):
            assert hints.lookup(registry.host, digest) == "base"
        second = copy(f"oci:{tmp_path / 'app'}:latest", f"docker://{registry.host}/app:1",
                      insecure=True)  # fmt: skip
        # the two base layers are mounted; the app layer and the new config go up
        assert (second.stats.uploaded, second.stats.mounted, second.stats.skipped) == (2, 2, 0)
        log = registry.log_path.read_text()
        assert log.count('"POST /v2/app/blobs/uploads/?mount=sha256') == 2  # access log lines
        assert log.count("&from=base ") == 2


def test_stale_or_broken_hints_fall_back_to_upload(tmp_path: Path, own_cache: Path) -> None:
    make_image(tmp_path / "base", "latest", BASE)
    with running_registry(tmp_path / "registry") as registry:
        hints = BlobLocations(own_cache)
        top = copy(f"oci:{tmp_path / 'base'}:latest", f"oci:{tmp_path / 'copy'}:x")
        assert top.stats.uploaded == 3
        for digest in (tmp_path / "base" / "blobs" / "sha256").iterdir():
            hints.record(registry.host, f"sha256:{digest.name}", "gone/repository")
        hints.save()
        result = copy(f"oci:{tmp_path / 'base'}:latest", f"docker://{registry.host}/base:1",
                      insecure=True)  # fmt: skip
        assert (result.stats.uploaded, result.stats.mounted) == (3, 0)
        own_cache.write_text("{not json")
        again = copy(f"oci:{tmp_path / 'base'}:latest", f"docker://{registry.host}/other:1",
                     insecure=True)  # fmt: skip
        assert again.stats.uploaded == 3  # the hint file was unreadable: plain uploads
        assert BlobLocations(own_cache).lookup(registry.host, again.digest) is None
