"""Fixtures for signing tests: a real registry and key pairs made by `hardbase keygen`'s code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardbase.attest.keys import write_keypair
from registry_fixture import KEY_PASSWORD, RegistryServer, running_registry
from signing import SignedBuild, build_signed


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with running_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    """An encrypted key (password KEY_PASSWORD) and its public key."""
    return write_keypair(tmp_path / "keys" / "cosign", KEY_PASSWORD)


@pytest.fixture
def other_keypair(tmp_path: Path) -> tuple[Path, Path]:
    return write_keypair(tmp_path / "keys" / "other", "", unencrypted=True)


@pytest.fixture
def signed_build(tmp_path: Path, registry: RegistryServer) -> SignedBuild:
    """`hardbase build --sign-key` (provenance, SPDX, CycloneDX) and `push --signatures`."""
    return build_signed(tmp_path, registry)
