"""Downloads locked .deb files into a content-addressed cache.

A file is stored under its sha256, so a package shared by many images is
downloaded once, and a corrupt or substituted download never enters the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hardbase.build.lock import LockedPackage
from hardbase.errors import FetchError
from hardbase.util import names
from hardbase.util.paths import cache_dir
from hardbase.util.progress import NullProgress, Progress

log = logging.getLogger(__name__)

MAX_DEB = 512 << 20
WORKERS = 8


def deb_cache() -> Path:
    return cache_dir() / "debs"


def cached_path(pkg: LockedPackage) -> Path:
    sha = names.sha256_hex(pkg.sha256, f"sha256 of {pkg.name}")
    return deb_cache() / sha[:2] / f"{sha}.deb"


def fetch_packages(
    packages: Sequence[LockedPackage],
    *,
    snapshot: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Ensure every package is in the cache; return sha256 -> path."""
    progress = progress or NullProgress()
    unique = {p.sha256: p for p in packages}
    paths = {sha: cached_path(p) for sha, p in unique.items()}
    missing = [p for sha, p in unique.items() if not paths[sha].is_file()]
    if not missing:
        return paths
    progress.start(f"downloading {len(missing)} packages", sum(p.size for p in missing))
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(_fetch_one, p, snapshot, progress) for p in missing]
            for future in futures:
                future.result()
    finally:
        progress.finish()
    return paths


def _fetch_one(pkg: LockedPackage, snapshot: str | None, progress: Progress) -> None:
    from hardbase.util.http import NotFound, download  # urllib is slow to import

    dest = cached_path(pkg)
    try:
        download(
            pkg.url,
            dest,
            max_size=MAX_DEB,
            sha256=pkg.sha256,
            size=pkg.size,
            on_bytes=progress.advance,
        )
        return
    except NotFound:
        if not snapshot:
            raise FetchError(
                f"{pkg.name} {pkg.version} ({pkg.arch}) is no longer on the mirror ({pkg.url}); "
                "relock with `hardbase build --relock`, or set `snapshot:` in the spec"
            ) from None
    url = _snapshot_url(snapshot, pkg.url)
    log.info("%s %s left the mirror; trying %s", pkg.name, pkg.version, url)
    try:
        download(url, dest, max_size=MAX_DEB, sha256=pkg.sha256, size=pkg.size)
    except NotFound:
        raise FetchError(
            f"{pkg.name} {pkg.version} ({pkg.arch}) is neither on the mirror nor at the "
            f"snapshot {url}; relock with `hardbase build --relock`"
        ) from None


def _snapshot_url(snapshot: str, url: str) -> str:
    # Debian's pool path is the same on every mirror and on snapshot archives.
    _, sep, pool = url.partition("/pool/")
    if not sep:
        raise FetchError(f"{url} is not a Debian pool URL, so no snapshot can stand in for it")
    return f"{snapshot.rstrip('/')}/pool/{pool}"
