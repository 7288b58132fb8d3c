"""Who a request is, what it may do, and the protections every response carries.

- Bearer tokens (`Authorization: Bearer hbt_...`), or the dashboard's session cookie
  holding one (set by the login form; HttpOnly, SameSite=Strict, Secure under TLS).
- Anonymous reading only when the fleet's `serve.anonymous_read` says so.
- CSRF: a random `hb_csrf` cookie that every form post (and every cookie-authenticated
  API post, as the `X-CSRF-Token` header) must repeat.
- Headers: a strict Content-Security-Policy (no inline script or style), nosniff, frame
  denial, no referrer; request bodies over the fleet's limit get 413 before they are read.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, Request

from hardbase.server.context import ServiceContext
from hardbase.server.tokens import ANONYMOUS, Principal

log = logging.getLogger(__name__)

SESSION_COOKIE = "hb_session"
CSRF_COOKIE = "hb_csrf"
CSRF_HEADER = "x-csrf-token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def ctx_of(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def principal(request: Request) -> tuple[Principal | None, bool]:
    """(who presented credentials, whether by cookie); (None, False) for nobody."""
    ctx = ctx_of(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "the Authorization header must be 'Bearer TOKEN'")
        found = ctx.tokens.check(token.strip())
        if found is None:
            raise HTTPException(401, "the token is unknown or revoked")
        return found, False
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = ctx.tokens.check(cookie)
        if found is not None:
            return found, True
    return None, False


def read_principal(request: Request) -> Principal:
    """A principal allowed to read, else 401."""
    who, _ = principal(request)
    if who is not None:
        return who
    if ctx_of(request).fleet.serve.anonymous_read:
        return ANONYMOUS
    raise HTTPException(401, "this service needs a token: send 'Authorization: Bearer TOKEN'")


async def reader(request: Request) -> Principal:
    """The dependency form of `read_principal` (async: no thread hop for a cached check)."""
    return read_principal(request)


async def admin(request: Request) -> Principal:
    """An admin (401 without credentials, 403 with a read token); a cookie session must
    also send the CSRF token."""
    who, by_cookie = principal(request)
    if who is None:
        raise HTTPException(401, "this action needs an admin token")
    if not who.is_admin:
        raise HTTPException(403, "this action needs an admin token; this one can only read")
    if by_cookie and not csrf_ok(request, request.headers.get(CSRF_HEADER, "")):
        raise HTTPException(403, "the CSRF token is missing or wrong; reload the page")
    return who


def csrf_ok(request: Request, presented: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and bool(presented) and hmac.compare_digest(cookie, presented)


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (a new one is set as a cookie by the middleware)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) == 43:
        return existing
    token: str = request.scope.setdefault("hb_new_csrf", secrets.token_urlsafe(32))
    return token


def who_label(who: Principal) -> str:
    if who.role == "anonymous":
        return "anonymous"
    return f"token {who.token_id}" + (f" ({who.name})" if who.name else "")


class Guard:
    """ASGI middleware: security headers, body size limit, CSRF cookie, access log."""

    def __init__(self, app: ASGIApp, max_body: int, secure_cookies: bool) -> None:
        self.app = app
        self.max_body = max_body
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _json(send, 413, f"the request body is over {self.max_body} bytes")
            _log(scope, 413, started)
            return
        # the body is read here, whole and within the limit, before any handler sees it
        # (a chunked body announces no length)
        body = b""
        more = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await _json(send, 413, f"the request body is over {self.max_body} bytes")
                _log(scope, 413, started)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = list(message.get("headers") or [])
                out.extend(HEADERS)
                new_csrf = scope.get("hb_new_csrf")
                if new_csrf:
                    flags = "; Path=/; HttpOnly; SameSite=Strict" + (
                        "; Secure" if self.secure else ""
                    )
                    out.append((b"set-cookie", f"{CSRF_COOKIE}={new_csrf}{flags}".encode()))
                message["headers"] = out
            await send(message)

        await self.app(scope, replay, with_headers)
        _log(scope, status, started)


def _log(scope: Scope, status: int, started: float) -> None:
    # the path only: no query string, no headers (tokens travel in headers and cookies)
    log.info(
        "%s %s %d %.1fms", scope.get("method"), scope.get("path"), status,
        (time.monotonic() - started) * 1000,
    )  # fmt: skip


async def _json(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
