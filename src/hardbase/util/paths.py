"""Where hardbase keeps its caches and default database."""

from __future__ import annotations

import os
from pathlib import Path

_override: Path | None = None


def set_cache_root(path: Path | None) -> None:
    """`--cache-dir`: the cache root and default database for this process (None: unset)."""
    global _override
    _override = path


def cache_dir() -> Path:
    """The cache root: `--cache-dir`, `$HARDBASE_CACHE`, `$XDG_CACHE_HOME/hardbase` or
    `~/.cache/hardbase`."""
    if _override is not None:
        return _override
    env = os.environ.get("HARDBASE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "hardbase"


def default_db_path() -> Path:
    """The vulnerability database: `vuln.db` under `--cache-dir`, else `$HARDBASE_DB`, else
    `vuln.db` under the cache root."""
    if _override is not None:
        return _override / "vuln.db"
    env = os.environ.get("HARDBASE_DB")
    return Path(env) if env else cache_dir() / "vuln.db"
