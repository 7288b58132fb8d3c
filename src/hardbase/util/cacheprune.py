"""Evicting what the cache has not used lately: `hardbase cache prune`.

Only the stores whose every file is made again when it is next needed are
pruned: downloaded `.deb`s (`debs`, checked against the lock's sha256 when
fetched again), built layers (`layers`: a missing blob or key is rebuilt), the
layer inventory records (`layer-inventory`: the layer is read again), parsed
copyright files (`copyright-licenses`) and cached SBOMs (`sboms`). The default
vulnerability database, archive indexes, build roots and everything else
under the cache root are never touched.

A file's last use is the later of its access and modification times; files
used in the last `RECENT` seconds are kept whatever the bound. (A build that
found a file an instant before a prune removed it can still fail; run again.)
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from hardbase.errors import UsageError

STORES = ("debs", "layers", "layer-inventory", "copyright-licenses", "sboms")
RECENT = 600
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, dry, would remove) and what it kept."""

    removed: int
    freed: int  # bytes
    kept: int
    kept_bytes: int


def parse_size(text: str) -> int:
    """Bytes in `text` ("500M", "2G", "1.5GiB", "4096"; units are powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise UsageError(
            f"--max-size {text!r} is not a size; give a number of bytes with an optional "
            "K, M, G or T (powers of 1024), for example 2G"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


@dataclass(frozen=True)
class _File:
    path: Path
    size: int
    used: float


def _files(root: Path) -> list[_File]:
    found = []
    for store in STORES:
        top = root / store
        if not top.is_dir() or top.is_symlink():
            continue
        for where, _dirs, names in os.walk(top):
            for name in names:
                path = Path(where, name)
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue  # replaced or removed by a writer meanwhile
                if stat.S_ISREG(st.st_mode):
                    found.append(_File(path, st.st_size, max(st.st_atime, st.st_mtime)))
    return found


def prune(
    root: Path,
    *,
    max_bytes: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Remove the least recently used files of the stores under `root` until they hold at
    most `max_bytes`, and every file unused for more than `older_than` seconds."""
    if max_bytes is None and older_than is None:
        raise UsageError("give --max-size, --older-than or both; nothing was removed")
    if (max_bytes is not None and max_bytes < 0) or (
        older_than is not None and not older_than >= 0  # NaN too
    ):
        raise UsageError("--max-size and --older-than must be numbers, not negative")
    clock = time.time() if now is None else now
    files = sorted(_files(root), key=lambda f: f.used)
    total = sum(f.size for f in files)
    removed = freed = 0
    for f in files:
        age = clock - f.used
        if age < RECENT:
            continue
        stale = older_than is not None and age > older_than
        over = max_bytes is not None and total - freed > max_bytes
        if not (stale or over):
            continue
        if not dry_run:
            f.path.unlink(missing_ok=True)
        removed += 1
        freed += f.size
    if not dry_run:
        _remove_empty_directories(root)
    return PruneResult(removed, freed, len(files) - removed, total - freed)


def _remove_empty_directories(root: Path) -> None:
    for store in STORES:
        top = root / store
        if not top.is_dir() or top.is_symlink():
            continue
        for where, _dirs, _names in os.walk(top, topdown=False):
            if Path(where) != top:
                try:
                    os.rmdir(where)
                except OSError:
                    pass  # not empty, or a writer put a file there meanwhile
