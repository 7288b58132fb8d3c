"""HTTP downloads with a size limit, an optional sha256 check and atomic placement.

Uses the standard library only, so commands that download start fast.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

from hardbase import __version__
from hardbase.errors import FetchError, IntegrityError
from hardbase.util.fs import atomic_writer

log = logging.getLogger(__name__)

USER_AGENT = f"hardbase/{__version__}"
CHUNK = 1 << 20


class NotFound(FetchError):
    """The server answered 404: the resource is not there."""


def _open(url: str, timeout: float) -> object:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - URLs come from specs
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(f"{url} is not on the server (HTTP 404)") from None
        raise FetchError(f"fetching {url} failed with HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            f"cannot reach {url} ({reason}); check the URL and that the server is up"
        ) from None


def fetch_bytes(url: str, *, max_size: int, timeout: float = 60.0, retries: int = 2) -> bytes:
    """Download `url` into memory, refusing more than `max_size` bytes."""
    attempt = 0
    while True:
        try:
            response = _open(url, timeout)
            with response:  # type: ignore[attr-defined]
                data: bytes = response.read(max_size + 1)  # type: ignore[attr-defined]
            if len(data) > max_size:
                raise IntegrityError(f"{url} is larger than the {max_size}-byte limit")
            return data
        except NotFound:
            raise
        except (FetchError, OSError) as exc:
            attempt += 1
            if attempt > retries or isinstance(exc, IntegrityError):
                if isinstance(exc, FetchError):
                    raise
                raise FetchError(f"reading {url} failed ({exc})") from None
            time.sleep(0.5 * 2**attempt)


def download(
    url: str,
    dest: Path,
    *,
    max_size: int,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    retries: int = 2,
    on_bytes: object = None,
) -> None:
    """Download `url` to `dest` atomically, checking size and sha256 when given."""
    limit = size if size is not None else max_size
    attempt = 0
    while True:
        try:
            _download_once(url, dest, limit, sha256, size, timeout, on_bytes)
            return
        except (NotFound, IntegrityError):
            raise
        except (FetchError, OSError) as exc:
            attempt += 1
            if attempt > retries:
                if isinstance(exc, FetchError):
                    raise
                raise FetchError(f"downloading {url} failed ({exc})") from None
            log.debug("retrying %s after %s", url, exc)
            time.sleep(0.5 * 2**attempt)


def _download_once(
    url: str,
    dest: Path,
    limit: int,
    sha256: str | None,
    size: int | None,
    timeout: float,
    on_bytes: object,
) -> None:
    digest = hashlib.sha256()
    received = 0
    response = _open(url, timeout)
    with response, atomic_writer(dest) as out:  # type: ignore[attr-defined]
        while True:
            try:
                chunk = response.read(CHUNK)  # type: ignore[attr-defined]
            except OSError as exc:
                raise FetchError(f"connection lost while downloading {url} ({exc})") from None
            if not chunk:
                break
            received += len(chunk)
            if received > limit:
                raise IntegrityError(
                    f"{url} sent more than the expected {limit} bytes; refusing it"
                )
            digest.update(chunk)
            out.write(chunk)
            if callable(on_bytes):
                on_bytes(len(chunk))
        if size is not None and received != size:
            raise IntegrityError(f"{url} has {received} bytes, expected {size}")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise IntegrityError(
                f"{url} does not match its expected sha256 {sha256} (got {digest.hexdigest()})"
            )
