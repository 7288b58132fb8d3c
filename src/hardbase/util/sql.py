"""The SQL plumbing shared by hardbase's databases: engine, pragmas, schema version, errors.

The vulnerability database (`hardbase.vuln.db`) and the controller's state
database (`hardbase.lifecycle.state`) are SQLAlchemy Core over SQLite (a file)
or PostgreSQL (a URL). `SQLStore.open` makes the engine, sets one set of
SQLite pragmas, creates a new database at the newest schema, brings an older
one up to date through its migrations, and refuses one newer than this
hardbase. `SQLStore.begin()` / `connect()` turn SQLAlchemy's exceptions into the
store's own `HardbaseError` subclass.

Adding a column (or table, or index) is one change in the owning module:

1. add it to the `sa.Table` there, so that a new database gets it;
2. append one function to that module's `Schema(migrations=...)` tuple that
   makes the same change to a database of the previous version, for example::

       def _add_severity_source(conn: sa.Connection) -> None:
           conn.execute(sa.text(
               "ALTER TABLE advisories ADD COLUMN severity_source "
               "VARCHAR(32) NOT NULL DEFAULT ''"
           ))

   The schema version is 1 + the number of migrations, so appending is all it
   takes. Pending migrations run in order, in one transaction together with the
   version update (SQLite and PostgreSQL both roll DDL back), so a failed
   migration leaves the database as it was. Never edit or reorder a migration
   that has landed; write a new one. Statements must work on both engines
   (`ALTER TABLE ... ADD COLUMN ... DEFAULT ...`, `CREATE INDEX`, or
   `some_table.create(conn)` for a new table do).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hardbase.errors import HardbaseError

log = logging.getLogger(__name__)

Migration = Callable[[sa.Connection], None]

_SCHEMA_KEY = "schema"


@dataclass(frozen=True)
class Schema:
    """A database's tables, the table holding its schema version, and its migrations.

    `meta` has a string primary key `key` and a text `value`; the row with key
    "schema" holds the version. `migrations[i]` moves a database from version
    i + 1 to version i + 2.
    """

    metadata: sa.MetaData
    meta: sa.Table
    migrations: Sequence[Migration] = ()

    @property
    def version(self) -> int:
        return 1 + len(self.migrations)


def sqlite_url(location: str | Path, error: type[HardbaseError], what: str) -> str:
    """A SQLAlchemy URL for a path or URL; for a SQLite file, its directory is created."""
    text = str(location)
    if "://" in text:
        path = text[len("sqlite:///") :] if text.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            return text
        target = Path(path)
    else:
        target = Path(text).expanduser()
        text = f"sqlite:///{target}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(
            f"cannot create the directory for {what} {target}; use a writable path"
        ) from exc
    return text


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the one writer
    cur.execute("PRAGMA busy_timeout=30000")  # several workers share one file
    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses no committed tx
    cur.close()


class SQLStore:
    """An engine with its schema checked, and transactions whose failures are `error`."""

    def __init__(self, engine: sa.Engine, location: str, error: type[HardbaseError]) -> None:
        self.engine = engine
        self.location = location
        self.error = error

    @classmethod
    def open(
        cls, url: str, schema: Schema, *, error: type[HardbaseError], what: str, hint: str
    ) -> SQLStore:
        """Open `url`, creating or migrating `schema`; `hint` says what to check on failure."""
        shown = sa.engine.make_url(url).render_as_string(hide_password=True)
        try:
            engine = sa.create_engine(url, future=True)
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            _prepare(engine, schema, error, f"{what} {shown}")
        except SQLAlchemyError as exc:
            raise error(f"cannot open {what} {shown}; {hint}") from exc
        except ImportError as exc:
            raise error(
                f"the database driver for {shown} is not installed ({exc.name}); install it"
            ) from None
        return cls(engine, shown, error)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self, failure: str = "") -> Iterator[sa.Connection]:
        """A transaction; a database failure becomes `self.error(failure)`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self.error(failure or f"the database {self.location} failed") from exc

    @contextmanager
    def connect(self, failure: str = "") -> Iterator[sa.Connection]:
        """A connection for reading; a database failure becomes `self.error(failure)`."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self.error(failure or f"reading {self.location} failed") from exc


def schema_version(conn: sa.Connection, schema: Schema) -> int | None:
    """The version stored in the database, None when it has no schema yet."""
    if not sa.inspect(conn).has_table(schema.meta.name):
        return None
    row = conn.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == _SCHEMA_KEY)
    ).first()
    return None if row is None else int(row[0])


def _prepare(engine: sa.Engine, schema: Schema, error: type[HardbaseError], shown: str) -> None:
    with engine.begin() as conn:
        found = schema_version(conn, schema)
        if found is None:
            schema.metadata.create_all(conn)
            conn.execute(schema.meta.insert(), {"key": _SCHEMA_KEY, "value": str(schema.version)})
            return
        if found > schema.version:
            raise error(
                f"{shown} has schema version {found}, newer than the {schema.version} this "
                "hardbase knows; upgrade hardbase or use another database"
            )
        if found < schema.version:
            # The version update comes first: with SQLite's Python driver the
            # transaction begins at the first data change, so the DDL after it
            # is inside the transaction and rolls back with it.
            conn.execute(
                schema.meta.update()
                .where(schema.meta.c.key == _SCHEMA_KEY)
                .values(value=str(schema.version))
            )
            for number in range(found, schema.version):
                log.info("migrating %s from schema %d to %d", shown, number, number + 1)
                schema.migrations[number - 1](conn)
        schema.metadata.create_all(conn)  # tables and indexes a migration did not need to make
