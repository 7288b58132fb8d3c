"""The JSON API, /api/v1: images, events (and their live stream), jobs, and the admin
actions. Lists are newest first (images: by name) and paged with opaque cursors."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hardbase.lifecycle.state import Event, Job
from hardbase.server import queries
from hardbase.server.actions import request_rebuild
from hardbase.server.context import ServiceContext
from hardbase.server.imagedata import DOCUMENTS, counts
from hardbase.server.models import (
    ErrorBody,
    EventOut,
    EventsPage,
    FindingCounts,
    FindingOut,
    ImageDetail,
    ImageOut,
    ImagesPage,
    JobOut,
    JobsPage,
    PackageOut,
    PassOut,
    Publish,
    RebuildIn,
    RebuildOut,
    Remediation,
    when,
)
from hardbase.server.security import admin, ctx_of, reader, who_label
from hardbase.server.tokens import Principal

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422)
}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
Reader = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, Depends(admin)]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of a page")]
SSE_POLL = 0.5
SSE_HEARTBEAT = 15.0


def encode_cursor(kind: str, value: int | str) -> str:
    raw = json.dumps({"k": kind, "v": value}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None, typ: type[Any]) -> Any:
    if cursor is None:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value = doc["v"]
        if doc["k"] != kind or not isinstance(value, typ) or isinstance(value, bool):
            raise ValueError(cursor)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise HTTPException(400, "the cursor is not one this API gave out") from None
    return value


def job_out(job: Job | None) -> JobOut | None:
    if job is None:
        return None
    return JobOut(
        id=job.id, image=job.image, state=job.state, reason=job.reason,
        version_tag=job.version_tag, digest=job.digest, attempts=job.attempts,
        error=job.error, created_at=when(job.created_at),
    )  # fmt: skip


def event_out(e: Event) -> EventOut:
    return EventOut(
        id=e.id, time=e.ts, ts=when(e.ts), image=e.image, job=e.job, kind=e.kind,
        detail=dict(e.detail),
    )  # fmt: skip


def image_out(ctx: ServiceContext, s: queries.ImageSummary, db_version: str) -> ImageOut:
    c = counts(ctx.data.findings(s.lock_hash, db_version), s.findings_by_status)
    return ImageOut(
        name=s.name,
        repository=ctx.repository(s.name).repository,
        tags=list(s.tags) or list(ctx.repository(s.name).tags),
        digest=s.digest,
        published_at=when(s.published_at),
        status=s.status,
        findings=FindingCounts(
            by_status=c.by_status,
            by_severity=c.by_severity,
            fixable_by_severity=c.fixable_by_severity,
        ),  # fmt: skip
        last_job=job_out(s.last_job),
        pending_jobs=s.pending_jobs,
        fix_waiting_since=when(s.fix_waiting_since),
        remediation=Remediation(
            count=len(s.remediation),
            last_seconds=s.remediation[-1] if s.remediation else None,
            p50_seconds=s.p50,
            p95_seconds=s.p95,
        ),
    )


def managed(ctx: ServiceContext, name: str) -> None:
    if name not in ctx.names:
        raise HTTPException(404, "the fleet manages no image of that name")


@router.get("/images", response_model=ImagesPage, summary="The fleet's images")
async def list_images(
    request: Request, who: Reader, limit: Limit = 100, cursor: Cursor = None
) -> ImagesPage:
    ctx = ctx_of(request)
    after = decode_cursor("image", cursor, str)
    rows = [i for i in all_images(ctx) if after is None or i.name > after]
    page = rows[:limit]
    more = len(rows) > limit
    return ImagesPage(
        items=page, next_cursor=encode_cursor("image", page[-1].name) if more and page else None
    )


def all_images(ctx: ServiceContext) -> list[ImageOut]:
    """Every image as the API shows it, by name; made again only when the state changed."""

    def make() -> list[ImageOut]:
        snap, db_version = ctx.snapshot()
        return sorted((image_out(ctx, s, db_version) for s in snap.images), key=lambda i: i.name)

    return ctx.cached("images", make)


@router.get(
    "/images/{name:path}/documents/{document}",
    summary="An attested document of the published image (SBOM, provenance) or its VEX",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
def image_document(request: Request, who: Reader, name: str, document: str) -> dict[str, Any]:
    ctx = ctx_of(request)
    managed(ctx, name)
    if document not in DOCUMENTS:
        raise HTTPException(
            404, f"there is no document of that name; use one of {', '.join(DOCUMENTS)}"
        )
    known = ctx.state.image(name)
    return ctx.data.document(name, known.digest if known else "", document)


@router.post(
    "/images/{name:path}/rebuild", response_model=RebuildOut, status_code=202,
    summary="Queue a rebuild of the image (admin)",
)  # fmt: skip
def rebuild(
    request: Request, who: Admin, name: str, body: Annotated[RebuildIn | None, Body()] = None
) -> RebuildOut:
    ctx = ctx_of(request)
    managed(ctx, name)
    return do_rebuild(ctx, name, who, body.reason if body else "")


def do_rebuild(ctx: ServiceContext, name: str, who: Principal, why: str) -> RebuildOut:
    result = request_rebuild(ctx.state, ctx.data, name, who_label(who), why)
    if ctx.loop is not None:
        ctx.loop.request_pass()
    runs = "the controller runs it now" if ctx.loop else "a controller runs it in its next pass"
    if result.job is None:
        message = f"{name} has not been published yet; its first publish is due, {runs}"
    elif result.created:
        message = f"queued job {result.job.id}; {runs}"
    else:
        message = f"job {result.job.id} of {name} is already {result.job.state}"
    return RebuildOut(image=name, created=result.created, job=job_out(result.job), message=message)


@router.get("/images/{name:path}", response_model=ImageDetail, summary="One image")
def get_image(request: Request, who: Reader, name: str) -> ImageDetail:
    ctx = ctx_of(request)
    managed(ctx, name)
    snap, db_version = ctx.snapshot()
    summary = next(s for s in snap.images if s.name == name)
    base = image_out(ctx, summary, db_version)
    findings = ctx.data.findings(summary.lock_hash, db_version)
    lock = ctx.data.lock(summary.lock_hash)
    history = [
        Publish(
            digest=str(e.detail.get("digest", "")),
            published_at=when(e.ts),
            job=e.job,
            tags=list(e.detail.get("tags", [])),
            version_tags=list(e.detail.get("version_tags", [])),
        )  # fmt: skip
        for e in queries.digest_history(ctx.state, name)
    ]
    from hardbase.server.imagedata import patched

    prefix = f"/api/v1/images/{name}/documents/"
    return ImageDetail(
        **base.model_dump(exclude={"last_job"}),
        last_job=base.last_job,
        digest_history=history,
        findings_list=None
        if findings is None
        else [
            FindingOut(
                id=f.id,
                aliases=list(f.aliases),
                package=f.package.name,
                installed_version=f.package.version,
                fixed_version=f.fixed_version,
                status=f.status,
                severity=f.severity.label,
                data_source=f.data_source,
            )  # fmt: skip
            for f in findings
        ],
        packages=[]
        if lock is None
        else [
            PackageOut(
                name=p.name,
                version=p.version,
                arch=p.arch,
                source=p.source,
                source_version=p.source_version,
                suite=p.suite,
                patched=patched(p),
            )  # fmt: skip
            for p in lock.all_packages()
        ],
        documents={d: prefix + d for d in DOCUMENTS} if summary.digest else {},
    )


def _time(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


Kinds = Annotated[list[str], Query(max_length=20, description="event kinds (repeatable)")]


@router.get("/events", response_model=EventsPage, summary="The event log, newest first")
async def list_events(
    request: Request,
    who: Reader,
    image: Annotated[str | None, Query(max_length=300)] = None,
    kind: Kinds = [],  # noqa: B006 - FastAPI copies query defaults
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    job: Annotated[int | None, Query(ge=1)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EventsPage:
    ctx = ctx_of(request)
    before = decode_cursor("event", cursor, int)
    page = queries.events_page(
        ctx.state, image=image, kinds=kind, since=_time(since), until=_time(until), job=job,
        before=before, limit=limit,
    )  # fmt: skip
    return EventsPage(
        items=[event_out(e) for e in page.items],
        next_cursor=None if page.next_before is None else encode_cursor("event", page.next_before),
    )


@router.get(
    "/events/stream",
    summary="New events as Server-Sent Events (one JSON event a message)",
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    response_class=StreamingResponse,
)
async def stream_events(
    request: Request,
    who: Reader,
    image: Annotated[str | None, Query(max_length=300)] = None,
    kind: Kinds = [],  # noqa: B006
    after: Annotated[int | None, Query(ge=0, description="send events after this id")] = None,
) -> StreamingResponse:
    ctx = ctx_of(request)
    last_header = request.headers.get("last-event-id", "")
    if after is None and last_header.isdigit():
        after = int(last_header)
    if after is None:
        after = await run_in_threadpool(queries.last_event_id, ctx.state)
    start = after

    async def events() -> AsyncIterator[bytes]:
        last = start
        quiet = 0.0
        yield b"retry: 2000\n\n"
        while not ctx.stopping.is_set() and not await request.is_disconnected():
            page = await run_in_threadpool(
                queries.events_page, ctx.state, image=image, kinds=kind, after=last, limit=200
            )
            for e in page.items:
                last = e.id
                data = event_out(e).model_dump_json()
                yield f"id: {e.id}\nevent: hardbase\ndata: {data}\n\n".encode()
            if page.items:
                quiet = 0.0
                continue
            await asyncio.sleep(SSE_POLL)
            quiet += SSE_POLL
            if quiet >= SSE_HEARTBEAT:
                quiet = 0.0
                yield b": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/jobs", response_model=JobsPage, summary="Jobs, newest first")
async def list_jobs(
    request: Request,
    who: Reader,
    image: Annotated[str | None, Query(max_length=300)] = None,
    state: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JobsPage:
    ctx = ctx_of(request)
    before = decode_cursor("job", cursor, int)
    page = queries.jobs_page(ctx.state, image=image, states=state, before=before, limit=limit)
    return JobsPage(
        items=[j for j in (job_out(x) for x in page.items) if j is not None],
        next_cursor=None if page.next_before is None else encode_cursor("job", page.next_before),
    )


@router.post("/passes", response_model=PassOut, status_code=202, summary="Run a pass now (admin)")
def request_pass(request: Request, who: Admin) -> PassOut:
    ctx = ctx_of(request)
    if ctx.loop is None:
        raise HTTPException(409, "this service runs no controller (--no-watch)")
    ctx.state.record("*", "pass-requested", by=who_label(who))
    ctx.loop.request_pass()
    busy = " after the pass in progress" if ctx.loop.busy else ""
    return PassOut(requested=True, message=f"a pass starts{busy}")
