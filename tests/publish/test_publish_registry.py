"""The python3 image built from the Debian archive, signed, pushed to a real registry.

Peers read it back: skopeo copies and inspects it, podman pulls and runs it,
`hardbase verify` checks its signature and attestations in the registry. A
second push of an image sharing the base layers sends only the new blobs,
counted from CopyStats, the registry's access log and its storage.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from publish_helpers import blob_json, build_image, cdx_errors, image_blobs, spdx_errors

from hardbase.attest.keys import write_keypair
from hardbase.oci.copy import copy
from peers import PODMAN, need, podman_run
from registry_fixture import RegistryServer, run_hardbase, running_registry

pytestmark = [pytest.mark.archive, pytest.mark.slow, pytest.mark.peers]


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A key pair with an empty password (what HARDBASE_KEY_PASSWORD unset means)."""
    return write_keypair(tmp_path_factory.mktemp("keys") / "cosign", "", unencrypted=True)


REPOSITORY = "hardbase/python3"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with running_registry(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, keypair: tuple[Path, Path], registry: RegistryServer
) -> dict[str, tuple[Path, str]]:
    """python3 (signed for the repository it is pushed to) and cc, built once for the module."""
    tmp = tmp_path_factory.mktemp("images")
    identity = f"{registry.host}/{REPOSITORY}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARDBASE_KEY_PASSWORD", "")
        python3 = build_image(
            tmp, "python3", "--sign-key", str(keypair[0]), "--sign-identity", identity
        )
    return {"python3": python3, "cc": build_image(tmp, "cc")}


@pytest.fixture(scope="module")
def pushed(built: dict[str, tuple[Path, str]], registry: RegistryServer) -> str:
    """`hardbase push --signatures` of the python3 image; returns its docker:// reference."""
    layout, digest = built["python3"]
    dest = f"docker://{registry.host}/{REPOSITORY}:3.13"
    proc = run_hardbase("push", "--insecure", "--signatures", f"oci:{layout}:latest", dest)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == digest
    return dest


