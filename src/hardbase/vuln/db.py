"""The local vulnerability database: advisories, affected packages, sources, support notes.

SQLAlchemy Core over SQLite (a file by default) or PostgreSQL (a URL), so
several machines can share one. Importers replace their own rows in bulk;
matching reads the rows for an inventory's package names in a few queries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hardbase.util.paths import default_db_path
from hardbase.util.sql import Schema, SQLStore, sqlite_url

# records.py holds the records (SQLAlchemy-free); importers and tests take them from here
from hardbase.vuln.records import FIXED as FIXED
from hardbase.vuln.records import NOT_AFFECTED as NOT_AFFECTED
from hardbase.vuln.records import OPEN as OPEN
from hardbase.vuln.records import (
    STATUSES,
    advisory_from,
    affected_from,
    chunks,
    source_from,
    support_from,
)
from hardbase.vuln.records import WONT_FIX as WONT_FIX
from hardbase.vuln.records import Advisory as Advisory
from hardbase.vuln.records import Affected as Affected
from hardbase.vuln.records import DatabaseError as DatabaseError
from hardbase.vuln.records import Range as Range
from hardbase.vuln.records import SourceInfo as SourceInfo
from hardbase.vuln.records import SupportNote as SupportNote
from hardbase.vuln.records import age_text as age_text
from hardbase.vuln.records import require_data as require_data

log = logging.getLogger(__name__)

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
# Then raise SCHEMA_VERSION in records.py (the read-only reader checks it; a test holds
# the two equal).
SCHEMA = Schema(_md, meta_t, migrations=(_reread_changelogs_for_urgency,))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


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
                for chunk in chunks(ids):
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
        return [source_from(r._mapping) for r in rows]

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

    def ecosystem_counts(
        self, ecosystems: Collection[str] | None = None
    ) -> dict[tuple[str, str, str], int]:
        """Affected rows per (source, ecosystem, status): what data the database holds

        (for `ecosystems` alone when given: a scan counts only those it reports on).
        """
        c = affected_t.c
        query = sa.select(c.source, c.ecosystem, c.status, sa.func.count()).group_by(
            c.source, c.ecosystem, c.status
        )
        if ecosystems is not None:
            query = query.where(c.ecosystem.in_(sorted(set(ecosystems))))
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            return {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(query)}

    def affected_for(self, packages: Mapping[str, Collection[str]]) -> list[Affected]:
        """Every affected row for the given {ecosystem: package names}, in a few queries."""
        out: list[Affected] = []
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            for eco, names in sorted(packages.items()):
                for chunk in chunks(sorted(set(names))):
                    query = sa.select(affected_t).where(
                        affected_t.c.ecosystem == eco, affected_t.c.package.in_(chunk)
                    )
                    out.extend(affected_from(r._mapping) for r in conn.execute(query))
        return out

    def advisories_for(self, ids: Collection[str]) -> dict[str, list[Advisory]]:
        """Every source's description of the given advisory ids."""
        out: dict[str, list[Advisory]] = {}
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            for chunk in chunks(sorted(set(ids))):
                query = sa.select(advisories_t).where(advisories_t.c.id.in_(chunk))
                for r in conn.execute(query):
                    out.setdefault(r.id, []).append(advisory_from(r._mapping))
        return out

    def support_notes(self, ecosystems: Collection[str]) -> list[SupportNote]:
        """Support notes for these ecosystems (and for every Debian release)."""
        wanted = set(ecosystems) | {e.split(":", 1)[0] for e in ecosystems}
        with self.store.connect(f"reading {self.location} failed; check --db") as conn:
            query = sa.select(support_t).where(support_t.c.ecosystem.in_(sorted(wanted)))
            rows = conn.execute(query).all()
        return [support_from(r._mapping) for r in rows]


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
