"""A signed build pushed to the test registry, for the tests that run cosign and oras on it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from archive_fixture import FixtureArchive
from registry_fixture import RegistryServer, run_hardbase

PASSWORD = "hb-Passw0rd"  # FIXTURE key password of build_signed's key
COSIGN_PW = "cosign-Passw0rd"  # FIXTURE password of the keys cosign makes in the tests
REGISTRY = ["--allow-insecure-registry", "--allow-http-registry"]  # cosign, plain-HTTP registry


def hardbase(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI with no key password from this machine's environment unless given."""
    return run_hardbase(*args, env={"HARDBASE_KEY_PASSWORD": "", "COSIGN_PASSWORD": "", **env})


@dataclass(frozen=True)
class SignedBuild:
    """An image built from the fixture archive, signed and attested at build time, pushed."""

    tmp: Path
    out: Path  # the layout; its SBOMs beside it
    repository: str  # HOST/REPO in the registry, tag 1
    digest: str
    key: Path
    pub: Path


def build_signed(tmp_path: Path, registry: RegistryServer) -> SignedBuild:
    """`hardbase build --sign-key` (provenance, SPDX, CycloneDX) and `push --signatures`."""
    keys = tmp_path / "keys" / "hb"
    keys.parent.mkdir()
    made = hardbase("keygen", "--output-prefix", str(keys), HARDBASE_KEY_PASSWORD=PASSWORD)
    assert made.returncode == 0, made.stderr
    key, pub = Path(f"{keys}.key"), Path(f"{keys}.pub")
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_package("hello", "2.0-1", files={"usr/bin/hello": b"#!hello\n"},
                            modes={"usr/bin/hello": 0o755})  # fmt: skip
        archive.publish("stable")
        spec = tmp_path / "hello.yaml"
        spec.write_text(yaml.safe_dump({
            "name": "hello", "packages": ["hello"], "entrypoint": ["/usr/bin/hello"],
            "sources": [{"uris": [archive.url], "suites": ["stable"],
                         "signed-by": str(archive.keyring)}],
        }))  # fmt: skip
        repository = f"{registry.host}/hardbase/hello"
        out = tmp_path / "out"
        built = hardbase("-q", "build", str(spec), "-o", str(out), "--sign-key", str(key),
                         "--sign-identity", repository, HARDBASE_KEY_PASSWORD=PASSWORD)  # fmt: skip
        assert built.returncode == 0, built.stderr
    digest = built.stdout.strip().splitlines()[-1]
    pushed = hardbase("-q", "push", "--insecure", "--signatures", f"oci:{out}",
                      f"docker://{repository}:1")  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    return SignedBuild(tmp_path, out, repository, digest, key, pub)


def cosign(home: Path, *args: str, password: str = COSIGN_PW) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))},
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / ".docker"),
        "COSIGN_PASSWORD": password,
        "COSIGN_YES": "true",
    }
    return subprocess.run(
        ["cosign", *args], capture_output=True, text=True, env=env, timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
