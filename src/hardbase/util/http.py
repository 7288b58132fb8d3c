"""The one HTTP client: urllib3 with `Retry`, and downloads with a size limit and a hash check.

Every HTTP request hardbase makes goes through `pool()` (one thread-safe
urllib3 `PoolManager`) with a `retry_policy()`: connection errors and the
answers 429, 500, 502, 503 and 504 are retried with exponential backoff by
urllib3. `fetch_bytes()` and `download()` add what every download needs: a
size limit, and a sha256 check where the hash is known; `download()` places
the file atomically. urllib3's exceptions become `FetchError`s here; the
registry client (`hardbase.oci.registry`) maps them to its own errors.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from hardbase import __version__
from hardbase.errors import FetchError, IntegrityError
from hardbase.util.fs import atomic_writer
from hardbase.util.retry import retrying

log = logging.getLogger(__name__)

USER_AGENT = f"hardbase/{__version__}"
CHUNK = 1 << 20
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()
_received = 0  # body bytes received by fetch_bytes() and download(), for reports
_received_lock = threading.Lock()


def received_bytes() -> int:
    """Body bytes this process has downloaded so far (fetch_bytes and download)."""
    return _received


def _count(amount: int) -> None:
    global _received
    with _received_lock:
        _received += amount


class NotFound(FetchError):
    """The server answered 404: the resource is not there."""


def new_pool(maxsize: int = 8) -> urllib3.PoolManager:
    """A connection pool: kept-alive connections, `maxsize` idle ones kept per host.

    TLS certificates are verified (urllib3's default); reads go in 1 MiB blocks.
    """
    return urllib3.PoolManager(
        num_pools=32, maxsize=maxsize, headers={"User-Agent": USER_AGENT}, blocksize=1 << 20
    )


def pool() -> urllib3.PoolManager:
    """The process's shared pool, for downloads and webhooks."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = new_pool()
        return _pool


def retry_policy(
    retries: int,
    backoff: float,
    *,
    methods: Collection[str] | None = None,
    redirects: int = 5,
    status: Collection[int] = RETRY_STATUS,
) -> Retry:
    """urllib3's retry settings: `retries` more tries after the first, waits doubling.

    `methods` None retries every method (the caller knows its request can be
    sent again); the last answer is returned, not raised, when retries run out.
    """
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=redirects,
        backoff_factor=backoff,
        backoff_max=30.0,
        status_forcelist=tuple(status),
        allowed_methods=None if methods is None else frozenset(methods),
        raise_on_status=False,
        raise_on_redirect=False,
        respect_retry_after_header=True,
    )


def reason(exc: BaseException) -> str:
    """A short cause for a urllib3 error, for one-sentence diagnostics."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    inner = getattr(exc, "__cause__", None) or getattr(exc, "__context__", None)
    text = str(getattr(inner, "strerror", None) or "") if inner is not None else ""
    return text or type(exc).__name__


def _get(url: str, timeout: float, retries: int) -> urllib3.BaseHTTPResponse:
    try:
        response = pool().request(
            "GET",
            url,
            preload_content=False,
            timeout=urllib3.Timeout(connect=min(timeout, 30.0), read=timeout),
            retries=retry_policy(retries, 0.5, methods=("GET",)),
        )
    except (Urllib3Error, ValueError) as exc:
        raise FetchError(
            f"cannot reach {url} ({reason(exc)}); check the URL and that the server is up"
        ) from None
    if response.status == 404:
        response.release_conn()
        raise NotFound(f"{url} is not on the server (HTTP 404)")
    if response.status != 200:
        response.drain_conn()
        response.release_conn()
        raise FetchError(f"fetching {url} failed with HTTP {response.status}")
    return response


def fetch_bytes(
    url: str,
    *,
    max_size: int,
    sha256: str | None = None,
    timeout: float = 60.0,
    retries: int = 2,
) -> bytes:
    """Download `url` into memory, refusing more than `max_size` bytes or a wrong sha256."""

    def once() -> bytes:
        response = _get(url, timeout, retries)
        try:
            data = response.read(max_size + 1)
        except Urllib3Error as exc:
            raise _Broken(f"reading {url} failed ({reason(exc)})") from None
        finally:
            response.release_conn()
        _count(len(data))
        if len(data) > max_size:
            raise IntegrityError(f"{url} is larger than the {max_size}-byte limit")
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"{url} does not match its expected sha256 {sha256}")
        return data

    return retrying(once, transient=_Broken, attempts=retries + 1)


class _Broken(FetchError):
    """The connection broke in the middle of a body (urllib3 retries only up to the headers)."""


def download(
    url: str,
    dest: Path,
    *,
    max_size: int,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    retries: int = 2,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Download `url` to `dest` atomically, checking size and sha256 when given."""
    limit = size if size is not None else max_size
    retrying(
        lambda: _download_once(url, dest, limit, sha256, size, timeout, retries, on_bytes),
        transient=_Broken,
        attempts=retries + 1,
    )


def _download_once(
    url: str,
    dest: Path,
    limit: int,
    sha256: str | None,
    size: int | None,
    timeout: float,
    retries: int,
    on_bytes: Callable[[int], None] | None,
) -> None:
    digest = hashlib.sha256()
    received = 0
    response = _get(url, timeout, retries)
    try:
        with atomic_writer(dest) as out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except Urllib3Error as exc:
                    raise _Broken(
                        f"connection lost while downloading {url} ({reason(exc)})"
                    ) from None
                if not chunk:
                    break
                received += len(chunk)
                _count(len(chunk))
                if received > limit:
                    raise IntegrityError(
                        f"{url} sent more than the expected {limit} bytes; refusing it"
                    )
                digest.update(chunk)
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
            if size is not None and received != size:
                raise IntegrityError(f"{url} has {received} bytes, expected {size}")
            if sha256 is not None and digest.hexdigest() != sha256:
                raise IntegrityError(
                    f"{url} does not match its expected sha256 {sha256} (got {digest.hexdigest()})"
                )
    finally:
        response.release_conn()


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    retries: int,
    backoff: float,
) -> int:
    """POST `body`, retrying connection errors, 408, 429 and 5xx; returns the final status."""
    try:
        response = pool().request(
            "POST",
            url,
            body=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=urllib3.Timeout(total=timeout),
            retries=retry_policy(retries, backoff, status=RETRY_STATUS | {408}, redirects=0),
        )
    except (Urllib3Error, ValueError) as exc:
        raise FetchError(f"cannot reach {url} ({reason(exc)})") from None
    return response.status
