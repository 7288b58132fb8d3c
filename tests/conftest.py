"""Shared test setup: makes the helpers in tests/ importable and isolates caches."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test session gets its own cache and database unless a test sets them."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("HARDBASE_CACHE", str(root / "cache"))
    monkeypatch.setenv("HARDBASE_DB", str(root / "cache" / "vuln.db"))
