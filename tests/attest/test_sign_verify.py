"""Signing, attesting and verifying images in a real registry and in OCI layouts."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.attest import cosign
from hardbase.attest.attestation import (
    SLSA_PROVENANCE_V1,
    SPDX,
    attach,
    attest_image,
    envelope,
    statement,
)
from hardbase.attest.keys import load_private_key
from hardbase.attest.provenance import Material, slsa_provenance
from hardbase.attest.sign import sign_image
from hardbase.attest.store import open_store
from hardbase.attest.verify import verify_image
from hardbase.oci.copy import copy
from hardbase.oci.layout import canonical_json
from hardbase.oci.registry import RegistryClient
from registry_fixture import KEY_PASSWORD as PASSWORD
from registry_fixture import RegistryServer, make_image, run_hardbase

BASE = {"etc/os-release": b"ID=debian\n"}
APP = {"app/main": b"v1\n"}
APP2 = {"app/main": b"v2\n"}


def hardbase(*args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return run_hardbase(*args, env={"HARDBASE_KEY_PASSWORD": password})


def push(
    tmp_path: Path, registry: RegistryServer, layers: list[dict[str, bytes]], name: str
) -> str:
    make_image(tmp_path / name, "t", layers)
    return copy(f"oci:{tmp_path / name}:t", f"docker://{registry.host}/img:t", insecure=True).digest


def provenance() -> dict[str, object]:
    return slsa_provenance(
        spec={"name": "python3", "release": "trixie", "packages": ["python3"]},
        packages=[
            Material("http://deb.debian.org/debian/pool/main/p/python3/python3.deb", "ab" * 32)
        ],
        lock=Material("python3.lock", "cd" * 32),
        started=dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC),
        finished=dt.datetime(2026, 11, 27, 10, 1, tzinfo=dt.UTC),
    )


def test_keygen_writes_an_encrypted_key_cosign_format_by_default(tmp_path: Path) -> None:
    result = hardbase("keygen", "--output-prefix", str(tmp_path / "k"))
    assert result.returncode == 0, result.stderr
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    assert result.stdout.split() == [str(key), str(pub)]
    assert key.read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert key.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in result.stdout + result.stderr
    again = hardbase("keygen", "--output-prefix", str(tmp_path / "k"))
    assert again.returncode == 2 and "already exists" in again.stderr
    pkcs8 = hardbase("keygen", "--format", "pkcs8", "--output-prefix", str(tmp_path / "p"))
    assert pkcs8.returncode == 0, pkcs8.stderr
    assert (tmp_path / "p.key").read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    # both formats sign (the old PKCS#8 keys keep working)
    make_image(tmp_path / "img", "t", [BASE])
    for name in ("k", "p"):
        signed = hardbase(
            "sign", f"oci:{tmp_path / 'img'}:t", "--key", str(tmp_path / f"{name}.key")
        )
        assert signed.returncode == 0, signed.stderr
        checked = hardbase(
            "verify", f"oci:{tmp_path / 'img'}:t", "--key", str(tmp_path / f"{name}.pub")
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_keygen_refuses_an_unencrypted_key_without_no_password(tmp_path: Path) -> None:
    refused = hardbase("keygen", "--output-prefix", str(tmp_path / "k"), password="")
    assert refused.returncode == 2
    assert "unencrypted" in refused.stderr and "--no-password" in refused.stderr
    assert list(tmp_path.iterdir()) == []
    both = hardbase("keygen", "--no-password", "--output-prefix", str(tmp_path / "k"))
    assert both.returncode == 2 and "HARDBASE_KEY_PASSWORD is set" in both.stderr
    assert list(tmp_path.iterdir()) == []
    clear = hardbase("keygen", "--no-password", "--output-prefix", str(tmp_path / "k"), password="")
    assert clear.returncode == 0, clear.stderr
    key = tmp_path / "k.key"
    assert key.read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert key.stat().st_mode & 0o777 == 0o600
    plain = hardbase("keygen", "--no-password", "--format", "pkcs8",
                     "--output-prefix", str(tmp_path / "p"), password="")  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert (tmp_path / "p.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize("existing", ["k.key", "k.pub"])
def test_keygen_never_overwrites_a_key(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_bytes(b"precious\n")
    result = hardbase("keygen", "--output-prefix", str(tmp_path / "k"))
    assert result.returncode == 2 and "never overwrites" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert (tmp_path / existing).read_bytes() == b"precious\n"
    forced = hardbase("keygen", "--force", "--output-prefix", str(tmp_path / "k"))
    assert forced.returncode == 2 and (tmp_path / existing).read_bytes() == b"precious\n"


def test_sign_warns_on_a_group_or_world_readable_key(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    make_image(tmp_path / "img", "t", [BASE])
    ref = f"oci:{tmp_path / 'img'}:t"
    keypair[0].chmod(0o600)
    quiet = hardbase("sign", ref, "--key", str(keypair[0]))
    assert quiet.returncode == 0, quiet.stderr
    assert "readable" not in quiet.stderr
    keypair[0].chmod(0o644)
    loud = hardbase("sign", ref, "--key", str(keypair[0]))
    assert loud.returncode == 0, loud.stderr
    assert f"private key {keypair[0]} is readable by its group and others (mode 0644)" in (
        loud.stderr
    )
    keypair[0].chmod(0o640)
    group = hardbase("sign", ref, "--key", str(keypair[0]))
    assert "is readable by its group (mode 0640)" in group.stderr


def test_sign_and_verify_via_cli(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    digest = push(tmp_path, registry, [BASE, APP], "a")
    ref = f"docker://{registry.host}/img:t"
    signed = hardbase("sign", ref, "--key", str(keypair[0]), "--insecure")
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.strip() == digest
    verified = hardbase("verify", ref, "--key", str(keypair[1]), "--insecure")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "PASS  signature:" in verified.stdout
    assert "FAIL" not in verified.stdout


def test_wrong_key_password(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    push(tmp_path, registry, [BASE], "a")
    result = hardbase(
        "sign",
        f"docker://{registry.host}/img:t",
        "--key",
        str(keypair[0]),
        "--insecure",
        password="nope",
    )
    assert result.returncode == 2
    assert result.stderr.startswith("hardbase: error: cannot decrypt the cosign private key")
    assert "password is wrong" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_signature_has_cosign_structure(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    digest = push(tmp_path, registry, [BASE, APP], "a")
    sign_image(f"docker://{registry.host}/img:t", keypair[0], PASSWORD, insecure=True)
    client = RegistryClient(registry.host, "img", insecure=True)
    tag = f"sha256-{digest.split(':')[1]}.sig"
    assert tag in client.list_tags()
    data, media_type, _ = client.get_manifest(tag)
    manifest = json.loads(data)
    assert media_type == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["schemaVersion"] == 2
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    from hardbase.oci.layout import Descriptor

    payload = client.read_blob(Descriptor.from_json(layer))
    expected = (
        f'{{"critical":{{"identity":{{"docker-reference":"{registry.host}/img"}},'
        f'"image":{{"docker-manifest-digest":"{digest}"}},'
        '"type":"cosign container image signature"},"optional":null}'
    )
    assert payload.decode() == expected
    config = json.loads(client.read_blob(Descriptor.from_json(manifest["config"])))
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]
    # an independent implementation checks the signature: openssl
    if shutil.which("openssl"):
        sig = tmp_path / "sig.der"
        sig.write_bytes(
            base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        )
        (tmp_path / "payload").write_bytes(payload)
        out = subprocess.run(
            [
                "openssl",
                "dgst",
                "-sha256",
                "-verify",
                str(keypair[1]),
                "-signature",
                str(sig),
                str(tmp_path / "payload"),
            ],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0 and "Verified OK" in out.stdout
    # signing again with the same key replaces, another key adds a layer
    sign_image(f"docker://{registry.host}/img:t", keypair[0], PASSWORD, insecure=True)
    assert len(json.loads(client.get_manifest(tag)[0])["layers"]) == 1


def test_skopeo_verifies_the_signature_by_policy(
    tmp_path: Path,
    registry: RegistryServer,
    keypair: tuple[Path, Path],
    other_keypair: tuple[Path, Path],
) -> None:
    """containers/image (skopeo) reads cosign signatures: our format must satisfy it."""
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    push(tmp_path, registry, [BASE, APP], "a")
    ref = f"docker://{registry.host}/img:t"
    sign_image(ref, keypair[0], PASSWORD, insecure=True)
    registries_d = tmp_path / "registries.d"
    registries_d.mkdir()
    (registries_d / "local.yaml").write_text(
        f"docker:\n  {registry.host}:\n    use-sigstore-attachments: true\n"
    )

    def skopeo_copy(pub: Path) -> subprocess.CompletedProcess[str]:
        policy = tmp_path / "policy.json"
        policy.write_text(
            json.dumps(
                {
                    "default": [{"type": "reject"}],
                    "transports": {
                        "docker": {
                            registry.host: [{"type": "sigstoreSigned", "keyPath": str(pub)}]
                        },
                        "oci": {"": [{"type": "insecureAcceptAnything"}]},
                    },
                }
            )
        )
        return subprocess.run(
            [
                "skopeo",
                "--policy",
                str(policy),
                "--registries.d",
                str(registries_d),
                "copy",
                "--src-tls-verify=false",
                ref,
                f"oci:{tmp_path}/checked:t",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    good = skopeo_copy(keypair[1])
    if "sigstore disabled" in good.stderr:
        pytest.skip("this skopeo is built without sigstore support (Debian's local change)")
    assert good.returncode == 0, good.stderr
    bad = skopeo_copy(other_keypair[1])
    assert bad.returncode != 0
    assert "signature" in bad.stderr.lower()


def test_verify_fails_when_the_manifest_changes(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    first = push(tmp_path, registry, [BASE, APP], "a")
    ref = f"docker://{registry.host}/img:t"
    sign_image(ref, keypair[0], PASSWORD, insecure=True)
    assert verify_image(ref, keypair[1], insecure=True).ok
    second = push(tmp_path, registry, [BASE, APP2], "b")  # same tag, new manifest
    result = verify_image(ref, keypair[1], insecure=True)
    assert not result.ok
    assert "manifest changed" in result.reason
    assert first in result.reason and second in result.reason
    cli = hardbase("verify", ref, "--key", str(keypair[1]), "--insecure")
    assert cli.returncode == 1
    assert "FAIL  signature tag" in cli.stdout
    assert "the manifest changed after it was signed" in cli.stderr


def test_verify_fails_with_another_key(
    tmp_path: Path,
    registry: RegistryServer,
    keypair: tuple[Path, Path],
    other_keypair: tuple[Path, Path],
) -> None:
    push(tmp_path, registry, [BASE, APP], "a")
    ref = f"docker://{registry.host}/img:t"
    sign_image(ref, keypair[0], PASSWORD, insecure=True)
    result = verify_image(ref, other_keypair[1], insecure=True)
    assert not result.ok
    assert "signed with another key" in result.reason
    cli = hardbase("verify", ref, "--key", str(other_keypair[1]), "--insecure")
    assert cli.returncode == 1 and "another key" in cli.stderr


def test_verify_fails_when_the_signature_tag_is_deleted(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    digest = push(tmp_path, registry, [BASE, APP], "a")
    ref = f"docker://{registry.host}/img:t"
    sign_image(ref, keypair[0], PASSWORD, insecure=True)
    client = RegistryClient(registry.host, "img", insecure=True)
    sig_tag = f"sha256-{digest.split(':')[1]}.sig"
    client.delete_manifest(client.get_manifest(sig_tag)[2])
    result = verify_image(ref, keypair[1], insecure=True)
    assert not result.ok
    assert "signature was removed" in result.reason
    cli = hardbase("verify", ref, "--key", str(keypair[1]), "--insecure")
    assert cli.returncode == 1 and sig_tag in cli.stderr


def test_attestations_verify_and_subject_is_checked(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    make_image(tmp_path / "a", "t", [BASE, APP])
    make_image(tmp_path / "b", "t", [BASE, APP2])
    ref_a, ref_b = f"docker://{registry.host}/a:t", f"docker://{registry.host}/b:t"
    digest_a = copy(f"oci:{tmp_path / 'a'}:t", ref_a, insecure=True).digest
    digest_b = copy(f"oci:{tmp_path / 'b'}:t", ref_b, insecure=True).digest
    for ref in (ref_a, ref_b):
        sign_image(ref, keypair[0], PASSWORD, insecure=True)
    attest_image(ref_a, keypair[0], PASSWORD, SLSA_PROVENANCE_V1, provenance(), insecure=True)
    attest_image(ref_a, keypair[0], PASSWORD, SPDX, {"spdxVersion": "SPDX-2.3"}, insecure=True)
    result = verify_image(ref_a, keypair[1], insecure=True)
    assert result.ok, result.reason
    names = {c.name for c in result.checks}
    assert f"attestation {SLSA_PROVENANCE_V1}" in names and f"attestation {SPDX}" in names

    # the .att manifest has cosign's structure
    client = RegistryClient(registry.host, "a", insecure=True)
    att = json.loads(client.get_manifest(f"sha256-{digest_a.split(':')[1]}.att")[0])
    assert {layer["mediaType"] for layer in att["layers"]} == {cosign.DSSE_ENVELOPE}
    assert {layer["annotations"]["predicateType"] for layer in att["layers"]} == {
        SLSA_PROVENANCE_V1,
        SPDX,
    }
    from hardbase.oci.layout import Descriptor

    env = json.loads(client.read_blob(Descriptor.from_json(att["layers"][0])))
    assert env["payloadType"] == "application/vnd.in-toto+json"
    stmt = json.loads(base64.b64decode(env["payload"]))
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["subject"] == [{"name": f"{registry.host}/a", "digest": {"sha256": digest_a[7:]}}]
    deps = stmt["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps[0] == {"uri": "python3.lock", "digest": {"sha256": "cd" * 32}}

    # an attestation about A, validly signed, attached to B: its subject gives it away
    key = load_private_key(keypair[0], PASSWORD)
    about_a = statement(f"{registry.host}/a", digest_a, SLSA_PROVENANCE_V1, provenance())
    with open_store(ref_b, insecure=True) as store:
        attach(store, digest_b, envelope(key, canonical_json(about_a)), SLSA_PROVENANCE_V1)
    bad = verify_image(ref_b, keypair[1], insecure=True)
    assert not bad.ok
    assert f"subject is {digest_a}, not the image's {digest_b}" in bad.reason
    cli = hardbase("verify", ref_b, "--key", str(keypair[1]), "--insecure")
    assert cli.returncode == 1 and "subject is" in cli.stderr


def test_sign_in_layout_then_push_with_signatures(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    digest = make_image(tmp_path / "img", "t", [BASE, APP], archs=("amd64", "arm64"))
    layout_ref = f"oci:{tmp_path / 'img'}:t"
    # signed for the repository it is pushed to, so verify's identity check accepts it there
    where = f"{registry.host}/signed"
    assert sign_image(layout_ref, keypair[0], PASSWORD, identity=where) == digest
    attest_image(layout_ref, keypair[0], PASSWORD, SLSA_PROVENANCE_V1, provenance())
    assert verify_image(layout_ref, keypair[1]).ok
    assert not verify_image(layout_ref, keypair[1], identity=f"{registry.host}/other").ok
    dest = f"docker://{where}:t"
    result = hardbase("push", "--signatures", layout_ref, dest, "--insecure")
    assert result.returncode == 0, result.stderr
    checked = verify_image(dest, keypair[1], insecure=True)
    assert checked.ok, checked.reason
    assert any(c.name == f"attestation {SLSA_PROVENANCE_V1}" for c in checked.checks)


def test_signature_copied_to_another_repository_fails_the_identity_check(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    digest = push(tmp_path, registry, [BASE, APP], "a")
    signed, copied = f"docker://{registry.host}/img:t", f"docker://{registry.host}/elsewhere:t"
    sign_image(signed, keypair[0], PASSWORD, insecure=True)
    moved = hardbase("push", "--insecure", "--signatures", signed, copied)
    assert moved.returncode == 0, moved.stderr
    for ref in (copied, f"docker://{registry.host}/elsewhere@{digest}"):
        result = verify_image(ref, keypair[1], insecure=True)
        assert not result.ok
        assert f"made for {registry.host}/img, not {registry.host}/elsewhere" in result.reason
    cli = hardbase("verify", copied, "--key", str(keypair[1]), "--insecure")
    assert cli.returncode == 1 and "FAIL  identity" in cli.stdout
    assert "copied from another repository" in cli.stderr and len(cli.stderr.splitlines()) == 1
    # the signer's repository, named explicitly, is accepted
    named = hardbase(
        "verify",
        copied,
        "--key",
        str(keypair[1]),
        "--insecure",
        "--identity",
        f"{registry.host}/img",
    )
    assert named.returncode == 0, named.stdout + named.stderr
    assert verify_image(signed, keypair[1], insecure=True).ok
    bad = hardbase("verify", copied, "--key", str(keypair[1]), "--identity", "host/img:t")
    assert bad.returncode == 2 and "not a repository" in bad.stderr


def test_old_signed_digest_under_a_new_tag_still_verifies_the_freshness_limit(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    # the documented limit (README, verify --help): a signature names no tag and no time
    old = push(tmp_path, registry, [BASE, APP], "a")
    sign_image(f"docker://{registry.host}/img:t", keypair[0], PASSWORD, insecure=True)
    push(tmp_path, registry, [BASE, APP2], "b")  # the fixed image replaces it under :t
    sign_image(f"docker://{registry.host}/img:t", keypair[0], PASSWORD, insecure=True)
    retag = f"docker://{registry.host}/img:new"
    assert copy(f"docker://{registry.host}/img@{old}", retag, insecure=True).digest == old
    result = verify_image(retag, keypair[1], insecure=True)
    assert result.ok and result.digest == old, result.reason
    identity = next(c for c in result.checks if c.name == "identity")
    assert "holds for every tag" in identity.detail


def test_identity_matching_follows_match_repo_digest_or_exact() -> None:
    from hardbase.attest.identity import ExpectedIdentity, normalize

    assert normalize("python") == "docker.io/library/python"
    assert normalize("index.docker.io/x/y") == "docker.io/x/y"
    assert normalize("127.0.0.1:5000/a/b") == "127.0.0.1:5000/a/b"
    by_tag = ExpectedIdentity("127.0.0.1:5000/a", "v1")
    by_digest = ExpectedIdentity("127.0.0.1:5000/a", None)
    assert by_tag.accepts("127.0.0.1:5000/a")  # cosign style: no tag
    assert by_tag.accepts("127.0.0.1:5000/a:v1") and not by_tag.accepts("127.0.0.1:5000/a:v2")
    assert by_digest.accepts("127.0.0.1:5000/a:v2")  # by digest: any tag of the repository
    assert not by_tag.accepts("127.0.0.1:5000/b") and not by_tag.accepts("")


def test_verify_help_documents_identity_and_the_freshness_limit() -> None:
    out = hardbase("verify", "--help").stdout
    assert "--identity HOST/REPO" in out and "docker-reference" in out
    assert "not to a tag or a time" in " ".join(out.split())


def test_push_sign_key_signs_for_the_repository_pushed_to(
    tmp_path: Path, registry: RegistryServer, keypair: tuple[Path, Path]
) -> None:
    make_image(tmp_path / "python3", "t", [BASE, APP])
    layout = f"oci:{tmp_path / 'python3'}:t"
    assert hardbase("sign", layout, "--key", str(keypair[0])).returncode == 0  # names "python3"
    dest = f"docker://{registry.host}/hardbase/python3:1"
    plain = hardbase("push", "--insecure", "--signatures", layout, dest)
    assert plain.returncode == 0, plain.stderr
    refused = hardbase("verify", dest, "--insecure", "--key", str(keypair[1]))
    assert refused.returncode == 1 and "made for python3" in refused.stderr
    bad = hardbase("push", "--insecure", "--sign-key", str(keypair[0]), layout, dest,
                   password="wrong")  # fmt: skip
    assert bad.returncode == 2 and "password is wrong" in bad.stderr
    resigned = hardbase("push", "--insecure", "--signatures", "--sign-key", str(keypair[0]),
                        layout, dest)  # fmt: skip
    assert resigned.returncode == 0, resigned.stderr
    checked = hardbase("verify", dest, "--insecure", "--key", str(keypair[1]))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"PASS  identity: signed for {registry.host}/hardbase/python3" in checked.stdout
    local = hardbase("push", "--sign-key", str(keypair[0]), layout, f"oci:{tmp_path / 'copy'}:t")
    assert local.returncode == 2 and "not docker://" in local.stderr
    assert not (tmp_path / "copy").exists()
