"""The admission policies in contrib/kubernetes/ make checks that real cosign passes.

Kyverno and policy-controller verify with cosign's library; no cluster runs here, so
each policy's key and attestation checks are read from its YAML and run as the cosign
commands they stand for (`cosign verify --key`, `cosign verify-attestation --key
--type URI`, without the transparency log as the policies say) on a hardbase build
signed at build time, with the policy's placeholder key replaced by the build's key.
With another key the same commands fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from peers import need
from signing import REGISTRY, SignedBuild, cosign, hardbase

pytestmark = pytest.mark.peers

POLICIES = Path(__file__).resolve().parents[2] / "contrib" / "kubernetes"
PLACEHOLDER = "-----BEGIN PUBLIC KEY-----\nREPLACE-WITH-YOUR-cosign.pub\n-----END PUBLIC KEY-----"
BUILD_WRITES = {
    "https://slsa.dev/provenance/v1",
    "https://spdx.dev/Document",
    "https://cyclonedx.org/bom",
}


def kyverno_checks(doc: dict[str, Any]) -> tuple[set[str], set[str], bool]:
    """(signature keys, attestation types, whether the transparency log is skipped)."""
    (rule,) = doc["spec"]["rules"]
    (verify,) = rule["verifyImages"]
    entries = [e["keys"] for s in verify["attestors"] for e in s["entries"]]
    attested = [
        (a["type"], e["keys"])
        for a in verify["attestations"]
        for s in a["attestors"]
        for e in s["entries"]
    ]
    every = entries + [keys for _, keys in attested]
    no_tlog = all(k["rekor"]["ignoreTlog"] is True for k in every)
    keys = {k["publicKeys"].strip() for k in every}
    return keys, {t for t, _ in attested}, no_tlog


def policy_controller_checks(doc: dict[str, Any]) -> tuple[set[str], set[str], bool]:
    authorities = doc["spec"]["authorities"]
    keys = {a["key"]["data"].strip() for a in authorities}
    types = {t["predicateType"] for a in authorities for t in a.get("attestations", [])}
    return keys, types, all("ctlog" not in a for a in authorities)


def substitute(node: Any, key: str) -> Any:
    """The policy with your key in place of the placeholder, as a user fills it in."""
    if isinstance(node, dict):
        return {k: substitute(v, key) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, key) for v in node]
    return key if isinstance(node, str) and node.strip() == PLACEHOLDER else node


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("kyverno-clusterpolicy.yaml", kyverno_checks),
        ("policy-controller-clusterimagepolicy.yaml", policy_controller_checks),
    ],
)
def test_the_policys_checks_pass_with_real_cosign(
    name: str, read: Any, signed_build: SignedBuild, tmp_path: Path
) -> None:
    need("cosign")
    home = tmp_path / "home"
    home.mkdir()
    text = (POLICIES / name).read_text()
    assert text.count("REPLACE-WITH-YOUR-cosign.pub") >= 1
    keys, types, no_tlog = read(yaml.safe_load(text))
    assert keys == {PLACEHOLDER} and no_tlog
    assert types == BUILD_WRITES
    image = f"{signed_build.repository}@{signed_build.digest}"
    other = tmp_path / "other"
    made = hardbase("keygen", "--no-password", "--output-prefix", str(other))
    assert made.returncode == 0, made.stderr
    for pub, passes in ((signed_build.pub, True), (Path(f"{other}.pub"), False)):
        key_text = pub.read_text().strip()
        (policy_key,) = read(substitute(yaml.safe_load(text), key_text))[0]
        key_file = tmp_path / f"policy-{pub.name}"
        key_file.write_text(policy_key + "\n")
        skip_tlog = ["--insecure-ignore-tlog=true"]
        signed = cosign(home, "verify", "--key", str(key_file), *skip_tlog, *REGISTRY, image)
        assert (signed.returncode == 0) is passes, signed.stderr
        for kind in sorted(types):
            checked = cosign(home, "verify-attestation", "--key", str(key_file), "--type", kind,
                             *skip_tlog, *REGISTRY, image)  # fmt: skip
            assert (checked.returncode == 0) is passes, f"{kind}: {checked.stderr}"
