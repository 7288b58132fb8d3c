"""Where hardbase keeps its caches and default database."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root: `$HARDBASE_CACHE`, `$XDG_CACHE_HOME/hardbase` or `~/.cache/hardbase`."""
    env = os.environ.get("HARDBASE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "hardbase"


def default_db_path() -> Path:
    """The vulnerability database: `$HARDBASE_DB`, else `vuln.db` under the cache root."""
    env = os.environ.get("HARDBASE_DB")
    return Path(env) if env else cache_dir() / "vuln.db"
