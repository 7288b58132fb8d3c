"""Fixtures for the evaluate tests: real images (archive-marked tests only) and peers."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluate import real_images


@pytest.fixture(scope="session")
def python3_ref() -> str:
    return real_images.python3_image()


@pytest.fixture(scope="session")
def reference_ref() -> str:
    return real_images.reference_image()


@pytest.fixture(scope="session")
def fixture_db_path() -> Path:
    return real_images.fixture_db()
