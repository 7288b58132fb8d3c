"""The local vulnerability database: advisories, affected packages, sources, support notes.

SQLAlchemy Core over SQLite (a file by default) or PostgreSQL (a URL), so
several machines can share one. Importers replace their own rows in bulk;
matching reads the rows for an inventory's package names in a few queries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hardbase.errors import HardbaseError
from hardbase.util.paths import default_db_path
from hardbase.util.sql import Schema, SQLStore, sqlite_url

log = logging.getLogger(__name__)

_CHUNK = 500  # names per IN (...) query: well under SQLite's and PostgreSQL's limits

# affected.status values
FIXED = "fixed"
OPEN = "open"
WONT_FIX = "wont-fix"
NOT_AFFECTED = "not-affected"
STATUSES = (FIXED, OPEN, WONT_FIX, NOT_AFFECTED)


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
    status: str = FIXED  # fixed | open | wont-fix | not-affected
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


_md = sa.MetaData()

advisories_t = sa.Table(
    "advisories",
    _md,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("aliases", sa.Text, nullable=False, default="[]"),
    sa.Column("upstream", sa.Text, nullable=False, default="[]"),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("severity", sa.String(16), nullable=False, default=""),
    sa.Column("cvss_vector", sa.String(200), nullable=False, default=""),
    sa.Column("cvss_score", sa.Float, nullable=True),
    sa.Column("published", sa.String(40), nullable=False, default=""),
    sa.Column("modified", sa.String(40), nullable=False, default=""),
)

affected_t = sa.Table(
    "affected",
    _md,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("advisory_id", sa.String(200), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("ecosystem", sa.String(64), nullable=False),
    sa.Column("package", sa.String(300), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("fixed_version", sa.String(300), nullable=False, default=""),
    sa.Column("ranges", sa.Text, nullable=False, default="[]"),
    sa.Column("versions", sa.Text, nullable=False, default="[]"),
    sa.Column("urgency", sa.String(40), nullable=False, default=""),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Index("ix_affected_eco_pkg", "ecosystem", "package"),
    sa.Index("ix_affected_source_pkg", "source", "ecosystem", "package"),
)

sources_t = sa.Table(
    "sources",
    _md,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("imported_at", sa.String(40), nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False, default="{}"),
)

support_t = sa.Table(
    "support",
    _md,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ecosystem", sa.String(64), nullable=False),
    sa.Column("package", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("last_version", sa.String(300), nullable=False, default=""),
    sa.Column("date", sa.String(40), nullable=False, default=""),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Index("ix_support_eco_pkg", "ecosystem", "package"),
)

meta_t = sa.Table(
    "meta",
    _md,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def _reread_changelogs_for_urgency(conn: sa.Connection) -> None:
    """Schema 2: debian-changelog rows carry their entry's `urgency=`. Forget the
    importer's per-source versions so the next `db update` reads every changelog again
    and records it; until then the old rows keep an empty urgency."""
    conn.execute(
        sources_t.update().where(sources_t.c.name == "debian-changelog").values(state="{}")
    )


# Append a migration here to change the schema (see hardbase.util.sql).
SCHEMA = Schema(_md, meta_t, migrations=(_reread_changelogs_for_urgency,))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class VulnDB:
    """A handle on the vulnerability database; create with `VulnDB.open(...)`."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self.engine = store.engine
        self.location = store.location

    @classmethod
    def open_existing(cls, location: str | Path | None = None) -> VulnDB:
        """Open a database that must exist already: a missing SQLite file is an error
        (and is not created), so a mistyped --db cannot scan against nothing."""
        where = default_db_path() if location is None else location
        text = str(where)
        path: Path | None = None
        if "://" not in text:
            path = Path(text).expanduser()
        elif text.startswith("sqlite:///") and text[len("sqlite:///") :] not in ("", ":memory:"):
            path = Path(text[len("sqlite:///") :])
        if path is not None and not path.is_file():
            raise DatabaseError(
                f"there is no vulnerability database at {path}; build one with "
                "`hardbase db update` (or point --db at one)"
            )
        return cls.open(where)

    @classmethod
    def open(cls, location: str | Path | None = None) -> VulnDB:
        """Open (creating or migrating the tables of) the database at a path or SQLAlchemy URL.

        `None` means `hardbase.util.paths.default_db_path()`.
        """
        where = default_db_path() if location is None else location
        url = sqlite_url(where, DatabaseError, "the vulnerability database")
        return cls(
            SQLStore.open(
                url,
                SCHEMA,
                error=DatabaseError,
                what="the vulnerability database",
                hint="check --db",
            )
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def replace(
        self,
        source: str,
        advisories: Iterable[Advisory],
        affected: Iterable[Affected],
        *,
        packages: Collection[tuple[str, str]] | None = None,
    ) -> tuple[int, int]:
        """Replace `source`'s rows in one transaction; returns (advisories, affected) written.

        With `packages` ((ecosystem, name) pairs), only those packages' affected rows are
        replaced and advisories are upserted, for importers that work incrementally.
        """
        adv_rows = [_advisory_row(a) for a in advisories]
        aff_rows = [_affected_row(a) for a in affected]
        for row in aff_rows:
            row["source"] = source
        for row in adv_rows:
            row["source"] = source
        with self.store.begin(
            f"writing {source} records to {self.location} failed; check the database"
        ) as conn:
            if packages is None:
                conn.execute(affected_t.delete().where(affected_t.c.source == source))
                conn.execute(advisories_t.delete().where(advisories_t.c.source == source))
            else:
                for eco, name in packages:
                    conn.execute(
                        affected_t.delete().where(
                            affected_t.c.source == source,
                            affected_t.c.ecosystem == eco,
                            affected_t.c.package == name,
                        )
                    )
                ids = sorted({r["id"] for r in adv_rows})
                for chunk in _chunks(ids):
                    conn.execute(
                        advisories_t.delete().where(
                            advisories_t.c.source == source, advisories_t.c.id.in_(chunk)
                        )
                    )
            if adv_rows:
                conn.execute(advisories_t.insert(), _dedupe(adv_rows))
            if aff_rows:
                conn.execute(affected_t.insert(), aff_rows)
        return len(adv_rows), len(aff_rows)

    def replace_support(self, source: str, notes: Iterable[SupportNote]) -> int:
        rows = [
            {
                "ecosystem": n.ecosystem,
                "package": n.package,
                "kind": n.kind,
                "source": source,
                "last_version": n.last_version,
                "date": n.date,
                "note": n.note,
            }
            for n in notes
        ]
        with self.store.begin(f"writing support notes to {self.location} failed") as conn:
            conn.execute(support_t.delete().where(support_t.c.source == source))
            if rows:
                conn.execute(support_t.insert(), rows)
        return len(rows)

    def record_source(self, info: SourceInfo) -> None:
        """Remember what `info.name` imported, so `db status` and incremental runs can see it."""
        row = {
            "name": info.name,
            "location": info.location,
            "imported_at": info.imported_at.astimezone(UTC).isoformat(timespec="seconds"),
            "records": info.records,
            "state": _dumps(dict(info.state)),
        }
        with self.store.begin(f"recording source {info.name} in {self.location} failed") as conn:
            conn.execute(sources_t.delete().where(sources_t.c.name == info.name))
            conn.execute(sources_t.insert(), row)

    # -- reading ---------------------------------------------------------------------------

    def sources(self) -> list[SourceInfo]:
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            rows = conn.execute(sa.select(sources_t).order_by(sources_t.c.name)).all()
        return [
            SourceInfo(
                name=r.name,
                location=r.location,
                imported_at=datetime.fromisoformat(r.imported_at),
                records=r.records,
                state=json.loads(r.state or "{}"),
            )
            for r in rows
        ]

    def source(self, name: str) -> SourceInfo | None:
        return next((s for s in self.sources() if s.name == name), None)

    def counts(self) -> dict[str, int]:
        """Rows per table, for `db status` and the empty-database warning."""
        out: dict[str, int] = {}
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            for table in (advisories_t, affected_t, support_t):
                out[table.name] = int(
                    conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                )
        return out

    def count_source(self, source: str) -> int:
        """Affected rows one source has written."""
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            query = (
                sa.select(sa.func.count())
                .select_from(affected_t)
                .where(affected_t.c.source == source)
            )
            return int(conn.execute(query).scalar_one())

    def is_empty(self) -> bool:
        return self.counts()["affected"] == 0

    def ecosystem_counts(self) -> dict[tuple[str, str, str], int]:
        """Affected rows per (source, ecosystem, status): what data the database holds."""
        c = affected_t.c
        query = sa.select(c.source, c.ecosystem, c.status, sa.func.count()).group_by(
            c.source, c.ecosystem, c.status
        )
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            return {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(query)}

    def affected_for(self, packages: Mapping[str, Collection[str]]) -> list[Affected]:
        """Every affected row for the given {ecosystem: package names}, in a few queries."""
        out: list[Affected] = []
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            for eco, names in sorted(packages.items()):
                for chunk in _chunks(sorted(set(names))):
                    query = sa.select(affected_t).where(
                        affected_t.c.ecosystem == eco, affected_t.c.package.in_(chunk)
                    )
                    out.extend(_affected_from(r) for r in conn.execute(query))
        return out

    def advisories_for(self, ids: Collection[str]) -> dict[str, list[Advisory]]:
        """Every source's description of the given advisory ids."""
        out: dict[str, list[Advisory]] = {}
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            for chunk in _chunks(sorted(set(ids))):
                query = sa.select(advisories_t).where(advisories_t.c.id.in_(chunk))
                for r in conn.execute(query):
                    out.setdefault(r.id, []).append(_advisory_from(r))
        return out

    def support_notes(self, ecosystems: Collection[str]) -> list[SupportNote]:
        """Support notes for these ecosystems (and for every Debian release)."""
        wanted = set(ecosystems) | {e.split(":", 1)[0] for e in ecosystems}
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            query = sa.select(support_t).where(support_t.c.ecosystem.in_(sorted(wanted)))
            rows = conn.execute(query).all()
        return [
            SupportNote(
                ecosystem=r.ecosystem,
                package=r.package,
                kind=r.kind,
                source=r.source,
                last_version=r.last_version,
                date=r.date,
                note=r.note,
            )
            for r in rows
        ]


def _dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last row per primary key, so one bad feed cannot break the insert."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        seen[(row["id"], row["source"])] = row
    return list(seen.values())


def _advisory_row(a: Advisory) -> dict[str, Any]:
    return {
        "id": a.id,
        "source": a.source,
        "aliases": _dumps(list(a.aliases)),
        "upstream": _dumps(list(a.upstream)),
        "summary": a.summary,
        "severity": a.severity,
        "cvss_vector": a.cvss_vector,
        "cvss_score": a.cvss_score,
        "published": a.published,
        "modified": a.modified,
    }


def _advisory_from(r: Any) -> Advisory:
    return Advisory(
        id=r.id,
        source=r.source,
        aliases=tuple(json.loads(r.aliases or "[]")),
        upstream=tuple(json.loads(r.upstream or "[]")),
        summary=r.summary,
        severity=r.severity,
        cvss_vector=r.cvss_vector,
        cvss_score=r.cvss_score,
        published=r.published,
        modified=r.modified,
    )


def _affected_row(a: Affected) -> dict[str, Any]:
    if a.status not in STATUSES:
        raise DatabaseError(f"affected status {a.status!r} of {a.advisory_id} is not known")
    return {
        "advisory_id": a.advisory_id,
        "source": a.source,
        "ecosystem": a.ecosystem,
        "package": a.package,
        "status": a.status,
        "fixed_version": a.fixed_version,
        "ranges": _dumps(
            [{"type": r.type, "events": [list(e) for e in r.events]} for r in a.ranges]
        ),
        "versions": _dumps(list(a.versions)),
        "urgency": a.urgency,
        "note": a.note,
    }


def _affected_from(r: Any) -> Affected:
    ranges = tuple(
        Range(type=str(x["type"]), events=tuple((str(k), str(v)) for k, v in x["events"]))
        for x in json.loads(r.ranges or "[]")
    )
    return Affected(
        advisory_id=r.advisory_id,
        source=r.source,
        ecosystem=r.ecosystem,
        package=r.package,
        status=r.status,
        fixed_version=r.fixed_version,
        ranges=ranges,
        versions=tuple(json.loads(r.versions or "[]")),
        urgency=r.urgency,
        note=r.note,
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
    db: VulnDB,
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
