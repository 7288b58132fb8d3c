"""The dashboard: server-rendered pages (fleet overview with the SLA chart, one image,
events), the sign-in form, and the rebuild form post."""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hardbase.errors import HardbaseError
from hardbase.lifecycle.state import Event
from hardbase.server import queries
from hardbase.server.api import all_images, do_rebuild, event_out, get_image
from hardbase.server.chart import SLA, human, sla, svg
from hardbase.server.context import ServiceContext
from hardbase.server.security import (
    SESSION_COOKIE,
    admin,
    csrf_ok,
    csrf_token,
    ctx_of,
    principal,
    read_principal,
)
from hardbase.server.tokens import Principal

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
DAYS = 86400.0
STATUS_WORDS = {"green": "clean", "amber": "fix waiting", "red": "failed", "grey": "not published"}


class LoginNeeded(Exception):
    def __init__(self, target: str) -> None:
        self.target = target


def _who(request: Request) -> Principal:
    try:
        return read_principal(request)
    except HTTPException:
        raise LoginNeeded(request.url.path) from None


def _render(request: Request, name: str, who: Principal | None, **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"who": who, "csrf": csrf_token(request), "status_words": STATUS_WORDS,
                        **values},
    )  # fmt: skip


def _summary(e: Event) -> str:
    parts = []
    for key in sorted(e.detail):
        value = e.detail[key]
        parts.append(f"{key}={value}")
    return " ".join(parts)[:300]


def _events(items: list[Event]) -> list[dict[str, Any]]:
    return [{**event_out(e).model_dump(), "summary": _summary(e)} for e in items]


