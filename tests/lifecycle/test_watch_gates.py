"""The controller's gates on real parts: the image's policy (the real policy engine), the smoke
command run in the built image, and a fix found through the debian-changelog feed.

Image `c` is the static preset plus the real busybox .deb (and the libc6 it needs) from the
fixture archive, so it has a shell and an executable to smoke-test.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from lifecycle_world import NEW_NETBASE, World

from hardbase.attest.attestation import CYCLONEDX, SLSA_PROVENANCE_V1, SPDX
from hardbase.attest.cosign import PREDICATE_ANNOTATION
from hardbase.cli.main import main
from hardbase.lifecycle.state import StateDB
from hardbase.oci.layout import Descriptor
from hardbase.oci.registry import RegistryClient

pytestmark = [pytest.mark.archive]

BUSYBOX = "/usr/bin/busybox"


def watch(fleet: Path) -> int:
    return main(["-q", "watch", "--fleet", str(fleet), "--once"])


def state_of(world: World) -> StateDB:
    return StateDB.open(f"sqlite:///{world.root / 'state.db'}")


def write_policy(world: World, text: str) -> Path:
    path = world.root / "policies" / "policy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def attestations(world: World, repository: str, digest: str) -> dict[str, dict[str, Any]]:
    """predicate type -> in-toto statement, of the attestations beside `digest` in the registry."""
    client = RegistryClient(world.registry.host, repository, insecure=True)
    out: dict[str, dict[str, Any]] = {}
    try:
        data, _, _ = client.get_manifest(f"sha256-{digest.split(':', 1)[1]}.att")
        for layer in json.loads(data)["layers"]:
            blob = client.read_blob(
                Descriptor(layer["mediaType"], layer["digest"], layer["size"]), 64 << 20
            )
            statement = json.loads(base64.b64decode(json.loads(blob)["payload"]))
            out[layer.get("annotations", {}).get(PREDICATE_ANNOTATION, "")] = statement
    finally:
        client.close()
    return out


def smoke_runs_here(world: World, image: str) -> None:
    """Skip when the smoke command was skipped: neither runc nor podman works here."""
    with state_of(world) as state:
        skipped = state.events(image=image, kind="smoke-skipped")
    if skipped:
        pytest.skip(f"no container runtime works here: {skipped[0].detail.get('reason', '')}")


def test_a_failing_policy_blocks_the_publish_and_reports_every_failed_rule(
    world: World, busybox_debs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_debs(busybox_debs)
    policy = write_policy(
        world,
        "name: strict\nfilesystem: {no_shell: true, no_setuid: true}\nmax_compressed_mb: 0.01\n",
    )
    fleet = world.fleet(images=("c",), policy=policy)
    assert watch(fleet) == 1
    out = capsys.readouterr().out
    assert "c: failed" in out and "strict" in out
    assert world.registry.manifest_digests("hardbase/c") == set(), "nothing may be pushed"
    with state_of(world) as state:
        job = state.jobs(image="hardbase/c")[-1]
        assert job.state == "failed"
        assert "failed 2 of 3 rules" in job.error and "busybox" in job.error
        event = state.events(job=job.id)[-1]
        assert event.kind == "gate-failed"
        rules = {r["rule"]: r["reason"] for r in event.detail["rules"]}
        assert set(rules) == {"no shell", "maximum compressed size"}, rules
        assert "shells present" in rules["no shell"] and "busybox" in rules["no shell"]
        assert "MB" in rules["maximum compressed size"]
        image = state.image("hardbase/c")
        assert image is not None and not image.digest
    hooks = [p for p in world.webhook.posts if p["event"] == "gate-failed"]
    assert len(hooks) == 1 and hooks[0]["policy"] == "strict"
    assert {r["rule"] for r in hooks[0]["rules"]} == set(rules)
    assert all(r["reason"] for r in hooks[0]["rules"])


def test_a_passing_policy_publishes_with_sboms_and_provenance(world: World) -> None:
    policy = write_policy(
        world,
        "name: fleet-policy\n"
        "filesystem: {no_shell: true, no_package_manager: true, no_setuid: true}\n"
        "max_compressed_mb: 5\n"
        f"signature: {{keys: ['{world.pub}']}}\n"
        f"provenance: {{keys: ['{world.pub}']}}\n"
        "sbom: {required: true}\n"
        "vulnerabilities: {max_severity: {fixable: high, no-fix: high, wont-fix: high}}\n",
    )
    fleet = world.fleet(images=("a",), policy=policy)
    assert watch(fleet) == 0
    with state_of(world) as state:
        image = state.image("hardbase/a")
        assert image is not None and image.digest
        job = state.jobs(image="hardbase/a")[-1]
        assert job.state == "published"
        signed = state.events(job=job.id, kind="signed")[0].detail
        assert signed["policy"] == "fleet-policy: passed 10 rules", signed
        assert signed["sboms"] == sorted([CYCLONEDX, SPDX])
    attested = attestations(world, "hardbase/a", image.digest)
    assert set(attested) == {SPDX, CYCLONEDX, SLSA_PROVENANCE_V1}
    spdx = attested[SPDX]["predicate"]  # hardbase.sbom's document, naming the published image
    assert spdx["spdxVersion"].startswith("SPDX-")
    assert {"netbase", "tzdata"} <= {p["name"] for p in spdx["packages"]}
    cdx = attested[CYCLONEDX]["predicate"]
    assert cdx["bomFormat"] == "CycloneDX"
    # the documents name the published image by its digest, not the controller's local layout
    assert f"{world.registry.host}/hardbase/a@{image.digest}" in json.dumps(cdx)
    assert "jobs/" not in json.dumps(cdx) + json.dumps(spdx)
    # the threshold the policy maps to: findings above high fail, so critical is the gate
    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.vuln.severity import Severity

    assert load_fleet(fleet).images[0].fail_on == Severity.CRITICAL


def test_a_passing_smoke_command_publishes(world: World, busybox_debs: dict[str, Path]) -> None:
    world.add_debs(busybox_debs)
    fleet = world.fleet(images=("c",), smoke=[BUSYBOX, "sh", "-c", "test -s /etc/os-release"])
    result = watch(fleet)
    smoke_runs_here(world, "hardbase/c")
    assert result == 0
    with state_of(world) as state:
        image = state.image("hardbase/c")
        assert image is not None and image.digest
        job = state.jobs(image="hardbase/c")[-1]
        verified = state.events(job=job.id, kind="verified")[0].detail
        assert verified["smoke"].startswith("passed"), verified
    assert world.registry.manifest_digests("hardbase/c")


def test_a_failing_smoke_command_fails_the_gate(
    world: World, busybox_debs: dict[str, Path]
) -> None:
    world.add_debs(busybox_debs)
    fleet = world.fleet(images=("c",), smoke=[BUSYBOX, "sh", "-c", "echo smoke-broke >&2; exit 3"])
    result = watch(fleet)
    smoke_runs_here(world, "hardbase/c")
    assert result == 1
    assert world.registry.manifest_digests("hardbase/c") == set(), "nothing may be pushed"
    with state_of(world) as state:
        job = state.jobs(image="hardbase/c")[-1]
        assert job.state == "failed" and "smoke command failed" in job.error
        assert "smoke-broke" in job.error
        assert [e.kind for e in state.events(job=job.id)][-1] == "gate-failed"
        assert not state.events(image="hardbase/c", kind="published")
    hooks = [p for p in world.webhook.posts if p["event"] == "gate-failed"]
    assert len(hooks) == 1 and "smoke-broke" in hooks[0]["error"]


def test_a_fix_found_through_the_changelog_feed_is_published(world: World) -> None:
    # the importer reads -updates too; the fixture archive has it, empty
    world.archive.publish("trixie-updates")
    fleet = world.fleet(
        images=("a",),
        feed_lines=[
            "  - name: debian-changelog",
            "    locations: "
            + json.dumps([world.archive.url, "trixie", f"signed-by={world.archive.keyring}"]),
        ],
    )
    assert watch(fleet) == 0
    with state_of(world) as state:
        assert not state.events(kind="feed-failed")
        first = state.image("hardbase/a")
        assert first is not None and first.digest
    # a fixture upload: the real netbase .deb rebuilt with a changelog entry naming a CVE
    world.fix_netbase(changes="Fix CVE-2026-90011: fixture, not a real advisory.")
    assert watch(fleet) == 0
    with state_of(world) as state:
        assert not state.events(kind="feed-failed"), state.events(kind="feed-failed")
        job = state.jobs(image="hardbase/a")[-1]
        assert job.state == "published"
        assert "fixes CVE-2026-90011" in job.reason, job.reason
        assert job.plan["fix_findings"] == ["finding:CVE-2026-90011:netbase"]
        seen = [e.detail["fix"] for e in state.events(image="hardbase/a", kind="fix-seen")]
        assert "finding:CVE-2026-90011:netbase" in seen
        assert job.plan["changes"] == [
            {"package": "netbase", "arch": "all", "old": "6.5", "new": NEW_NETBASE}
        ]
        image = state.image("hardbase/a")
        assert image is not None and image.digest != first.digest
        assert len(state.remediation_times("hardbase/a")) == 1
