"""A client for registries that speak the OCI distribution spec (and Docker's v2 API).

Manifests and blobs are read and written by digest, blobs streamed and
verified; uploads check for the blob first (HEAD), mount it from another
repository when asked, and use one monolithic PUT or, for large blobs, chunked
PATCHes. Bearer-token and basic authentication are answered from the
credentials in `hardbase.oci.auth`. The HTTP underneath is the shared
urllib3 client (`hardbase.util.http`): it keeps connections alive, follows
redirects and retries connection errors and 5xx answers with exponential
backoff; this module keeps only the registry protocol, and turns urllib3's
errors into `RegistryError`s. TLS is verified; `insecure=True` means plain
HTTP, meant for registries on 127.0.0.1.
"""

from __future__ import annotations

import io
import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Protocol, cast

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, SSLError

from hardbase.errors import ImageError, IntegrityError
from hardbase.oci import mediatypes as mt
from hardbase.oci.auth import Credentials, load_credentials, parse_challenge
from hardbase.oci.layout import Descriptor
from hardbase.oci.reference import ImageRef
from hardbase.oci.transports.interface import ImageSource, VerifyingReader
from hardbase.util import http, jsondoc
from hardbase.util.digest import Digest, DigestError
from hardbase.util.retry import retrying

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join((mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_LIST, mt.DOCKER_MANIFEST))
MAX_MANIFEST = 8 << 20
MAX_ERROR_BODY = 64 << 10
DEFAULT_CHUNK = 16 << 20
POOL_SIZE = 8  # connections kept per host: more than copy.BLOB_WORKERS uploads at once


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
    headers: urllib3.HTTPHeaderDict
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self, what: str) -> Any:
        try:
            return jsondoc.loads(self.body)
        except ValueError:
            raise RegistryError(f"{what} is not valid JSON; is this an OCI registry?") from None


class _Stream:
    """A streamed response body; closing it drops a connection that was not read to the end."""

    def __init__(self, resp: urllib3.BaseHTTPResponse) -> None:
        self._resp = resp

    def read(self, n: int = -1) -> bytes:
        try:
            return self._resp.read(None if n < 0 else n)
        except Urllib3Error as exc:
            raise RegistryUnavailable(
                f"the connection broke while downloading ({http.reason(exc)}); try again"
            ) from None

    def close(self) -> None:
        _release(self._resp)


def _release(resp: urllib3.BaseHTTPResponse) -> None:
    """Give the connection back to the pool, or close it when part of the body is unread."""
    try:
        done = resp.read(1) == b""
    except Urllib3Error:
        done = False
    if not done:
        resp.close()
    resp.release_conn()


def api_host(registry: str) -> str:
    """The host serving the v2 API for a registry name (Docker Hub's differs)."""
    return "registry-1.docker.io" if registry in ("docker.io", "index.docker.io") else registry


