"""A client for registries that speak the OCI distribution spec (and Docker's v2 API).

Manifests and blobs are read and written by digest, blobs streamed and
verified; uploads check for the blob first (HEAD), mount it from another
repository when asked, and use one monolithic PUT or, for large blobs, chunked
PATCHes. Bearer-token and basic authentication are answered from the
credentials in `hardbase.oci.auth`. Connection errors and 5xx answers are
retried a bounded number of times with exponential backoff. TLS is verified;
`insecure=True` means plain HTTP, meant for registries on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Protocol, cast

from hardbase import __version__
from hardbase.errors import ImageError, IntegrityError
from hardbase.oci import mediatypes as mt
from hardbase.oci.auth import Credentials, load_credentials, parse_challenge
from hardbase.oci.layout import Descriptor, check_digest, sha256_digest
from hardbase.oci.reference import ImageRef
from hardbase.oci.transports.interface import ImageSource, VerifyingReader

log = logging.getLogger(__name__)

USER_AGENT = f"hardbase/{__version__}"
MANIFEST_ACCEPT = ", ".join((mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_LIST, mt.DOCKER_MANIFEST))
MAX_MANIFEST = 8 << 20
MAX_ERROR_BODY = 64 << 10
DEFAULT_CHUNK = 16 << 20
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


Body = bytes | _Readable | None


class RegistryError(ImageError):
    """A registry could not be reached, refused a request, or answered something invalid."""


class RegistryAuthError(RegistryError):
    """The registry refused our credentials (or wants some and we have none)."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or kept failing (connection errors, HTTP 5xx)."""


class NotFoundError(RegistryError):
    """The registry does not have the manifest, blob or repository asked for."""


@dataclass(frozen=True)
class Response:
    """A fully read answer (bodies of non-streamed requests are small)."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self, what: str) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise RegistryError(f"{what} is not valid JSON; is this an OCI registry?") from None


class _Stream:
    """A streamed response body that closes its own connection."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._resp = resp

    def read(self, n: int = -1) -> bytes:
        try:
            return self._resp.read(None if n < 0 else n)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryUnavailable(
                f"the connection broke while downloading ({type(exc).__name__}); try again"
            ) from None

    def close(self) -> None:
        self._resp.close()
        self._conn.close()


def api_host(registry: str) -> str:
    """The host serving the v2 API for a registry name (Docker Hub's differs)."""
    return "registry-1.docker.io" if registry in ("docker.io", "index.docker.io") else registry


def _error_detail(body: bytes) -> str:
    """The first error message of a registry's JSON error body, if any."""
    try:
        errors = json.loads(body).get("errors")
        first = errors[0]
        code, message = first.get("code", ""), first.get("message", "")
        return f"{code}: {message}".strip(": ")[:200]
    except (ValueError, AttributeError, TypeError, IndexError, KeyError):
        return ""


