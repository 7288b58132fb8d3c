"""The registry client against a real registry: reading, tags, referrers, deletes, credentials."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hardbase.errors import IntegrityError
from hardbase.oci import mediatypes as mt
from hardbase.oci.auth import load_credentials, parse_challenge
from hardbase.oci.copy import copy
from hardbase.oci.layout import Descriptor, canonical_json
from hardbase.oci.reference import parse_reference
from hardbase.oci.registry import NotFoundError, RegistryClient, RegistryError, RegistrySource
from hardbase.util.digest import Digest
from registry_fixture import RegistryServer, make_image

pytestmark = pytest.mark.peers

BASE = {"etc/os-release": b"ID=debian\n"}


def test_registry_source_resolves_platforms(tmp_path: Path, registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "img", "t", [BASE], archs=("amd64", "arm64"))
    copy(f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/r:t", insecure=True)
    with RegistrySource(parse_reference(f"docker://{registry.host}/r:t"), insecure=True) as src:
        assert src.top().digest == digest
        assert src.top().media_type == mt.OCI_INDEX
        images = src.resolve_all()
        assert sorted(i.config["architecture"] for i in images) == ["amd64", "arm64"]
        arm = src.resolve("arm64")
        assert arm.index_digest == digest
        layer = src.read_blob(arm.layers[0], max_size=1 << 20)
        assert Digest.of(layer) == arm.layers[0].digest
    by_digest = RegistrySource(
        parse_reference(f"docker://{registry.host}/r@{digest}"), insecure=True
    )
    assert by_digest.top().digest == digest


def test_blob_digest_is_verified(tmp_path: Path, registry: RegistryServer) -> None:
    make_image(tmp_path / "img", "t", [BASE])
    copy(f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/r:t", insecure=True)
    client = RegistryClient(registry.host, "r", insecure=True)
    manifest = json.loads(client.get_manifest("t")[0])
    layer = Descriptor.from_json(manifest["layers"][0])
    lying = Descriptor(layer.media_type, layer.digest, layer.size - 1)
    with pytest.raises(IntegrityError):
        client.read_blob(lying)


def test_tags_head_delete_and_missing(tmp_path: Path, registry: RegistryServer) -> None:
    make_image(tmp_path / "img", "t", [BASE])
    for tag in ("one", "two"):
        copy(f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/r:{tag}", insecure=True)
    client = RegistryClient(registry.host, "r", insecure=True)
    assert sorted(client.list_tags()) == ["one", "two"]
    head = client.head_manifest("one")
    assert head is not None and head.media_type == mt.OCI_MANIFEST
    client.delete_manifest(head.digest)
    assert client.head_manifest("one") is None
    assert client.list_tags() == []
    assert RegistryClient(registry.host, "nothing", insecure=True).list_tags() == []
    with pytest.raises(NotFoundError):
        client.get_manifest("one")


def test_referrers_tag_schema_fallback(tmp_path: Path, registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "img", "t", [BASE])
    copy(f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/r:t", insecure=True)
    client = RegistryClient(registry.host, "r", insecure=True)
    assert client.referrers(digest) == []
    # an artifact about the image, and the fallback index naming it
    empty = b"{}"
    empty_desc = Descriptor(mt.OCI_EMPTY, Digest.of(empty), 2)
    client.push_blob(empty_desc, lambda: __import__("io").BytesIO(empty))
    subject = client.head_manifest("t")
    assert subject is not None
    artifact = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": "application/example",
            "config": empty_desc.to_json(),
            "layers": [empty_desc.to_json()],
            "subject": subject.to_json(),
        }
    )
    artifact_digest = client.put_manifest(Digest.of(artifact), artifact, mt.OCI_MANIFEST)
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": artifact_digest,
                    "size": len(artifact),
                    "artifactType": "application/example",
                }
            ],
        }
    )
    client.put_manifest(f"sha256-{digest[7:]}", index, mt.OCI_INDEX)
    found = client.referrers(digest)
    assert [d.digest for d in found] == [artifact_digest]
    assert client.referrers(digest, "application/other") == []


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_credentials_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDBASE_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("HARDBASE_REGISTRY_PASSWORD", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert load_credentials("reg.example:5000") is None
    token = base64.b64encode(b"bob:pa:ss").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"https://reg.example:5000": {"auth": token}}})
    )
    creds = load_credentials("reg.example:5000")
    assert creds is not None and (creds.username, creds.password) == ("bob", "pa:ss")
    assert "pa:ss" not in repr(creds)
    monkeypatch.setenv("HARDBASE_REGISTRY_USERNAME", "env-user")
    monkeypatch.setenv("HARDBASE_REGISTRY_PASSWORD", "env-pass")
    creds = load_credentials("reg.example:5000")
    assert creds is not None and creds.username == "env-user"


def test_manifest_put_is_sent_again_once_after_digest_invalid(
    tmp_path: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mock fault: the registry's DIGEST_INVALID for bytes we verified cannot be provoked."""
    make_image(tmp_path / "img", "t", [BASE])
    copy(f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/r:t", insecure=True)
    client = RegistryClient(registry.host, "r", insecure=True)
    data, media_type, digest = client.get_manifest("t")
    real = client._request
    refusals = []

    def flaky(method: str, path: str, **kwargs: object) -> object:
        if method == "PUT" and len(refusals) < limit:
            refusals.append(path)
            raise RegistryError(f"registry answered HTTP 400 to PUT {path} (DIGEST_INVALID: x)")
        return real(method, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "_request", flaky)
    limit = 1
    assert client.put_manifest("again", data, media_type) == digest
    assert len(refusals) == 1 and client.head_manifest("again") is not None
    refusals.clear()
    limit = 2
    with pytest.raises(RegistryError, match="DIGEST_INVALID"):
        client.put_manifest("twice", data, media_type)
    assert len(refusals) == 2