def _error_detail(body: bytes) -> str:
    """The first error message of a registry's JSON error body, if any."""
    try:
        errors = jsondoc.loads(body).get("errors")
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
        # Its own pool, so that close() ends this client's connections; blobs go up in parallel.
        self._pool = http.new_pool(POOL_SIZE)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._pinged = False
        self._ping_lock = threading.Lock()  # parallel uploads ping once, not once each

    def __repr__(self) -> str:
        return f"RegistryClient({self.registry!r}, {self.repository!r})"

    @property
    def where(self) -> str:
        return f"{self.registry}/{self.repository}"

    def _announced(self, header: str, what: str) -> Digest:
        """The Docker-Content-Digest a registry sent for `what`, refused when malformed."""
        try:
            return Digest(header, f"(the Docker-Content-Digest {self.where} sent for {what})")
        except DigestError as exc:
            raise RegistryError(str(exc)) from None

    # ------------------------------------------------------------------ HTTP

    def close(self) -> None:
        self._pool.clear()

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def _send_once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        *,
        retries: int,
    ) -> urllib3.BaseHTTPResponse:
        """One request through urllib3, which retries `retries` times and follows GET redirects."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"{self.registry} sent an unusable URL; is it an OCI registry?")
        send_headers = {"User-Agent": http.USER_AGENT, **headers}
        if parts.netloc == self.host and self._authorization and "Authorization" not in headers:
            send_headers["Authorization"] = self._authorization
        if body is None and method in ("PUT", "POST", "PATCH"):
            send_headers.setdefault("Content-Length", "0")
        follow = method in ("GET", "HEAD")
        try:
            resp = self._pool.request(
                method,
                url,
                body=cast(Any, body),
                headers=send_headers,
                preload_content=False,
                redirect=follow,
                timeout=self._timeout,
                retries=http.retry_policy(retries, self.backoff, redirects=5 if follow else 0),
            )
        except (MaxRetryError, Urllib3Error) as exc:
            cause = exc.reason if isinstance(exc, MaxRetryError) else exc
            if isinstance(cause, SSLError):
                raise RegistryError(
                    f"TLS with {parts.netloc} failed ({http.reason(cause)}); check its "
                    "certificate, or use --insecure for a plain-HTTP local registry"
                ) from None
            raise RegistryUnavailable(
                f"cannot reach registry {parts.netloc} ({http.reason(exc)}); "
                "check the address and that the registry is running"
            ) from None
        log.debug("%s %s -> %d", method, parts.path, resp.status)
        return resp

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        body: Body = None,
        ok: Iterable[int] = (200,),
        retry: bool = True,
        max_body: int = MAX_MANIFEST,
        scope_actions: str = "pull",
    ) -> Response:
        """Send a request (see `_answer`) and read its answer, of at most `max_body` bytes."""
        url = path_or_url if "://" in path_or_url else self._url(path_or_url)
        resp = self._answer(
            method, url, headers=headers, body=body, ok=ok, retry=retry, scope_actions=scope_actions
        )
        try:
            data = resp.read(max_body + 1)  # b"" for HEAD
        except Urllib3Error:
            resp.close()
            resp.release_conn()
            raise RegistryUnavailable(
                f"the connection to {self.registry} broke while reading an answer; try again"
            ) from None
        if len(data) > max_body:
            resp.close()
            resp.release_conn()
            raise RegistryError(
                f"{self.registry} sent more than {max_body} bytes for "
                f"{urllib.parse.urlsplit(url).path}; refusing it"
            )
        _release(resp)
        return Response(resp.status, resp.headers, data)

    def _stream(self, method: str, path: str) -> _Stream:
        """Send a request (see `_answer`) and return its body unread, as a stream."""
        url = path if "://" in path else self._url(path)
        return _Stream(self._answer(method, url))

    def _answer(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: Body = None,
        ok: Iterable[int] = (200,),
        retry: bool = True,
        scope_actions: str = "pull",
    ) -> urllib3.BaseHTTPResponse:
        """Send a request, answering one auth challenge; urllib3 retries failures when `retry`.

        A status outside `ok` raises the registry error it stands for.
        """
        retries = self.retries - 1 if retry else 0
        resp = self._send_once(method, url, headers or {}, body, retries=retries)
        if resp.status == 401:
            challenge = resp.headers.get("WWW-Authenticate") or ""
            _release(resp)
            self._authenticate(challenge, scope_actions)
            resp = self._send_once(method, url, headers or {}, body, retries=retries)
        status = resp.status
        if status in http.RETRY_STATUS:
            detail = _error_detail(resp.read(MAX_ERROR_BODY))
            _release(resp)
            raise RegistryUnavailable(
                f"registry {self.registry} answered HTTP {status} to {method} "
                f"{urllib.parse.urlsplit(url).path}"
                + (f" ({detail})" if detail else "")
                + "; it may be overloaded or broken, try again later"
            )
        if status not in set(ok):
            raw = resp.read(MAX_ERROR_BODY)
            _release(resp)
            self._raise_for(status, method, url, raw, resp.headers.get("Content-Type"))
        return resp

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
        resp = self._send_once("GET", url, headers, None, retries=self.retries - 1)
        status = resp.status
        body = resp.read(MAX_ERROR_BODY)
        _release(resp)
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
            answer = jsondoc.loads(body)
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
        with self._ping_lock:
            if not self._pinged:
                self._ping()

    def _ping(self) -> None:
        resp = self._request("GET", "/v2/", ok=(200,), max_body=MAX_ERROR_BODY)
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
        announced = resp.header("Docker-Content-Digest")
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip()
        length = resp.header("Content-Length")
        if not announced or ctype not in mt.INDEX_TYPES | mt.MANIFEST_TYPES or not length:
            _, media_type, digest = self.get_manifest(reference)
            data, _, _ = self.get_manifest(digest)
            return Descriptor(media_type, digest, len(data))
        digest = self._announced(announced, f"manifest {reference}")
        if _by_digest(reference) not in (None, digest):
            raise IntegrityError(
                f"registry {self.registry} answered {digest} for manifest {reference}"
            )
        return Descriptor(ctype, digest, int(length))

    def get_manifest(self, reference: str) -> tuple[bytes, str, Digest]:
        """The manifest bytes, media type and digest for a tag or digest."""
        self.ping()
        resp = self._request(
            "GET", self._path("manifests", reference), headers={"Accept": MANIFEST_ACCEPT}
        )
        digest = Digest.of(resp.body)
        if _by_digest(reference) not in (None, digest):
            raise IntegrityError(
                f"manifest {reference} from {self.where} does not match its digest"
            )
        announced = resp.header("Docker-Content-Digest")
        if announced and self._announced(announced, f"manifest {reference}") != digest:
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

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> Digest:
        """Store a manifest under a tag or its digest; returns its digest."""
        self.ping()
        digest = Digest.of(data)
        if _by_digest(reference) not in (None, digest):
            raise IntegrityError(f"manifest bytes do not match the digest {reference}")
        for attempt in (1, 2):
            try:
                resp = self._request(
                    "PUT",
                    self._path("manifests", reference),
                    headers={"Content-Type": media_type},
                    body=data,
                    ok=(201, 200),
                    scope_actions="pull,push",
                    max_body=MAX_ERROR_BODY,
                )
                break
            except RegistryError as exc:
                # The bytes were checked against their digest above, so a DIGEST_INVALID
                # answer means the registry did not receive them whole (seen once in a
                # suite run with docker-registry 2.8): send them once more, then give up.
                if attempt == 2 or "DIGEST_INVALID" not in str(exc):
                    raise
                log.warning("%s; sending the manifest %s again", exc, digest)
        announced = resp.header("Docker-Content-Digest")
        if announced and self._announced(announced, f"manifest {reference}") != digest:
            raise IntegrityError(
                f"registry {self.registry} stored the manifest for {reference} as {announced}, "
                f"not {digest}"
            )
        log.debug("pushed manifest %s as %s", digest, reference)
        return digest

    def delete_manifest(self, digest: Digest) -> None:
        """Delete a manifest by digest (and with it every tag naming it)."""
        digest = Digest(digest)  # this call deletes: untyped text is checked all the same
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
        length = resp.header("Content-Length")
        return length is None or int(length) == descriptor.size

    def open_blob(self, descriptor: Descriptor) -> IO[bytes]:
        """A raw stream of a blob; wrap it in a VerifyingReader (read_blob does)."""
        self.ping()
        stream = self._stream("GET", self._path("blobs", descriptor.digest))
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
        failed upload can start again. A blob to mount from another repository is
        not looked for first: the mount answers for it (also when this repository
        holds it already), and an upload follows in the same request's session if
        the other repository does not hold it.
        """
        mounting = bool(mount_from) and mount_from != self.repository
        if mounting:
            self.ping()
        elif self.has_blob(descriptor):
            return "skipped"
        tried = False

        def attempt() -> str:
            nonlocal tried
            if tried and self.has_blob(descriptor):
                return "uploaded"  # the broken try got through after all
            tried = True
            return self._upload(descriptor, opener, mount_from)

        return retrying(
            attempt, transient=RegistryUnavailable, attempts=self.retries, backoff=self.backoff
        )

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
            if resp.status == 201:
                log.debug("mounted %s from %s", descriptor.digest, mount_from)
                return "mounted"
        else:
            resp = self._request(
                "POST", path, ok=(202,), retry=False, scope_actions=scope, max_body=MAX_ERROR_BODY
            )
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
        finally:
            reader.close()
        announced = final.header("Docker-Content-Digest")
        if (
            announced
            and self._announced(announced, f"blob {descriptor.digest}") != descriptor.digest
        ):
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

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose `subject` is `digest`: the referrers API, else the tag schema."""
        digest = Digest(digest)
        self.ping()
        path = f"/v2/{self.repository}/referrers/{digest}"
        if artifact_type:
            path += "?" + urllib.parse.urlencode({"artifactType": artifact_type})
        index: Any = None
        try:
            resp = self._request("GET", path, headers={"Accept": mt.OCI_INDEX})
            ctype = (resp.header("Content-Type") or "").split(";")[0]
            if ctype == mt.OCI_INDEX:
                index = resp.json(f"the referrers of {digest} in {self.where}")
        except NotFoundError:
            pass
        if index is None:  # the fallback tag `sha256-<hex>` holds an index of referrers
            try:
                data, media_type, _ = self.get_manifest(digest.referrers_tag)
            except NotFoundError:
                return []
            if media_type not in mt.INDEX_TYPES:
                return []
            try:
                index = jsondoc.loads(data)
            except ValueError as exc:
                raise RegistryError(
                    f"the referrers index {digest.referrers_tag} in {self.where} is not valid JSON"
                ) from exc
        entries = index.get("manifests", []) if isinstance(index, dict) else []
        found = [Descriptor.from_json(entry) for entry in entries]
        if artifact_type:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found


def _by_digest(reference: str) -> Digest | None:
    """The digest a manifest reference names, or None for a tag (a tag has no ':')."""
    return Digest(reference, "(a manifest reference)") if ":" in reference else None


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