class RegistryClient:
    """One repository on one registry."""

    def __init__(
        self,
        registry: str,
        repository: str,
        *,
        insecure: bool = False,
        credentials: Credentials | None = None,
        retries: int = 5,
        backoff: float = 0.25,
        timeout: float = 60.0,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        self.registry = registry
        self.repository = repository
        if registry in ("docker.io", "index.docker.io") and "/" not in repository:
            self.repository = f"library/{repository}"
        self.insecure = insecure
        self.host = api_host(registry)
        self.scheme = "http" if insecure else "https"
        self.retries = max(1, retries)
        self.backoff = backoff
        self.timeout = timeout
        self.chunk_size = max(1, chunk_size)
        self._credentials = credentials if credentials is not None else load_credentials(registry)
        self._authorization: str | None = None
        self._tokens: dict[str, str] = {}
        # One kept-alive connection per thread, so blobs can be pushed in parallel.
        self._local = threading.local()
        self._open_conns: list[http.client.HTTPConnection] = []
        self._conns_lock = threading.Lock()
        self._pinged = False

    def __repr__(self) -> str:
        return f"RegistryClient({self.registry!r}, {self.repository!r})"

    @property
    def where(self) -> str:
        return f"{self.registry}/{self.repository}"

    # ------------------------------------------------------------------ HTTP

    @property
    def _conn(self) -> http.client.HTTPConnection | None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        return conn

    @_conn.setter
    def _conn(self, conn: http.client.HTTPConnection | None) -> None:
        self._local.conn = conn
        if conn is not None:
            with self._conns_lock:
                if conn not in self._open_conns:
                    self._open_conns.append(conn)

    def close(self) -> None:
        with self._conns_lock:
            conns, self._open_conns = self._open_conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def _connect(self, host: str, scheme: str) -> http.client.HTTPConnection:
        if scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(
                host, timeout=self.timeout, context=context, blocksize=1 << 20
            )
        return http.client.HTTPConnection(host, timeout=self.timeout, blocksize=1 << 20)

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def _send_once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        *,
        stream: bool,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"{self.registry} sent an unusable URL; is it an OCI registry?")
        own_host = parts.netloc == self.host
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        send_headers = {"User-Agent": USER_AGENT, **headers}
        if own_host and self._authorization and "Authorization" not in headers:
            send_headers["Authorization"] = self._authorization
        if body is None and method in ("PUT", "POST", "PATCH"):
            send_headers.setdefault("Content-Length", "0")
        reuse = own_host and not stream and parts.scheme == self.scheme
        if reuse and self._conn is not None:
            conn = self._conn
        else:
            conn = self._connect(parts.netloc, parts.scheme)
        try:
            conn.request(method, target, body=body, headers=send_headers)
            resp = conn.getresponse()
        except ssl.SSLError as exc:
            conn.close()
            self._conn = None
            raise RegistryError(
                f"TLS with {parts.netloc} failed ({exc.reason or exc.__class__.__name__}); "
                "check its certificate, or use --insecure for a plain-HTTP local registry"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if conn is self._conn:
                self._conn = None
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            raise RegistryUnavailable(
                f"cannot reach registry {parts.netloc} ({reason}); "
                "check the address and that the registry is running"
            ) from None
        if reuse:
            self._conn = conn
        log.debug("%s %s -> %d", method, target.split("?")[0], resp.status)
        return conn, resp

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        body: Body = None,
        ok: Iterable[int] = (200,),
        stream: bool = False,
        retry: bool = True,
        max_body: int = MAX_MANIFEST,
        scope_actions: str = "pull",
    ) -> Response | _Stream:
        """Send a request, answering auth challenges, following redirects, retrying failures."""
        url = path_or_url if "://" in path_or_url else self._url(path_or_url)
        accepted = set(ok)
        attempts = self.retries if retry else 1
        authenticated = False
        redirects = 0
        attempt = 0
        while True:
            try:
                conn, resp = self._send_once(method, url, headers or {}, body, stream=stream)
                status = resp.status
                if status == 401 and not authenticated:
                    challenge = resp.getheader("WWW-Authenticate") or ""
                    self._discard(conn, resp)
                    self._authenticate(challenge, scope_actions)
                    authenticated = True
                    continue
                if status in _REDIRECTS and method in ("GET", "HEAD") and redirects < 5:
                    location = resp.getheader("Location")
                    self._discard(conn, resp)
                    if location:
                        url = urllib.parse.urljoin(url, location)
                        redirects += 1
                        continue
                if status in _RETRY_STATUS:
                    detail = _error_detail(resp.read(MAX_ERROR_BODY))
                    self._discard(conn, resp)
                    raise RegistryUnavailable(
                        f"registry {self.registry} answered HTTP {status} to {method} "
                        f"{urllib.parse.urlsplit(url).path}"
                        + (f" ({detail})" if detail else "")
                        + "; it may be overloaded or broken, try again later"
                    )
            except RegistryUnavailable:
                attempt += 1
                if attempt >= attempts:
                    raise
                delay = self.backoff * 2 ** (attempt - 1)
                log.debug("retrying %s in %.2fs (try %d of %d)", method, delay, attempt, attempts)
                time.sleep(delay)
                continue
            if status not in accepted:
                raw = resp.read(MAX_ERROR_BODY)  # also completes HEAD answers
                self._discard(conn, resp)
                self._raise_for(status, method, url, raw, resp.getheader("Content-Type"))
            if stream:
                return _Stream(conn, resp)
            try:
                data = resp.read(max_body + 1)  # b"" for HEAD, and marks the answer done
            except (OSError, http.client.HTTPException):
                self.close()
                raise RegistryUnavailable(
                    f"the connection to {self.registry} broke while reading an answer; try again"
                ) from None
            if len(data) > max_body:
                self.close()
                raise RegistryError(
                    f"{self.registry} sent more than {max_body} bytes for "
                    f"{urllib.parse.urlsplit(url).path}; refusing it"
                )
            return Response(status, resp.headers, data)

    def _discard(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        """Finish with an answer we will not use, keeping the shared connection usable."""
        try:
            resp.read(MAX_ERROR_BODY)
        except (OSError, http.client.HTTPException):
            pass
        if conn is not self._conn:
            resp.close()
            conn.close()
        elif not resp.isclosed():
            self.close()  # unread bytes would confuse the next request

    def _raise_for(
        self, status: int, method: str, url: str, body: bytes, content_type: str | None
    ) -> None:
        path = urllib.parse.urlsplit(url).path
        detail = _error_detail(body)
        suffix = f" ({detail})" if detail else ""
        if status == 401:
            if self._credentials is None:
                raise RegistryAuthError(
                    f"registry {self.registry} wants credentials for {self.repository}; set "
                    "HARDBASE_REGISTRY_USERNAME and HARDBASE_REGISTRY_PASSWORD or log in "
                    "(docker config.json)"
                )
            raise RegistryAuthError(
                f"registry {self.registry} refused the credentials from "
                f"{self._credentials.source} for {self.repository} (HTTP 401); check the user "
                "name and password"
            )
        if status == 403:
            raise RegistryAuthError(
                f"registry {self.registry} denied {method} on {self.repository} (HTTP 403)"
                f"{suffix}; check that your account may push or pull it"
            )
        if status == 404:
            raise NotFoundError(f"{path} is not in registry {self.registry} (HTTP 404){suffix}")
        if not detail and content_type and "json" not in content_type:
            raise RegistryError(
                f"{self.registry} answered HTTP {status} with {content_type.split(';')[0]} to "
                f"{method} {path}; is it an OCI registry?"
            )
        raise RegistryError(
            f"registry {self.registry} answered HTTP {status} to {method} {path}{suffix}"
        )

    def _authenticate(self, challenge: str, actions: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self._credentials is None:
                raise RegistryAuthError(
                    f"registry {self.registry} wants credentials for {self.repository}; set "
                    "HARDBASE_REGISTRY_USERNAME and HARDBASE_REGISTRY_PASSWORD or log in "
                    "(docker config.json)"
                )
            self._authorization = self._credentials.basic()
            return
        if scheme == "bearer" and params.get("realm"):
            scope = params.get("scope") or f"repository:{self.repository}:{actions}"
            token = self._tokens.get(scope) or self._fetch_token(params, scope)
            self._tokens[scope] = token
            self._authorization = f"Bearer {token}"
            return
        raise RegistryError(
            f"registry {self.registry} asked for an authentication scheme hardbase does not "
            f"support ('{scheme or 'none'}'); is it an OCI registry?"
        )

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        realm = params["realm"]
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"registry {self.registry} named an unusable token realm")
        if parts.scheme == "http" and not self.insecure:
            raise RegistryError(
                f"registry {self.registry} wants tokens from a plain-HTTP realm; refusing to "
                "send credentials without TLS (use --insecure only for local registries)"
            )
        query = [("scope", s) for s in scope.split(" ") if s]
        if params.get("service"):
            query.append(("service", params["service"]))
        url = realm + ("&" if parts.query else "?") + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self._credentials is not None:
            headers["Authorization"] = self._credentials.basic()
        attempt = 0
        while True:
            try:
                conn, resp = self._send_once("GET", url, headers, None, stream=True)
                break
            except RegistryUnavailable:
                attempt += 1
                if attempt >= self.retries:
                    raise
                time.sleep(self.backoff * 2 ** (attempt - 1))
        try:
            status = resp.status
            body = resp.read(MAX_ERROR_BODY)
        finally:
            resp.close()
            conn.close()
        if status in (401, 403):
            raise RegistryAuthError(
                f"the token service of {self.registry} refused "
                + (
                    f"the credentials from {self._credentials.source}"
                    if self._credentials
                    else "anonymous access"
                )
                + f" for {self.repository} (HTTP {status}); check the user name and password"
            )
        if status != 200:
            raise RegistryError(
                f"the token service of {self.registry} answered HTTP {status}; try again later"
            )
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"the token service of {self.registry} sent no token")
        return token

    # ----------------------------------------------------------------- API

    def _path(self, kind: str, reference: str) -> str:
        return f"/v2/{self.repository}/{kind}/{urllib.parse.quote(reference, safe=':')}"

    def ping(self) -> None:
        """Check that the host speaks the registry API (and that our credentials work)."""
        if self._pinged:
            return
        resp = self._request("GET", "/v2/", ok=(200,), max_body=MAX_ERROR_BODY)
        assert isinstance(resp, Response)
        ctype = resp.header("Content-Type") or ""
        if resp.header("Docker-Distribution-API-Version") is None and "json" not in ctype:
            raise RegistryError(
                f"{self.registry} answered /v2/ with {ctype.split(';')[0] or 'no content type'}; "
                "it does not look like an OCI registry, check the address"
            )
        self._pinged = True

    def head_manifest(self, reference: str) -> Descriptor | None:
        """The descriptor of a manifest (by tag or digest), or None when it is not there."""
        self.ping()
        try:
            resp = self._request(
                "HEAD", self._path("manifests", reference), headers={"Accept": MANIFEST_ACCEPT}
            )
        except NotFoundError:
            return None
        assert isinstance(resp, Response)
        digest = resp.header("Docker-Content-Digest")
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip()
        length = resp.header("Content-Length")
        if not digest or ctype not in mt.INDEX_TYPES | mt.MANIFEST_TYPES or not length:
            _, media_type, digest = self.get_manifest(reference)
            data, _, _ = self.get_manifest(digest)
            return Descriptor(media_type, digest, len(data))
        check_digest(digest)
        if reference.startswith("sha256:") and digest != reference:
            raise IntegrityError(
                f"registry {self.registry} answered {digest} for manifest {reference}"
            )
        return Descriptor(ctype, digest, int(length))

    def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        """The manifest bytes, media type and digest for a tag or digest."""
        self.ping()
        resp = self._request(
            "GET", self._path("manifests", reference), headers={"Accept": MANIFEST_ACCEPT}
        )
        assert isinstance(resp, Response)
        digest = sha256_digest(resp.body)
        if reference.startswith("sha256:") and digest != reference:
            raise IntegrityError(
                f"manifest {reference} from {self.where} does not match its digest"
            )
        announced = resp.header("Docker-Content-Digest")
        if announced and announced.startswith("sha256:") and announced != digest:
            raise IntegrityError(
                f"manifest {reference} from {self.where} does not match the digest the "
                "registry announced"
            )
        media_type = (resp.header("Content-Type") or "").split(";")[0].strip()
        if media_type not in mt.INDEX_TYPES | mt.MANIFEST_TYPES:
            doc = resp.json(f"manifest {reference} from {self.where}")
            media_type = doc.get("mediaType", "") if isinstance(doc, dict) else ""
            if media_type not in mt.INDEX_TYPES | mt.MANIFEST_TYPES:
                raise ImageError(
                    f"manifest {reference} from {self.where} has an unsupported media type"
                )
        return resp.body, media_type, digest

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        """Store a manifest under a tag or its digest; returns its digest."""
        self.ping()
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and reference != digest:
            raise IntegrityError(f"manifest bytes do not match the digest {reference}")
        resp = self._request(
            "PUT",
            self._path("manifests", reference),
            headers={"Content-Type": media_type},
            body=data,
            ok=(201, 200),
            scope_actions="pull,push",
            max_body=MAX_ERROR_BODY,
        )
        assert isinstance(resp, Response)
        announced = resp.header("Docker-Content-Digest")
        if announced and announced != digest:
            raise IntegrityError(
                f"registry {self.registry} stored the manifest for {reference} as {announced}, "
                f"not {digest}"
            )
        log.debug("pushed manifest %s as %s", digest, reference)
        return digest

    def delete_manifest(self, digest: str) -> None:
        """Delete a manifest by digest (and with it every tag naming it)."""
        check_digest(digest)
        self.ping()
        self._request(
            "DELETE",
            self._path("manifests", digest),
            ok=(202, 200),
            scope_actions="delete",
            max_body=MAX_ERROR_BODY,
        )

    def list_tags(self) -> list[str]:
        """Every tag in the repository (following pagination)."""
        self.ping()
        tags: list[str] = []
        path: str | None = f"/v2/{self.repository}/tags/list?n=1000"
        while path:
            try:
                resp = self._request("GET", path)
            except NotFoundError:
                return tags
            assert isinstance(resp, Response)
            doc = resp.json(f"the tag list of {self.where}")
            found = doc.get("tags") if isinstance(doc, dict) else None
            tags.extend(t for t in (found or []) if isinstance(t, str))
            path = _next_link(resp.header("Link"))
        return tags

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the repository holds the blob (with the expected size)."""
        self.ping()
        try:
            resp = self._request("HEAD", self._path("blobs", descriptor.digest))
        except NotFoundError:
            return False
        assert isinstance(resp, Response)
        length = resp.header("Content-Length")
        return length is None or int(length) == descriptor.size

    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        """A raw stream of a blob; wrap it in a VerifyingReader (read_blob does)."""
        self.ping()
        stream = self._request("GET", self._path("blobs", descriptor.digest), stream=True)
        assert isinstance(stream, _Stream)
        return cast(IO[bytes], stream)

    def read_blob(self, descriptor: Descriptor, max_size: int = MAX_MANIFEST) -> bytes:
        if descriptor.size > max_size:
            raise ImageError(f"blob {descriptor.digest} in {self.where} is too large to read")
        with VerifyingReader(self.open_blob(descriptor), descriptor, self.where) as reader:
            return reader.read()

    def push_blob(
        self,
        descriptor: Descriptor,
        opener: Callable[[], IO[bytes]],
        *,
        mount_from: str | None = None,
    ) -> str:
        """Make sure the repository holds a blob: 'skipped', 'mounted' or 'uploaded'.

        `opener` returns a fresh stream of the blob each time it is called, so a
        failed upload can start again.
        """
        if self.has_blob(descriptor):
            return "skipped"
        attempt = 0
        while True:
            try:
                return self._upload(descriptor, opener, mount_from)
            except RegistryUnavailable:
                attempt += 1
                if attempt >= self.retries:
                    raise
                time.sleep(self.backoff * 2 ** (attempt - 1))
                if self.has_blob(descriptor):
                    return "uploaded"

    def _upload(
        self, descriptor: Descriptor, opener: Callable[[], IO[bytes]], mount_from: str | None
    ) -> str:
        path = f"/v2/{self.repository}/blobs/uploads/"
        scope = "pull,push"
        if mount_from and mount_from != self.repository:
            query = urllib.parse.urlencode({"mount": descriptor.digest, "from": mount_from})
            resp = self._request(
                "POST",
                f"{path}?{query}",
                ok=(201, 202),
                retry=False,
                scope_actions=scope,
                max_body=MAX_ERROR_BODY,
            )
            assert isinstance(resp, Response)
            if resp.status == 201:
                log.debug("mounted %s from %s", descriptor.digest, mount_from)
                return "mounted"
        else:
            resp = self._request(
                "POST", path, ok=(202,), retry=False, scope_actions=scope, max_body=MAX_ERROR_BODY
            )
            assert isinstance(resp, Response)
        location = self._location(resp)
        reader = VerifyingReader(opener(), descriptor, f"the source of {descriptor.digest}")
        try:
            if descriptor.size <= self.chunk_size:
                final = self._request(
                    "PUT",
                    _with_query(location, digest=descriptor.digest),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(descriptor.size),
                    },
                    body=reader,
                    ok=(201, 204),
                    retry=False,
                    scope_actions=scope,
                    max_body=MAX_ERROR_BODY,
                )
            else:
                location = self._upload_chunks(location, reader, descriptor)
                final = self._request(
                    "PUT",
                    _with_query(location, digest=descriptor.digest),
                    ok=(201, 204),
                    retry=False,
                    scope_actions=scope,
                    max_body=MAX_ERROR_BODY,
                )
        except IntegrityError:
            self.close()  # the request was cut off mid-body
            raise
        finally:
            reader.close()
        assert isinstance(final, Response)
        announced = final.header("Docker-Content-Digest")
        if announced and announced != descriptor.digest:
            raise IntegrityError(
                f"registry {self.registry} stored blob {descriptor.digest} as {announced}"
            )
        return "uploaded"

    def _upload_chunks(self, location: str, reader: VerifyingReader, desc: Descriptor) -> str:
        offset = 0
        while offset < desc.size:
            chunk = _read_full(reader, min(self.chunk_size, desc.size - offset))
            if not chunk:
                break
            resp = self._request(
                "PATCH",
                location,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    "Content-Length": str(len(chunk)),
                },
                body=chunk,
                ok=(202,),
                retry=False,
                scope_actions="pull,push",
                max_body=MAX_ERROR_BODY,
            )
            assert isinstance(resp, Response)
            location = self._location(resp)
            offset += len(chunk)
            log.debug("uploaded %d of %d bytes of %s", offset, desc.size, desc.digest)
        reader.read(1)  # reach EOF so the digest and size are checked before committing
        return location

    def _location(self, resp: Response) -> str:
        location = resp.header("Location")
        if not location:
            raise RegistryError(
                f"registry {self.registry} started an upload without a Location; "
                "is it an OCI registry?"
            )
        return urllib.parse.urljoin(self._url("/v2/"), location)

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose `subject` is `digest`: the referrers API, else the tag schema."""
        hexpart = check_digest(digest)
        self.ping()
        path = f"/v2/{self.repository}/referrers/{digest}"
        if artifact_type:
            path += "?" + urllib.parse.urlencode({"artifactType": artifact_type})
        index: Any = None
        try:
            resp = self._request("GET", path, headers={"Accept": mt.OCI_INDEX})
            assert isinstance(resp, Response)
            ctype = (resp.header("Content-Type") or "").split(";")[0]
            if ctype == mt.OCI_INDEX:
                index = resp.json(f"the referrers of {digest} in {self.where}")
        except NotFoundError:
            pass
        if index is None:  # the fallback tag `sha256-<hex>` holds an index of referrers
            try:
                data, media_type, _ = self.get_manifest(f"sha256-{hexpart}")
            except NotFoundError:
                return []
            if media_type not in mt.INDEX_TYPES:
                return []
            index = json.loads(data)
        entries = index.get("manifests", []) if isinstance(index, dict) else []
        found = [Descriptor.from_json(entry) for entry in entries]
        if artifact_type:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found


