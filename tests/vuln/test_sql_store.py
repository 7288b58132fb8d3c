"""The shared SQL store: new databases, migrations, refusals; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hardbase.errors import HardbaseError
from hardbase.lifecycle.state import StateDB
from hardbase.util.sql import Schema, SQLStore, schema_version
from hardbase.vuln.db import VulnDB


class StoreError(HardbaseError):
    pass


def _tables(with_colour: bool) -> tuple[sa.MetaData, sa.Table]:
    md = sa.MetaData()
    meta = sa.Table(
        "t_meta",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    columns = [sa.Column("name", sa.String(64), primary_key=True)]
    if with_colour:
        columns.append(sa.Column("colour", sa.String(16), nullable=False, default=""))
    sa.Table("things", md, *columns)
    return md, meta


def _add_colour(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE things ADD COLUMN colour VARCHAR(16) NOT NULL DEFAULT ''"))


def _broken(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE things ADD COLUMN size INTEGER NOT NULL DEFAULT 0"))
    conn.execute(sa.text("ALTER TABLE no_such_table ADD COLUMN x INTEGER"))


V1 = Schema(*_tables(False))
V2 = Schema(*_tables(True), migrations=(_add_colour,))


def _open(url: str, schema: Schema) -> SQLStore:
    return SQLStore.open(url, schema, error=StoreError, what="the test store", hint="check it")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield request.getfixturevalue("postgres_db")


def _columns(store: SQLStore) -> list[str]:
    with store.connect() as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns("things")]


def _version(store: SQLStore, schema: Schema) -> int | None:
    with store.connect() as conn:
        return schema_version(conn, schema)


def test_the_reader_expects_the_schema_the_migrations_make() -> None:
    from hardbase.vuln.db import SCHEMA
    from hardbase.vuln.records import SCHEMA_VERSION

    assert SCHEMA.version == SCHEMA_VERSION, "update SCHEMA_VERSION in records.py"


def test_a_new_database_gets_the_newest_schema(url: str) -> None:
    store = _open(url, V2)
    assert _version(store, V2) == 2
    assert _columns(store) == ["name", "colour"]
    store.close()


def test_an_old_database_is_migrated_and_keeps_its_rows(url: str) -> None:
    old = _open(url, V1)
    with old.begin() as conn:
        conn.execute(sa.text("INSERT INTO things (name) VALUES ('kept')"))
    old.close()
    new = _open(url, V2)
    assert _version(new, V2) == 2
    with new.connect() as conn:
        assert conn.execute(sa.text("SELECT name, colour FROM things")).all() == [("kept", "")]
    new.close()
    again = _open(url, V2)  # opening at the same version changes nothing
    assert _version(again, V2) == 2
    again.close()


def test_a_failed_migration_leaves_the_database_as_it_was(url: str) -> None:
    _open(url, V1).close()
    broken = Schema(*_tables(False), migrations=(_broken,))
    with pytest.raises(StoreError, match="cannot open the test store"):
        _open(url, broken)
    store = _open(url, V1)
    assert _version(store, V1) == 1
    assert _columns(store) == ["name"]  # the first ALTER was rolled back with the second
    store.close()


def test_a_newer_database_is_refused(url: str) -> None:
    _open(url, V2).close()
    with pytest.raises(StoreError, match="schema version 2, newer than the 1"):
        _open(url, V1)


def test_both_databases_use_the_store(tmp_path: Path) -> None:
    vuln = VulnDB.open(tmp_path / "sub" / "vuln.db")
    state = StateDB.open(f"sqlite:///{tmp_path / 'deeper' / 'state.db'}")
    for store in (vuln.store, state.store):
        with store.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    vuln.close()
    state.close()


def test_schema_2_makes_the_changelog_importer_reread_for_urgencies(tmp_path: Path) -> None:
    """A schema-1 vulnerability database keeps its rows; the changelog state is forgotten."""
    from datetime import UTC, datetime

    from hardbase.vuln.db import FIXED, SCHEMA, Affected, SourceInfo, VulnDB, meta_t

    path = tmp_path / "v1.db"
    with VulnDB.open(path) as db:
        row = Affected("CVE-2099-4001", "debian-changelog", "debian:12", "fixture-openssl", FIXED,
                       "3.0.14-1~deb12u1")  # fmt: skip
        db.replace("debian-changelog", (), [row])
        state = {"bookworm/fixture-openssl": "3.0.14-1~deb12u1"}
        db.record_source(SourceInfo("debian-changelog", "fixture", datetime.now(UTC), 1, state))
        db.record_source(SourceInfo("osv", "fixture", datetime.now(UTC), 0, {"affected": "0"}))
        with db.store.begin() as conn:  # what a database written by the previous hardbase holds
            conn.execute(meta_t.update().where(meta_t.c.key == "schema").values(value="1"))
    assert SCHEMA.version == 2
    with VulnDB.open(path) as db:
        changelog, osv = db.source("debian-changelog"), db.source("osv")
        assert changelog is not None and dict(changelog.state) == {}
        assert osv is not None and dict(osv.state) == {"affected": "0"}
        assert db.count_source("debian-changelog") == 1  # rows stay until the next update
        with db.store.connect() as conn:
            version = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "schema"))
            assert version.scalar_one() == "2"