def _fleet_table(ctx: ServiceContext, admin: bool, now: float) -> tuple[dict[str, int], str]:
    """The overview's table as HTML (and the status totals): rendered again when the state
    changed or a minute passed (its "fix waiting for" column counts time)."""

    def make() -> tuple[dict[str, int], str]:
        snap, _ = ctx.snapshot()
        outs = {i.name: i for i in all_images(ctx)}
        totals = {"green": 0, "amber": 0, "red": 0, "grey": 0}
        rows = []
        for s in snap.images:
            out = outs[s.name]
            totals[s.status] += 1
            rows.append(
                {
                    "name": s.name,
                    "status": s.status,
                    "fixable": out.findings.by_status.get("fixable", 0),
                    "nofix": out.findings.by_status.get("no-fix", 0),
                    "published_at": out.published_at,
                    "waiting": human(now - s.fix_waiting_since) if s.fix_waiting_since else "–",
                    "p50": human(s.p50),
                    "p95": human(s.p95),
                    "last_job": s.last_job,
                }
            )
        html = templates.get_template("fleet_table.html").render(
            rows=rows, admin=admin, status_words=STATUS_WORDS
        )
        return totals, html

    return ctx.cached(f"fleet-table-{admin}", make, stamp=int(now // 60))


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> HTMLResponse:
    who = _who(request)
    ctx = ctx_of(request)
    now = time.time()
    totals, table = _fleet_table(ctx, who.is_admin, now)
    target = ctx.fleet.serve.sla_target

    def chart() -> tuple[SLA, str]:
        points = queries.remediations(ctx.state, now - 30 * DAYS)
        return sla(points, target), svg(points, target, now)

    # drawn again when the state changes or a minute passes (the time axis moves)
    summary, drawing = ctx.cached("sla-chart", chart, stamp=int(now // 60))
    events = queries.events_page(ctx.state, limit=15).items
    return _render(
        request, "overview.html", who, title="Fleet", page="overview", fleet_table=table,
        totals=totals, count=sum(totals.values()),
        chart=drawing, sla=summary,
        sla_human={"p50": human(summary.p50), "p95": human(summary.p95), "target": human(target)},
        events=_events(events), stream="", live=True,
    )  # fmt: skip


@router.get("/images/{name:path}", response_class=HTMLResponse)
def image_page(request: Request, name: str) -> HTMLResponse:
    who = _who(request)
    ctx = ctx_of(request)
    if name not in ctx.names:
        return _render(
            request, "error.html", who, title="No such image", page="",
            message="The fleet manages no image of that name.",
        )  # fmt: skip
    detail = get_image(request, who, name)
    card: list[tuple[str, str, str]] | None = None
    card_error = ""
    if detail.digest:
        from hardbase.evaluate.scorecard import format_value, row_value, summary_rows

        try:
            doc = ctx.data.scorecard(name, detail.digest)
            card = [
                (label, dimension, format_value(row_value(doc, dimension, key), kind))
                for label, dimension, key, kind in summary_rows()
            ]
        except HardbaseError as exc:
            card_error = exc.diagnostics()
    timeline = queries.findings_timeline(ctx.state, name)
    events = queries.events_page(ctx.state, image=name, limit=30).items
    return _render(
        request, "image.html", who, title=name, page="image", image=detail,
        rem={"p50": human(detail.remediation.p50_seconds),
             "p95": human(detail.remediation.p95_seconds)},
        card=card, card_error=card_error, timeline=_events(timeline), events=_events(events),
        stream="?" + urllib.parse.urlencode({"image": name}), live=True,
    )  # fmt: skip


@router.get("/events", response_class=HTMLResponse)
async def events_page(
    request: Request, image: str = "", kind: str = "", since: str = "", before: str = ""
) -> HTMLResponse:
    who = _who(request)
    ctx = ctx_of(request)
    error = ""
    since_ts = None
    if since:
        try:
            when = dt.datetime.fromisoformat(since)
            since_ts = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()
        except ValueError:
            error = f"'{since[:40]}' is not a date and time; showing all events"
    before_id = int(before) if before.isdigit() else None
    kinds = [k.strip() for k in kind.split(",") if k.strip()]
    page = queries.events_page(
        ctx.state, image=image or None, kinds=kinds, since=since_ts, before=before_id, limit=100
    )
    filters = {k: v for k, v in (("image", image), ("kind", ",".join(kinds))) if v}
    next_link = None
    if page.next_before is not None:
        query = {**filters, "since": since, "before": str(page.next_before)}
        next_link = "/events?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
    # the live rows follow the same filters (a time filter keeps only what is new anyway)
    live = [("image", image)] if image else []
    live += [("kind", k) for k in kinds]
    stream = "?" + urllib.parse.urlencode(live) if live else ""
    return _render(
        request, "events.html", who, title="Events", page="events", names=ctx.names,
        image=image, kind=",".join(kinds), since=since, error=error, events=_events(page.items),
        next=next_link, stream=stream, live=True,
    )  # fmt: skip


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _render(request, "login.html", None, title="Sign in", page="login", next=_safe(next))


def _safe(target: str) -> str:
    """Only a path on this site (no scheme, no host, no //) is a place to go back to."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _form(request: Request) -> dict[str, str]:
    """The posted form's fields, after its CSRF token was checked (403 when wrong)."""
    form = await request.form(max_files=0, max_fields=20, max_part_size=8192)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(request, fields.get("csrf", "")):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
    return fields


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    ctx = ctx_of(request)
    form = await _form(request)
    token = form.get("token", "").strip()
    who = ctx.tokens.check(token)
    if who is None:
        page = _render(
            request, "login.html", None, title="Sign in", page="login",
            next=_safe(form.get("next", "/")), error="That token is unknown or revoked.",
        )  # fmt: skip
        page.status_code = 401
        return page
    response = RedirectResponse(_safe(form.get("next", "/")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=ctx.secure_cookies,
        max_age=12 * 3600,
    )  # fmt: skip
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request) -> Response:
    await _form(request)  # checks the CSRF token
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/actions/rebuild", response_model=None)
async def rebuild_form(request: Request) -> Response:
    ctx = ctx_of(request)
    form = await _form(request)
    who, _ = principal(request)
    if who is None:
        raise HTTPException(401, "sign in with an admin token to rebuild")
    if not who.is_admin:
        raise HTTPException(403, "rebuilding needs an admin token; this one can only read")
    name = form.get("image", "")
    if name not in ctx.names:
        raise HTTPException(404, "the fleet manages no image of that name")
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(do_rebuild, ctx, name, who, "from the dashboard")
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(result.model_dump(), status_code=202)
    return RedirectResponse(f"/images/{urllib.parse.quote(name)}", status_code=303)


__all__ = ["router", "LoginNeeded", "admin"]
