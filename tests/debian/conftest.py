"""Fixtures for the Debian tests: a fixture archive served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive


@pytest.fixture
def fixture_archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    archive = FixtureArchive(tmp_path / "fixture")
    try:
        yield archive
    finally:
        archive.close()
