"""The ASGI application: the API, the dashboard, health, readiness and metrics, behind the
security middleware, with every error answered as one JSON sentence (or an HTML page for
a browser) and never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hardbase import __version__
from hardbase.errors import HardbaseError, SpecError
from hardbase.server import api, metrics, pages
from hardbase.server.context import ServiceContext
from hardbase.server.imagedata import NotFound
from hardbase.server.models import Health, Ready
from hardbase.server.security import Guard, reader
from hardbase.server.status import readiness
from hardbase.server.tokens import Principal

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/metrics", "/healthz", "/readyz")):
        return False
    return "text/html" in request.headers.get("accept", "")


def create_app(ctx: ServiceContext) -> FastAPI:
    app = FastAPI(
        title="hardbase fleet service",
        version=__version__,
        description="The fleet's images, findings, jobs and events; rebuilds and passes "
        "for admins. Send `Authorization: Bearer TOKEN` (`hardbase serve token create`).",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _add_health_routes(app, ctx)
    _add_error_handlers(app)
    app.add_middleware(Guard, max_body=ctx.fleet.serve.max_body, secure_cookies=ctx.secure_cookies)
    return app


def _add_health_routes(app: FastAPI, ctx: ServiceContext) -> None:
    """/healthz, /readyz and /metrics."""
    registry = metrics.registry(ctx)

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, responses={503: {"model": Ready}}, tags=["health"])
    def readyz() -> Response:
        checks = readiness(ctx)
        ready = all(c.ok for c in checks)
        body = Ready(ready=ready, checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        tags=["health"],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        response_class=Response,
    )
    def metrics_endpoint(who: Annotated[Principal, Depends(reader)]) -> Response:
        return Response(
            metrics.render(registry), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as one JSON sentence (an HTML page for a browser), never a traceback."""

    @app.exception_handler(pages.LoginNeeded)
    async def login_needed(request: Request, exc: pages.LoginNeeded) -> Response:
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.target)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "the request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "there is nothing at this address"
        if exc.status_code == 405:
            message = "this address does not take that method"
        if _wants_html(request):
            page: Response = pages.templates.TemplateResponse(
                request, "error.html",
                {"who": None, "csrf": "", "title": f"Error {exc.status_code}",
                 "message": message, "page": ""},
                status_code=exc.status_code,
            )  # fmt: skip
            return page
        response = _error(exc.status_code, message)
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "the request"
        kind = str(first.get("type", ""))
        if kind == "json_invalid":
            return _error(400, "the request body is not valid JSON")
        return _error(422, f"{where}: {first.get('msg', 'is not valid')}")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error(404, exc.diagnostics())

    @app.exception_handler(SpecError)
    async def spec_error(request: Request, exc: SpecError) -> Response:
        return _error(404, exc.diagnostics())

    @app.exception_handler(HardbaseError)
    async def hardbase_error(request: Request, exc: HardbaseError) -> Response:
        log.warning("%s %s: %s", request.method, request.url.path, exc.diagnostics())
        return _error(502, exc.diagnostics())

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "the service failed on this request; the log has the details")


__all__ = ["create_app", "HTTPException"]
