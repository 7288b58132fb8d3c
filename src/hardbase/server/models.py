"""The JSON documents of the API (pydantic: they make the OpenAPI document's schemas)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hardbase.util import clock


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Out):
    status: int
    message: str


class ErrorBody(_Out):
    error: ErrorDetail


def when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return clock.rfc3339(ts)


class JobOut(_Out):
    id: int
    image: str
    state: str
    reason: str
    version_tag: str
    digest: str
    attempts: int
    error: str
    created_at: str | None


class JobsPage(_Out):
    items: list[JobOut]
    next_cursor: str | None


class Remediation(_Out):
    count: int
    last_seconds: float | None
    p50_seconds: float | None
    p95_seconds: float | None


class FindingCounts(_Out):
    by_status: dict[str, int]
    by_severity: dict[str, int]
    fixable_by_severity: dict[str, int]


class ImageOut(_Out):
    name: str
    repository: str
    tags: list[str]
    digest: str
    published_at: str | None
    status: str = Field(description="green, amber, red or grey (never published)")
    findings: FindingCounts
    last_job: JobOut | None
    pending_jobs: int
    fix_waiting_since: str | None = Field(
        description="first seen of the oldest fix not yet published"
    )
    remediation: Remediation


class ImagesPage(_Out):
    items: list[ImageOut]
    next_cursor: str | None


class Publish(_Out):
    digest: str
    published_at: str | None
    job: int | None
    tags: list[str]
    version_tags: list[str]


class FindingOut(_Out):
    id: str
    aliases: list[str]
    package: str
    installed_version: str
    fixed_version: str | None
    status: str
    severity: str
    data_source: str


class PackageOut(_Out):
    name: str
    version: str
    arch: str
    source: str
    source_version: str
    suite: str
    patched: bool = Field(description="rebuilt by hardbase's source patching (+hbN)")


class ImageDetail(ImageOut):
    digest_history: list[Publish]
    findings_list: list[FindingOut] | None
    packages: list[PackageOut]
    documents: dict[str, str]


class EventOut(_Out):
    id: int
    time: float
    ts: str | None
    image: str
    job: int | None
    kind: str
    detail: dict[str, Any]


class EventsPage(_Out):
    items: list[EventOut]
    next_cursor: str | None


class RebuildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=200)


class RebuildOut(_Out):
    image: str
    created: bool
    job: JobOut | None
    message: str


class PassOut(_Out):
    requested: bool
    message: str


class Health(_Out):
    status: str


class Check(_Out):
    name: str
    ok: bool
    detail: str


class Ready(_Out):
    ready: bool
    checks: list[Check]
