"""Fixtures for registry tests: a real docker-registry on 127.0.0.1, plain and with basic auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_fixture import TEST_USERS, RegistryServer, running_registry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A registry without auth, storage under tmp_path, stopped after the test."""
    with running_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A registry that wants basic auth (htpasswd, bcrypt); users in `TEST_USERS`."""
    with running_registry(tmp_path / "auth-registry", users=TEST_USERS) as server:
        yield server
