"""Shared test setup: makes the helpers in tests/ importable and isolates caches.

Every test session gets its own cache and database (under pytest's base temp
dir), so tests never touch a user's ~/.cache/hardbase; caches are shared
within the session so the real archive is downloaded once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SRC = TESTS.parent / "src"
sys.path.insert(0, str(TESTS))
# The tree under test wins over whatever hardbase is installed, in this process
# and in the `hardbase` / `python3 -m hardbase` processes the tests start.
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SRC), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    root = pytest.TempPathFactory.from_config(config, _ispytest=True).getbasetemp()
    os.environ["HARDBASE_CACHE"] = str(root / "hardbase-cache")
    os.environ["HARDBASE_DB"] = str(root / "hardbase-cache" / "vuln.db")
    os.environ.pop("SOURCE_DATE_EPOCH", None)
