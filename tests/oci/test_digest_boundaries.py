"""A malformed digest is refused, in one sentence, wherever one enters: a reference on the
command line, a descriptor in an image, a registry's Docker-Content-Digest header, an image
config's diff_ids."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.images.fixture_images import file, gz, tar_bytes, write_oci
from hardbase.cli.main import main
from hardbase.errors import ImageError, UsageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, Layout
from hardbase.oci.reference import parse_reference
from hardbase.oci.registry import RegistryClient, RegistryError
from hardbase.oci.write import write_docker_archive
from hardbase.util.digest import Digest, DigestError

BAD = "sha256:../../../etc/passwd"
RULE = "is not a sha256 digest (sha256: followed by 64 lowercase hex digits)"
OS_RELEASE = file("etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')


def test_a_reference_names_a_digest_or_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    good = Digest.of(b"manifest")
    ref = parse_reference(f"docker://127.0.0.1:5000/app@{good}")
    assert isinstance(ref.digest, Digest) and ref.digest == good
    text = "docker://127.0.0.1:5000/app@sha256:abc"
    with pytest.raises(UsageError) as caught:
        parse_reference(text)
    assert caught.value.diagnostics() == f"'sha256:abc' in '{text}' {RULE}"
    # on the command line: exit 2, the one sentence, before any connection is tried
    assert main(["-q", "sbom", text]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"hardbase: error: 'sha256:abc' in '{text}' {RULE}"


def test_a_descriptor_with_a_bad_digest_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_oci(tmp_path / "image", [gz(tar_bytes([OS_RELEASE]))])
    index = json.loads((root / "index.json").read_bytes())
    index["manifests"][0]["digest"] = BAD
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(DigestError, match="in a descriptor is not a sha256 digest"):
        Descriptor.from_json(index["manifests"][0])
    assert main(["-q", "sbom", f"oci:{root}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"hardbase: error: '{BAD}' in a descriptor {RULE}"
    with pytest.raises(DigestError):  # and a layout never turns one into a path
        Layout(root).blob_path(BAD)  # type: ignore[arg-type]


def test_a_bad_diff_id_never_becomes_a_docker_archive_path(tmp_path: Path) -> None:
    layers = [gz(tar_bytes([OS_RELEASE]))]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:../../escape"]},
    }
    root = write_oci(tmp_path / "image", layers, config=config)
    layout = Layout(root)
    top = layout.entries()[-1]
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [top.to_json()]}
    layout.set_entry(layout.put_json(index, mt.OCI_INDEX), "latest")
    out = tmp_path / "image.tar"
    with pytest.raises(
        DigestError, match=r"a diff_id of the image's config\) is not a sha256 digest"
    ):
        write_docker_archive(layout, out, "app:latest")


class _BadDigestRegistry(http.server.BaseHTTPRequestHandler):
    """A fixture registry whose Docker-Content-Digest header is malformed: a fault the
    real docker-registry never shows, so it is served here."""

    manifest = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST}).encode()

    def _answer(self) -> None:
        body = b"{}" if self.path == "/v2/" else self.manifest
        self.send_response(200)
        self.send_header(
            "Content-Type", "application/json" if self.path == "/v2/" else mt.OCI_MANIFEST
        )
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Content-Digest", BAD)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def bad_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadDigestRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_malformed_registry_digest_header_is_refused(bad_registry: str) -> None:
    client = RegistryClient(bad_registry, "app", insecure=True, retries=0)
    try:
        expected = (
            f"'{BAD}' (the Docker-Content-Digest {bad_registry}/app sent for manifest latest) "
            f"{RULE}"
        )
        for call in (client.get_manifest, client.head_manifest):
            with pytest.raises(RegistryError) as caught:
                call("latest")
            assert caught.value.diagnostics() == expected
        # a reference with a ':' names a digest, and is checked before it is sent
        with pytest.raises(DigestError, match="a manifest reference"):
            client.get_manifest("sha256:abc")
        assert isinstance(RegistryError("x"), ImageError)
    finally:
        client.close()