def _next_link(header: str | None) -> str | None:
    if not header or 'rel="next"' not in header:
        return None
    start, end = header.find("<"), header.find(">")
    return header[start + 1 : end] if 0 <= start < end else None


def _with_query(url: str, **params: str) -> str:
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + sep + urllib.parse.urlencode(params)


def _read_full(reader: VerifyingReader, n: int) -> bytes:
    buf = io.BytesIO()
    while buf.tell() < n:
        data = reader.read(n - buf.tell())
        if not data:
            break
        buf.write(data)
    return buf.getvalue()


def client_for(ref: ImageRef, *, insecure: bool = False, **options: Any) -> RegistryClient:
    """A client for the repository of a `docker://` reference."""
    if ref.transport != "docker" or not ref.registry or not ref.repository:
        raise ImageError(f"{ref} is not a registry reference (docker://HOST/REPO)")
    return RegistryClient(ref.registry, ref.repository, insecure=insecure, **options)


class RegistrySource(ImageSource):
    """Read access to a `docker://HOST/REPO[:TAG|@DIGEST]` reference."""

    def __init__(self, ref: ImageRef, *, insecure: bool = False, **options: Any) -> None:
        super().__init__(ref)
        self.client = client_for(ref, insecure=insecure, **options)
        self._manifests: dict[str, bytes] = {}
        self._top: Descriptor | None = None

    @property
    def reference(self) -> str:
        return self.ref.digest or self.ref.tag or "latest"

    def top(self) -> Descriptor:
        if self._top is None:
            try:
                data, media_type, digest = self.client.get_manifest(self.reference)
            except NotFoundError:
                raise NotFoundError(
                    f"{self.ref} does not exist; check the repository and tag"
                ) from None
            self._manifests[digest] = data
            self._top = Descriptor(media_type, digest, len(data))
        return self._top

    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        if descriptor.media_type in mt.INDEX_TYPES | mt.MANIFEST_TYPES:
            data = self._manifests.get(descriptor.digest)
            if data is None:
                data, _, _ = self.client.get_manifest(descriptor.digest)
            return io.BytesIO(data)
        return self.client.open_blob(descriptor)

    def close(self) -> None:
        self.client.close()
