"""The app packages' download cache: wheels and npm tarballs stored by sha256.

Every file is checked against its pinned sha256 (and npm's integrity string
when there is one) before it enters the cache, so a cached file is trusted.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path
from urllib.parse import urlsplit

from hardbase.build.app.interface import AppError, AppPackage
from hardbase.errors import FetchError, IntegrityError
from hardbase.util import names
from hardbase.util.fs import write_atomic
from hardbase.util.http import download, fetch_bytes
from hardbase.util.paths import cache_dir

log = logging.getLogger(__name__)

MAX_PACKAGE = 256 << 20
_SRI = {
    "sha512": hashlib.sha512,
    "sha384": hashlib.sha384,
    "sha256": hashlib.sha256,
    "sha1": hashlib.sha1,
}


def cached(sha256: str) -> Path:
    sha = names.sha256_hex(sha256, "app package sha256")
    return cache_dir() / "app-packages" / sha[:2] / sha


def check_url(url: str, what: str) -> None:
    if urlsplit(url).scheme not in ("https", "http"):
        raise AppError(f"{what} comes from {url!r}, not an http(s) URL; hardbase pins only those")


def fetch(pkg: AppPackage) -> Path:
    """The package's file, downloaded once and checked against its pinned sha256."""
    path = cached(pkg.sha256)
    if path.is_file():
        return path
    check_url(pkg.url, f"{pkg.name} {pkg.version}")
    try:
        download(pkg.url, path, max_size=MAX_PACKAGE, sha256=pkg.sha256)
    except IntegrityError as exc:
        raise AppError(
            f"{pkg.name} {pkg.version} from {pkg.url} does not match the sha256 in the lock; "
            "relock with `hardbase build --relock` if the release was really replaced"
        ) from exc
    except FetchError as exc:
        raise AppError(f"cannot download {pkg.name} {pkg.version} from {pkg.url}") from exc
    return path


def fetch_unpinned(url: str, integrity: str, what: str) -> tuple[str, int]:
    """Download `url`, check npm's SRI `integrity`, store it; return (sha256, size)."""
    check_url(url, what)
    try:
        data = fetch_bytes(url, max_size=MAX_PACKAGE)
    except FetchError as exc:
        raise AppError(f"cannot download {what} from {url}") from exc
    if not integrity_matches(data, integrity):
        raise AppError(
            f"{what} from {url} does not match its integrity {integrity[:30]}… in the lockfile; "
            "regenerate package-lock.json or check the registry"
        )
    sha = hashlib.sha256(data).hexdigest()
    path = cached(sha)
    if not path.is_file():
        write_atomic(path, data)
    return sha, len(data)


def integrity_matches(data: bytes, integrity: str) -> bool:
    """True when one of the SRI hashes (of an algorithm we know) matches."""
    for token in integrity.split():
        algo, _, value = token.partition("-")
        factory = _SRI.get(algo)
        if factory is None:
            continue
        if base64.b64encode(factory(data).digest()).decode() == value.split("?")[0]:
            return True
    return False