def skopeo(*args: str) -> str:
    need("skopeo")
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_skopeo_pulls_back_the_same_digests(
    built: dict[str, tuple[Path, str]], pushed: str, tmp_path: Path
) -> None:
    layout, digest = built["python3"]
    skopeo("copy", "-q", "--all", "--src-tls-verify=false", pushed, f"oci:{tmp_path / 'all'}:x")
    index = json.loads((tmp_path / "all" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    # without --all skopeo picks the amd64 manifest, byte for byte ours
    amd64 = blob_json(layout, digest)["manifests"][0]["digest"]
    skopeo("copy", "-q", "--src-tls-verify=false", pushed, f"oci:{tmp_path / 'one'}:x")
    index = json.loads((tmp_path / "one" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [amd64]


def test_skopeo_inspect_shows_the_config(built: dict[str, tuple[Path, str]], pushed: str) -> None:
    raw = json.loads(skopeo("inspect", "--tls-verify=false", pushed))
    assert raw["Digest"] == built["python3"][1]
    assert "3.13" in raw["RepoTags"]
    assert any(t.endswith(".sig") for t in raw["RepoTags"])
    config = json.loads(skopeo("inspect", "--config", "--tls-verify=false", pushed))
    assert config["config"]["User"].split(":")[0] == "65532"
    assert config["architecture"] == "amd64" and config["os"] == "linux"


def test_podman_pulls_and_runs_the_pushed_image(pushed: str) -> None:
    need("podman")
    name = pushed.removeprefix("docker://")
    pull = subprocess.run(
        [*PODMAN, "pull", "-q", "--tls-verify=false", pushed],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert pull.returncode == 0, pull.stderr
    try:
        result = podman_run(name, ["-c", "import ssl, os; print(1, os.getuid())"])
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["1", "65532"]
    finally:
        subprocess.run([*PODMAN, "rmi", "-f", name], capture_output=True, timeout=120)


def test_verify_passes_in_the_registry(
    built: dict[str, tuple[Path, str]], pushed: str, keypair: tuple[Path, Path]
) -> None:
    digest = built["python3"][1]
    by_digest = f"{pushed.rsplit(':', 1)[0]}@{digest}"
    proc = run_hardbase(
        "verify", by_digest, "--key", str(keypair[1]), "--insecure", "--require-attestations"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout
    # the signature and the provenance and both SBOM attestations were found
    assert len(re.findall(r"^PASS", proc.stdout, re.MULTILINE)) >= 4, proc.stdout
    assert "slsa.dev/provenance" in proc.stdout


def test_sbom_of_the_pushed_image(
    built: dict[str, tuple[Path, str]],
    pushed: str,
) -> None:
    """`hardbase sbom docker://…` lists what the build's own SBOM lists."""
    layout = built["python3"][0]
    beside = json.loads(layout.with_name("python3.spdx.json").read_text())
    purls = {
        ref["referenceLocator"]
        for p in beside["packages"]
        for ref in p.get("externalRefs", [])
        if ref["referenceLocator"].startswith("pkg:deb/")
    }
    spdx = run_hardbase("sbom", "--insecure", pushed, "--format", "spdx-json")
    assert spdx.returncode == 0, spdx.stderr
    doc = json.loads(spdx.stdout)
    assert spdx_errors()(doc) == []
    assert {
        ref["referenceLocator"]
        for p in doc["packages"]
        for ref in p.get("externalRefs", [])
        if ref["referenceLocator"].startswith("pkg:deb/")
    } == purls
    cdx = run_hardbase("sbom", "--insecure", pushed, "--format", "cyclonedx-json")
    assert cdx.returncode == 0, cdx.stderr
    doc = json.loads(cdx.stdout)
    assert cdx_errors()(doc) == []
    debs = {c["purl"] for c in doc["components"] if c.get("purl", "").startswith("pkg:deb/")}
    assert debs == purls


def _uploads(registry: RegistryServer) -> list[str]:
    """Digests of the completed blob uploads in the registry's access log."""
    log = registry.log_path.read_text()
    return re.findall(r'"PUT /v2/[^ ]+/blobs/uploads/[^ ]*digest=sha256%3A([0-9a-f]{64})', log)


@pytest.mark.parametrize("second_repository", ["hardbase/python3", "hardbase/cc"])
def test_second_image_uploads_only_its_new_blobs(
    built: dict[str, tuple[Path, str]], tmp_path: Path, second_repository: str
) -> None:
    """cc, then python3 (same base layers byte for byte): only python3's own blobs go up.

    To another repository the shared layers are mounted (no bytes sent); to the
    same repository they are found by HEAD and skipped.
    """
    cc_layout, cc_digest = built["cc"]
    py_layout, py_digest = built["python3"]
    shared = image_blobs(cc_layout, cc_digest) & image_blobs(py_layout, py_digest)
    new = image_blobs(py_layout, py_digest) - shared
    assert len(shared) >= 4  # skeleton, static, base, cc layers
    with running_registry(tmp_path / "registry") as registry:
        first = copy(f"oci:{cc_layout}:latest", f"docker://{registry.host}/hardbase/cc:latest",
                     insecure=True)  # fmt: skip
        assert first.stats.uploaded == len(image_blobs(cc_layout, cc_digest))
        stored = registry.blob_digests()
        uploads_before = len(_uploads(registry))

        second = copy(
            f"oci:{py_layout}:latest",
            f"docker://{registry.host}/{second_repository}:3.13",
            insecure=True,
        )
        assert second.digest == py_digest
        assert second.stats.uploaded == len(new)
        assert second.stats.mounted + second.stats.skipped == len(shared)
        if second_repository == "hardbase/cc":
            assert second.stats.skipped == len(shared)
        else:
            assert second.stats.mounted == len(shared)
        assert second.stats.bytes == sum(
            (py_layout / "blobs/sha256" / d[7:]).stat().st_size for d in new
        )
        # the registry saw exactly those uploads, and stores only those blobs more
        uploaded = _uploads(registry)[uploads_before:]
        assert sorted(f"sha256:{d}" for d in uploaded) == sorted(new)
        manifests = {
            py_digest,
            *(m["digest"] for m in blob_json(py_layout, py_digest)["manifests"]),
        }
        assert registry.blob_digests() - stored == new | manifests
