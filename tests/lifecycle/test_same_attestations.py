"""`hardbase build --sign-key` and `hardbase watch --once` attest the same thing for the
same lock: the same SLSA provenance (only its run metadata, the times and the job's
invocation id, differ) and the same SPDX and CycloneDX SBOM of each architecture.

The fixture archive holds .debs built by dpkg-deb for amd64 and arm64 (their contents are
fixtures) and one Architecture: all package both architectures share; the registry is real.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lifecycle_world import WEBHOOK_SECRET, WebhookReceiver, World

from archive_fixture import FixtureArchive
from hardbase.attest.cosign import PREDICATE_ANNOTATION
from hardbase.attest.keys import write_keypair
from hardbase.attest.names import CYCLONEDX, SLSA_PROVENANCE_V1, SPDX
from hardbase.cli.main import main
from hardbase.lifecycle.state import StateDB
from hardbase.oci.layout import Descriptor, Layout
from hardbase.oci.registry import RegistryClient
from peers import need
from registry_fixture import KEY_PASSWORD, running_registry
from signing import REGISTRY, cosign

ARCHS = ("amd64", "arm64")
OS_RELEASE = 'ID=debian\nVERSION_ID="13"\nPRETTY_NAME="Debian GNU/Linux 13 (fixture)"\n'


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", KEY_PASSWORD)
    monkeypatch.setenv("HARDBASE_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    root = tmp_path / "world"
    archive = FixtureArchive(root / "archive")
    for arch in ARCHS:
        archive.add_package(
            "base-files", "13.8", arch, suite="trixie",
            files={"/usr/lib/os-release": OS_RELEASE,
                   "/usr/share/doc/base-files/copyright": "fixture\n"},
            symlinks={"/etc/os-release": "../usr/lib/os-release"},
        )  # fmt: skip
        archive.add_package(
            "tool", "1.0-1", arch, suite="trixie", depends="tool-data",
            files={"/usr/bin/tool": f"tool for {arch}\n",
                   "/usr/share/doc/tool/copyright": "fixture\n"},
        )  # fmt: skip
    archive.add_package(
        "tool-data", "1.0-1", "all", suite="trixie",
        files={"/usr/share/tool/data": "shared\n", "/usr/share/doc/tool-data/copyright": "x\n"},
    )  # fmt: skip
    for suite in ("trixie", "trixie-security"):
        archive.publish(suite, archs=ARCHS)
    key, pub = write_keypair(root / "keys" / "cosign", KEY_PASSWORD)
    webhook = WebhookReceiver(WEBHOOK_SECRET)
    try:
        with running_registry(root / "registry") as registry:
            yield World(root, archive, registry, webhook, {}, key, pub)
    finally:
        webhook.close()
        archive.close()


def _statement(blob: bytes) -> dict[str, Any]:
    statement: dict[str, Any] = json.loads(base64.b64decode(json.loads(blob)["payload"]))
    return statement


def registry_attestations(world: World, repository: str, digest: str) -> list[dict[str, Any]]:
    client = RegistryClient(world.registry.host, repository, insecure=True)
    try:
        data, _, _ = client.get_manifest(f"sha256-{digest.split(':', 1)[1]}.att")
        return [
            _statement(
                client.read_blob(
                    Descriptor(layer["mediaType"], layer["digest"], layer["size"]), 64 << 20
                )
            )
            for layer in json.loads(data)["layers"]
        ]
    finally:
        client.close()


def layout_attestations(layout: Path, digest: str) -> list[dict[str, Any]]:
    opened = Layout.open(layout)
    manifest = json.loads(opened.read_blob(opened.find(f"sha256-{digest[7:]}.att").digest))
    layers = manifest["layers"]
    assert all(layer["annotations"][PREDICATE_ANNOTATION] for layer in layers)
    return [_statement(opened.read_blob(layer["digest"])) for layer in layers]


def by_type(statements: list[dict[str, Any]]) -> dict[str, list[str]]:
    """predicate type -> each statement (subject and predicate) as canonical JSON, sorted."""
    out: dict[str, list[str]] = {}
    for statement in statements:
        out.setdefault(statement["predicateType"], []).append(json.dumps(statement, sort_keys=True))
    return {kind: sorted(docs) for kind, docs in out.items()}


def build_and_watch(world: World, tmp_path: Path) -> tuple[Path, str, str, int]:
    """Lock the spec, build it with `build --sign-key`, publish it with `watch --once`:
    (the build's layout, the image digest, the repository both name, the job id)."""
    fleet = world.fleet(images=("a",))
    spec = world.root / "images" / "a.yaml"
    spec.write_text(
        spec.read_text().replace("extends: static\n", "packages: [base-files, tool]\n")
        + f"archs: {list(ARCHS)}\n"
    )
    assert main(["-q", "lock", str(spec)]) == 0  # the one lock both paths build
    lock_before = (spec.parent / "a.lock.json").read_bytes()
    identity = f"{world.registry.host}/hardbase/a"
    out = tmp_path / "cli" / "a"
    signing = ["--sign-key", str(world.key), "--sign-identity", identity]
    assert main(["-q", "build", str(spec), "-o", str(out), *signing]) == 0
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 0
    assert (spec.parent / "a.lock.json").read_bytes() == lock_before
    with StateDB.open(f"sqlite:///{world.root / 'state.db'}") as state:
        image = state.image("hardbase/a")
        assert image is not None and image.digest
        job = state.jobs(image="hardbase/a")[-1]
        digest = image.digest
    assert Layout.open(out).find("latest").digest == digest  # the same lock, the same image

    return out, digest, identity, job.id


@pytest.mark.slow
def test_build_and_watch_attest_the_same_for_the_same_lock(world: World, tmp_path: Path) -> None:
    out, digest, identity, job_id = build_and_watch(world, tmp_path)
    built = by_type(layout_attestations(out, digest))
    published = by_type(registry_attestations(world, "hardbase/a", digest))
    assert {k: len(v) for k, v in built.items()} == {SLSA_PROVENANCE_V1: 1, SPDX: 2, CYCLONEDX: 2}
    # the SBOMs, one of each format per architecture, are the same documents
    assert built[SPDX] == published[SPDX]
    assert built[CYCLONEDX] == published[CYCLONEDX]
    for docs in (built[SPDX], built[CYCLONEDX]):
        assert sorted(a for a in ARCHS for d in docs if f"arch={a}" in d) == sorted(ARCHS)
        assert all(f"repository_url={identity}" in d for d in docs)  # the image's purl
    assert all(f"docker://{identity}@{digest}" in d for d in built[CYCLONEDX])

    (cli,) = (json.loads(s) for s in built[SLSA_PROVENANCE_V1])
    (ctl,) = (json.loads(s) for s in published[SLSA_PROVENANCE_V1])
    assert (
        cli["subject"]
        == ctl["subject"]
        == [{"name": identity, "digest": {"sha256": digest.split(":", 1)[1]}}]
    )
    cli_meta = cli["predicate"]["runDetails"].pop("metadata")
    ctl_meta = ctl["predicate"]["runDetails"].pop("metadata")
    assert cli["predicate"] == ctl["predicate"]
    assert "invocationId" not in cli_meta
    assert ctl_meta["invocationId"] == f"hardbase-watch/job/{job_id}"
    definition = cli["predicate"]["buildDefinition"]
    spec_fields = definition["externalParameters"]["spec"]
    assert spec_fields["name"] == "a" and spec_fields["archs"] == list(ARCHS)
    names = [d["name"] for d in definition["resolvedDependencies"]]
    assert names == [
        "lock", "base-files_13.8_amd64", "base-files_13.8_arm64",
        "tool-data_1.0-1_all", "tool_1.0-1_amd64", "tool_1.0-1_arm64",
    ]  # fmt: skip
    assert definition["resolvedDependencies"][0]["uri"] == "a.lock.json"


@pytest.mark.slow
@pytest.mark.peers
def test_cosign_verifies_what_the_controller_published(world: World, tmp_path: Path) -> None:
    """Real cosign verifies every attestation of the published image with the fleet's key."""
    need("cosign")
    _, digest, identity, _ = build_and_watch(world, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    published = by_type(registry_attestations(world, "hardbase/a", digest))
    for kind, uri, count in (
        ("slsaprovenance1", SLSA_PROVENANCE_V1, 1), ("spdxjson", SPDX, 2),
        ("cyclonedx", CYCLONEDX, 2),
    ):  # fmt: skip
        checks = ["--key", str(world.pub), "--type", kind, "--insecure-ignore-tlog=true"]
        result = cosign(home, "verify-attestation", *checks, *REGISTRY, f"{identity}@{digest}")
        assert result.returncode == 0, f"{kind}: {result.stderr}"
        verified = sorted(
            json.dumps(_statement(line.encode()), sort_keys=True)
            for line in result.stdout.splitlines()
            if line.strip()
        )
        assert len(verified) == count and verified == published[uri], kind
