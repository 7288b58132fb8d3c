"""Real oras 1.2 (Debian trixie's, from `make setup`) lists and fetches hardbase's artifacts.

docker-registry 2.8 has no referrers API, so oras reads the referrers tag
schema's index `sha256-<hex>` that hardbase keeps beside cosign's tags.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from peers import need
from signing import SignedBuild

pytestmark = pytest.mark.peers

DSSE = "application/vnd.dsse.envelope.v1+json"
SBOM = "application/vnd.hardbase.sbom.v1+json"


def oras(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}
    return subprocess.run(
        ["oras", *args, "--plain-http"], capture_output=True, text=True, env=env, timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_oras_discovers_and_pulls_the_sboms_and_attestations(signed_build: SignedBuild) -> None:
    need("oras")
    build, home = signed_build, signed_build.tmp / "home"
    home.mkdir()
    image = f"{build.repository}@{build.digest}"
    found = oras(home, "discover", "--format", "json", image)
    assert found.returncode == 0, found.stderr
    referrers = {m["artifactType"]: m for m in json.loads(found.stdout)["manifests"]}
    assert set(referrers) == {DSSE, SBOM}

    sboms = build.tmp / "pulled-sboms"
    pulled = oras(home, "pull", "-o", str(sboms), f"{build.repository}@{referrers[SBOM]['digest']}")
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(p.name for p in sboms.iterdir()) == ["out.cdx.json", "out.spdx.json"]
    for name in ("out.cdx.json", "out.spdx.json"):
        assert (sboms / name).read_bytes() == (build.tmp / name).read_bytes()

    atts = build.tmp / "pulled-atts"
    pulled = oras(home, "pull", "-o", str(atts), f"{build.repository}@{referrers[DSSE]['digest']}")
    assert pulled.returncode == 0, pulled.stderr
    kinds = {}
    for path in atts.iterdir():
        envelope = json.loads(path.read_text())
        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert statement["subject"][0]["digest"] == {"sha256": build.digest.split(":")[1]}
        kinds[path.name.split(".")[0]] = statement["predicateType"]
    assert kinds == {
        "slsaprovenance1": "https://slsa.dev/provenance/v1",
        "spdxjson": "https://spdx.dev/Document",
        "cyclonedx": "https://cyclonedx.org/bom",
    }
