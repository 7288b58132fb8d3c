"""Real cosign 2.5 (Debian trixie's, installed by `make setup`) against hardbase's signatures.

cosign verifies what hardbase signs and attests (`verify`, `verify-attestation`
for the four predicate types hardbase writes, `tree`), with hardbase's keys and
with keys `cosign generate-key-pair` made; hardbase verifies what cosign signs
and attests, with either kind of key. The registry is docker-registry on
127.0.0.1; no transparency log is used (`--insecure-ignore-tlog`,
`--tlog-upload=false`).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from peers import need
from registry_fixture import RegistryServer, make_image
from signing import COSIGN_PW, PASSWORD, REGISTRY, SignedBuild, cosign, hardbase

pytestmark = pytest.mark.peers

TYPES = {
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "openvex": "https://openvex.dev/ns",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    need("cosign")
    path = tmp_path / "home"
    path.mkdir()
    return path


def verify_attestation(home: Path, pub: Path, ref: str, kind: str) -> list[dict[str, object]]:
    """`cosign verify-attestation --type KIND`; the in-toto statements it printed."""
    result = cosign(home, "verify-attestation", "--key", str(pub), "--type", kind,
                    "--insecure-ignore-tlog=true", *REGISTRY, ref)  # fmt: skip
    assert result.returncode == 0, f"{kind}: {result.stderr}"
    return [
        json.loads(base64.b64decode(json.loads(line)["payload"]))
        for line in result.stdout.splitlines()
        if line.strip()
    ]


def test_cosign_verifies_every_signature_and_attestation_hardbase_writes(
    signed_build: SignedBuild, home: Path
) -> None:
    build = signed_build
    repository, digest, key, pub = build.repository, build.digest, build.key, build.pub
    dest = f"docker://{repository}:1"
    vex = build.tmp / "vex.json"  # FIXTURE statement about a made-up CVE id
    made_vex = hardbase("vex", "create", "--image", dest, "--insecure", "--vuln", "CVE-0000-0001",
                        "--status", "not_affected", "--justification", "component_not_present",
                        "-o", str(vex))  # fmt: skip
    assert made_vex.returncode == 0, made_vex.stderr
    attested = hardbase("sign", dest, "--insecure", "--key", str(key), "--predicate", str(vex),
                        "--type", "openvex", COSIGN_PASSWORD=PASSWORD)  # fmt: skip
    assert attested.returncode == 0, attested.stderr

    ref = f"{repository}@{digest}"
    signed = cosign(home, "verify", "--key", str(pub), "--insecure-ignore-tlog=true", *REGISTRY,
                    ref)  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    (payload,) = json.loads(signed.stdout)
    assert payload["critical"]["identity"]["docker-reference"] == repository
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    for kind, uri in TYPES.items():
        statements = verify_attestation(home, pub, ref, kind)
        assert [s["predicateType"] for s in statements] == [uri]
        assert statements[0]["subject"][0]["digest"] == {"sha256": digest.split(":")[1]}
    assert statements[0]["predicate"]["statements"][0]["vulnerability"]["name"] == "CVE-0000-0001"

    tree = cosign(home, "tree", *REGISTRY, ref)
    assert tree.returncode == 0, tree.stderr
    hexpart = digest.split(":")[1]
    assert f"Signatures for an image tag: {repository}:sha256-{hexpart}.sig" in tree.stdout
    assert f"Attestations for an image tag: {repository}:sha256-{hexpart}.att" in tree.stdout
    att_section = tree.stdout.split(".att", 1)[1].split("for an image tag", 1)[0]
    assert att_section.count("sha256:") == 4  # provenance, SPDX, CycloneDX, OpenVEX

    required = hardbase("verify", dest, "--insecure", "--key", str(pub), "--require",
                        *TYPES)  # fmt: skip
    assert required.returncode == 0, required.stdout + required.stderr
    assert required.stdout.count("PASS  required ") == 4


def test_keys_cross_over_both_ways(tmp_path: Path, registry: RegistryServer, home: Path) -> None:
    made = cosign(home, "generate-key-pair", "--output-key-prefix", str(tmp_path / "ck"))
    assert made.returncode == 0, made.stderr
    ours = hardbase("keygen", "--output-prefix", str(tmp_path / "hk"),
                    HARDBASE_KEY_PASSWORD=PASSWORD)  # fmt: skip
    assert ours.returncode == 0, ours.stderr
    make_image(tmp_path / "a", "t", [{"app/a": b"a\n"}])
    make_image(tmp_path / "b", "t", [{"app/b": b"b\n"}])
    # go-containerregistry wants repository names of two characters or more
    ref_a, ref_b = f"docker://{registry.host}/app-a:t", f"docker://{registry.host}/app-b:t"
    for name, ref in (("a", ref_a), ("b", ref_b)):
        assert hardbase("-q", "push", "--insecure", f"oci:{tmp_path / name}:t", ref).returncode == 0
    predicate = tmp_path / "cdx.json"  # FIXTURE predicate
    predicate.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6"}))

    # a cosign key signs with hardbase (its password in COSIGN_PASSWORD) ...
    signed = hardbase("sign", ref_a, "--insecure", "--key", str(tmp_path / "ck.key"),
                      "--predicate", str(predicate), "--type", "cyclonedx",
                      COSIGN_PASSWORD=COSIGN_PW)  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    a = f"{registry.host}/app-a:t"
    checked = cosign(home, "verify", "--key", str(tmp_path / "ck.pub"),
                     "--insecure-ignore-tlog=true", *REGISTRY, a)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    verify_attestation(home, tmp_path / "ck.pub", a, "cyclonedx")
    assert (
        hardbase("verify", ref_a, "--insecure", "--key", str(tmp_path / "ck.pub")).returncode == 0
    )

    # ... and a hardbase key signs and attests with cosign; hardbase verifies both
    b = f"{registry.host}/app-b:t"
    provenance = tmp_path / "slsa.json"  # FIXTURE predicate
    provenance.write_text(json.dumps({
        "buildDefinition": {"buildType": "https://hardbase.invalid/fixture",
                            "externalParameters": {}},
        "runDetails": {"builder": {"id": "https://hardbase.invalid/fixture-builder"}},
    }))  # fmt: skip
    for args in (
        ["sign", "--key", str(tmp_path / "hk.key"), "--tlog-upload=false", *REGISTRY, b],
        ["attest", "--key", str(tmp_path / "hk.key"), "--tlog-upload=false", "--type",
         "slsaprovenance1", "--predicate", str(provenance), *REGISTRY, b],
    ):  # fmt: skip
        done = cosign(home, *args, password=PASSWORD)
        assert done.returncode == 0, done.stderr
    result = hardbase("verify", ref_b, "--insecure", "--key", str(tmp_path / "hk.pub"),
                      "--require", "slsaprovenance1")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  signature:" in result.stdout
    assert "PASS  attestation https://slsa.dev/provenance/v1" in result.stdout

    # another signer's attestation beside ours: not by this key, skipped, as cosign does
    other = cosign(home, "attest", "--key", str(tmp_path / "ck.key"), "--tlog-upload=false",
                   "--type", "openvex", "--predicate", str(predicate), *REGISTRY, b)  # fmt: skip
    assert other.returncode == 0, other.stderr
    mixed = hardbase("verify", ref_b, "--insecure", "--key", str(tmp_path / "hk.pub"))
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr
    assert "SKIP  attestation https://openvex.dev/ns: not by this key" in mixed.stdout
    verify_attestation(home, tmp_path / "hk.pub", b, "slsaprovenance1")
    missing = hardbase("verify", ref_b, "--insecure", "--key", str(tmp_path / "hk.pub"),
                       "--require", "openvex")  # fmt: skip
    assert missing.returncode == 1
    assert "no https://openvex.dev/ns attestation beside the image verifies" in missing.stderr


def test_bad_cosign_keys_exit_2_with_one_sentence(
    tmp_path: Path, registry: RegistryServer, home: Path
) -> None:
    made = cosign(home, "generate-key-pair", "--output-key-prefix", str(tmp_path / "ck"))
    assert made.returncode == 0, made.stderr
    make_image(tmp_path / "a", "t", [{"app/a": b"a\n"}])
    ref = f"docker://{registry.host}/a:t"
    assert hardbase("-q", "push", "--insecure", f"oci:{tmp_path / 'a'}:t", ref).returncode == 0
    text = (tmp_path / "ck.key").read_text()
    truncated = tmp_path / "truncated.key"
    truncated.write_text(text[: len(text) // 2])
    truncated.chmod(0o600)
    cases = [
        (tmp_path / "ck.key", "wrong-password", "the password is wrong"),
        (truncated, COSIGN_PW, "is truncated"),
    ]
    for key, password, reason in cases:
        result = hardbase("sign", ref, "--insecure", "--key", str(key), COSIGN_PASSWORD=password)
        assert result.returncode == 2, result.stderr
        assert reason in result.stderr and str(key) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    tags = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.host}/a"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(tags)["Tags"] == ["t"]  # nothing was signed
