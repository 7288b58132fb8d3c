"""The vulnerability database's records and read interface, without SQLAlchemy.

db.py stores these with SQLAlchemy (SQLite or PostgreSQL); dbread.py reads a
SQLite file with the standard library's sqlite3, so that `hardbase scan` does
not pay SQLAlchemy's import (about half a second). Both turn rows into the same
records with `advisory_from` and `affected_from`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from hardbase.errors import HardbaseError
from hardbase.util.validation import stored

# The schema version db.py's SCHEMA is at (db.py checks that they agree).
SCHEMA_VERSION = 2

CHUNK = 500  # names per IN (...) query: well under SQLite's and PostgreSQL's limits


class AffectedStatus(StrEnum):
    """What a feed says of one package: the `affected.status` column's values."""

    FIXED = "fixed"
    OPEN = "open"
    WONT_FIX = "wont-fix"
    NOT_AFFECTED = "not-affected"


class FindingStatus(StrEnum):
    """What a scan says of one installed package: a finding's `status`.

    `wont-fix` and `not-affected` are the feed's words as stored; `fixable` and
    `no-fix` are what the matcher makes of a `fixed` or `open` row for the installed
    version. Reports, policies and the state database's counts use these values.
    """

    FIXABLE = "fixable"
    NO_FIX = "no-fix"
    WONT_FIX = AffectedStatus.WONT_FIX.value
    NOT_AFFECTED = AffectedStatus.NOT_AFFECTED.value


FIXED = AffectedStatus.FIXED
OPEN = AffectedStatus.OPEN
WONT_FIX = AffectedStatus.WONT_FIX
NOT_AFFECTED = AffectedStatus.NOT_AFFECTED
STATUSES = tuple(AffectedStatus)


class DatabaseError(HardbaseError):
    """The vulnerability database cannot be opened, read or written."""


@dataclass(frozen=True)
class Advisory:
    """One advisory as one source describes it."""

    id: str
    source: str
    aliases: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    summary: str = ""
    severity: str = ""  # bucket label, "" when the source gives none
    cvss_vector: str = ""
    cvss_score: float | None = None
    published: str = ""
    modified: str = ""


@dataclass(frozen=True)
class Range:
    """An OSV-style range: `type` ECOSYSTEM | SEMVER | DEBIAN, events as (kind, version)."""

    type: str
    events: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Affected:
    """One package in one ecosystem that an advisory names, and how."""

    advisory_id: str
    source: str
    ecosystem: str  # "debian:12", "debian:13", "pypi", "npm"
    package: str  # Debian source name, PEP 503 name, npm name
    status: AffectedStatus = AffectedStatus.FIXED
    fixed_version: str = ""
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    urgency: str = ""
    note: str = ""


@dataclass(frozen=True)
class SupportNote:
    """A package whose security support ended or is limited in a release."""

    ecosystem: str  # "debian:12", or "debian" for every release
    package: str  # a source name, or a regular expression such as "golang.*"
    kind: str  # "ended" | "limited"
    source: str
    last_version: str = ""
    date: str = ""
    note: str = ""


@dataclass(frozen=True)
class SourceInfo:
    """What was imported from one source, from where, and when."""

    name: str
    location: str
    imported_at: datetime
    records: int
    state: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


class VulnReader(Protocol):
    """What scanning reads from a vulnerability database (VulnDB, or dbread's SqliteReader)."""

    location: str

    def close(self) -> None: ...
    def sources(self) -> list[SourceInfo]: ...
    def is_empty(self) -> bool: ...
    def ecosystem_counts(
        self, ecosystems: Collection[str] | None = None
    ) -> dict[tuple[str, str, str], int]: ...
    def affected_for(self, packages: Mapping[str, Collection[str]]) -> list[Affected]: ...
    def advisories_for(self, ids: Collection[str]) -> dict[str, list[Advisory]]: ...
    def support_notes(self, ecosystems: Collection[str]) -> list[SupportNote]: ...


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def advisory_from(r: Any) -> Advisory:
    return Advisory(
        id=r["id"],
        source=r["source"],
        aliases=tuple(json.loads(r["aliases"] or "[]")),
        upstream=tuple(json.loads(r["upstream"] or "[]")),
        summary=r["summary"],
        severity=r["severity"],
        cvss_vector=r["cvss_vector"],
        cvss_score=r["cvss_score"],
        published=r["published"],
        modified=r["modified"],
    )


def affected_from(r: Any) -> Affected:
    ranges = tuple(
        Range(type=str(x["type"]), events=tuple((str(k), str(v)) for k, v in x["events"]))
        for x in json.loads(r["ranges"] or "[]")
    )
    return Affected(
        advisory_id=r["advisory_id"],
        source=r["source"],
        ecosystem=r["ecosystem"],
        package=r["package"],
        status=stored(AffectedStatus, r["status"], DatabaseError, _ROW_WHAT, _ROW_HINT),
        fixed_version=r["fixed_version"],
        ranges=ranges,
        versions=tuple(json.loads(r["versions"] or "[]")),
        urgency=r["urgency"],
        note=r["note"],
    )


_ROW_WHAT = "the vulnerability database has an affected row with status"
_ROW_HINT = "rebuild it with `hardbase db update`"


def source_from(r: Any) -> SourceInfo:
    return SourceInfo(
        name=r["name"],
        location=r["location"],
        imported_at=datetime.fromisoformat(r["imported_at"]),
        records=r["records"],
        state=json.loads(r["state"] or "{}"),
    )


def support_from(r: Any) -> SupportNote:
    return SupportNote(
        ecosystem=r["ecosystem"],
        package=r["package"],
        kind=r["kind"],
        source=r["source"],
        last_version=r["last_version"],
        date=r["date"],
        note=r["note"],
    )


def age_text(delta: timedelta) -> str:
    """A short age: `45m`, `20h`, `9d`."""
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(0, int(delta.total_seconds() // 60))}m"
    if hours < 48:
        return f"{hours:.0f}h"
    return f"{hours / 24:.0f}d"


def require_data(
    db: VulnReader,
    *,
    max_age: timedelta,
    warn_after: timedelta = timedelta(days=1),
    now: datetime | None = None,
) -> tuple[str, ...]:
    """Refuse a database a gate cannot trust: empty, or with a source older than `max_age`.

    Returns warnings for sources older than `warn_after`. A gate that passes because
    it had no data is the failure this guards against, so it raises (exit 2) instead.
    """
    now = now or datetime.now(UTC)
    sources = db.sources()
    if not sources or db.is_empty():
        raise DatabaseError(
            f"the vulnerability database {db.location} holds no vulnerability data; "
            "build it with `hardbase db update` before scanning"
        )
    stale = [s for s in sources if now - s.imported_at > max_age]
    if stale:
        names = ", ".join(f"{s.name} ({age_text(now - s.imported_at)} old)" for s in stale)
        raise DatabaseError(
            f"the vulnerability database {db.location} is older than --max-db-age "
            f"{age_text(max_age)}: {names}; refresh it with `hardbase db update` "
            "(or raise --max-db-age to accept it)"
        )
    old = [s for s in sources if now - s.imported_at > warn_after]
    if not old:
        return ()
    names = ", ".join(f"{s.name} ({age_text(now - s.imported_at)})" for s in old)
    return (f"vulnerability data older than {age_text(warn_after)}: {names}; "
            "run `hardbase db update`",)  # fmt: skip
