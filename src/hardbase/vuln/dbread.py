"""Read a SQLite vulnerability database with the standard library's sqlite3.

`hardbase scan` only reads the database, and SQLAlchemy takes about half a
second to import, more than the rest of a scan's start-up. `open_reader` gives a
`SqliteReader` for a SQLite file already at this hardbase's schema version (read
only: nothing is created or migrated), and falls back to `VulnDB` for anything
else (a PostgreSQL URL, an older schema to migrate, a file sqlite3 cannot open),
which reports errors as before. The queries are the ones VulnDB's SQLAlchemy
Core statements compile to on SQLite, so rows come back in the same order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from pathlib import Path
from urllib.parse import quote

from hardbase.util.paths import default_db_path
from hardbase.vuln.records import (
    SCHEMA_VERSION,
    Advisory,
    Affected,
    DatabaseError,
    SourceInfo,
    SupportNote,
    VulnReader,
    advisory_from,
    affected_from,
    chunks,
    source_from,
    support_from,
)


def open_reader(location: str | Path | None = None) -> VulnReader:
    """The database at `location` for reading: a SqliteReader when it can be, else VulnDB."""
    where = default_db_path() if location is None else location
    text = str(where)
    if "://" not in text:
        path: Path | None = Path(text).expanduser()
        shown = f"sqlite:///{path}"
    elif text.startswith("sqlite:///") and text[len("sqlite:///") :] not in ("", ":memory:"):
        path, shown = Path(text[len("sqlite:///") :]), text
    else:
        path = None
    if path is not None and path.is_file():
        try:
            return SqliteReader(path, shown)
        except (sqlite3.Error, _OtherSchema):
            pass
    from hardbase.vuln.db import VulnDB

    return VulnDB.open_existing(where)


class _OtherSchema(Exception):
    """The file is not at SCHEMA_VERSION: VulnDB migrates or refuses it."""


class SqliteReader:
    """A read-only sqlite3 connection to a vulnerability database at SCHEMA_VERSION."""

    def __init__(self, path: Path, location: str) -> None:
        self.location = location
        self._conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA busy_timeout=30000")  # as VulnDB: writers share the file
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None or int(row[0]) != SCHEMA_VERSION:
                raise _OtherSchema
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise DatabaseError(f"reading {self.location} failed; check --db") from exc

    def sources(self) -> list[SourceInfo]:
        return [source_from(r) for r in self._rows("SELECT * FROM sources ORDER BY name")]

    def is_empty(self) -> bool:
        rows = self._rows("SELECT count(*) FROM affected")
        return int(rows[0][0]) == 0

    def ecosystem_counts(
        self, ecosystems: Collection[str] | None = None
    ) -> dict[tuple[str, str, str], int]:
        if ecosystems is None:
            sql = "SELECT source, ecosystem, status, count(*) FROM affected GROUP BY 1, 2, 3"
            rows = self._rows(sql)
        else:  # on ix_affected_eco_pkg: only these ecosystems' rows are counted
            wanted = sorted(set(ecosystems))
            sql = (
                "SELECT source, ecosystem, status, count(*) FROM affected "
                f"WHERE ecosystem IN ({_marks(wanted)}) GROUP BY 1, 2, 3"
            )
            rows = self._rows(sql, tuple(wanted))
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    def affected_for(self, packages: Mapping[str, Collection[str]]) -> list[Affected]:
        out: list[Affected] = []
        for eco, names in sorted(packages.items()):
            for chunk in chunks(sorted(set(names))):
                sql = f"SELECT * FROM affected WHERE ecosystem = ? AND package IN ({_marks(chunk)})"
                rows = self._rows(sql, (eco, *chunk))
                out.extend(affected_from(r) for r in rows)
        return out

    def advisories_for(self, ids: Collection[str]) -> dict[str, list[Advisory]]:
        out: dict[str, list[Advisory]] = {}
        for chunk in chunks(sorted(set(ids))):
            sql = f"SELECT * FROM advisories WHERE id IN ({_marks(chunk)})"
            rows = self._rows(sql, tuple(chunk))
            for r in rows:
                out.setdefault(r["id"], []).append(advisory_from(r))
        return out

    def support_notes(self, ecosystems: Collection[str]) -> list[SupportNote]:
        wanted = sorted(set(ecosystems) | {e.split(":", 1)[0] for e in ecosystems})
        sql = f"SELECT * FROM support WHERE ecosystem IN ({_marks(wanted)})"
        return [support_from(r) for r in self._rows(sql, tuple(wanted))]


def _marks(items: Collection[object]) -> str:
    return ", ".join("?" * len(items))
