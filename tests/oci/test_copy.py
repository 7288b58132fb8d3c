"""copy_image from archives made by skopeo to a real registry and back to a layout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.oci.copy import copy, copy_image
from hardbase.oci.layout import Layout
from registry_fixture import RegistryServer, make_image

pytestmark = pytest.mark.peers


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive"])
def test_archive_to_registry(tmp_path: Path, registry: RegistryServer, transport: str) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    make_image(tmp_path / "img", "t", [{"etc/hostname": b"archived\n"}])
    archive = tmp_path / "image.tar"
    target = f"{transport}:{archive}" + (":t" if transport == "oci-archive" else ":x/y:t")
    subprocess.run(
        ["skopeo", "copy", f"oci:{tmp_path / 'img'}:t", target], check=True, capture_output=True
    )
    src = f"{transport}:{archive}" + (":t" if transport == "oci-archive" else "")
    dest = f"docker://{registry.host}/from-archive:t"
    digest = copy_image(src, dest, insecure=True)
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", dest],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(out.stdout)
    assert info["Digest"] == digest and info["Architecture"] == "amd64"
    back = copy(dest, f"oci:{tmp_path / 'back'}:t", insecure=True)
    assert back.digest == digest
    assert Layout.open(tmp_path / "back").find("t").digest == digest
