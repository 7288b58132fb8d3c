"""One status vocabulary: the database's rows and the matcher's findings, read back as enums.

The values are the strings the databases already hold, so a database written by an
earlier hardbase reads back unchanged; a value this hardbase does not know is one
sentence, not a ValueError traceback.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from hardbase.lifecycle.state import JobState, StateDB, StateError, jobs_t
from hardbase.vuln.db import Affected, VulnDB
from hardbase.vuln.dbread import SqliteReader
from hardbase.vuln.match import FINDING_STATUSES
from hardbase.vuln.records import AffectedStatus, DatabaseError, FindingStatus


def test_the_values_are_the_stored_strings() -> None:
    assert [str(s) for s in AffectedStatus] == ["fixed", "open", "wont-fix", "not-affected"]
    assert list(FINDING_STATUSES) == ["fixable", "no-fix", "wont-fix", "not-affected"]
    assert FindingStatus.WONT_FIX == AffectedStatus.WONT_FIX == "wont-fix"
    assert json.dumps({FindingStatus.FIXABLE: FindingStatus.NO_FIX}) == '{"fixable": "no-fix"}'
    assert [str(s) for s in JobState] == [
        "queued", "built", "verified", "signed", "pushed", "published", "failed",
    ]  # fmt: skip


def _write(path: Path, status: str) -> None:
    with VulnDB.open(path) as db:
        row = Affected("CVE-2026-0001", "osv", "pypi", "demo", AffectedStatus.WONT_FIX)
        db.replace("osv", [], [row])
    with sqlite3.connect(path) as conn:  # as an earlier hardbase (or a newer one) left it
        conn.execute("UPDATE affected SET status = ?", (status,))


@pytest.mark.parametrize("status", list(AffectedStatus))
def test_rows_read_back_as_the_enum_by_both_readers(tmp_path: Path, status: str) -> None:
    path = tmp_path / "vuln.db"
    _write(path, str(status))
    with VulnDB.open(path) as db:
        [row] = db.affected_for({"pypi": ["demo"]})
    reader = SqliteReader(path, f"sqlite:///{path}")
    [fast] = reader.affected_for({"pypi": ["demo"]})
    reader.close()
    assert row.status is fast.status is AffectedStatus(status)


def test_an_unknown_row_status_is_a_database_error(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    _write(path, "maybe")
    with VulnDB.open(path) as db, pytest.raises(DatabaseError, match="status 'maybe'"):
        db.affected_for({"pypi": ["demo"]})
    reader = SqliteReader(path, f"sqlite:///{path}")
    with pytest.raises(DatabaseError, match="status 'maybe'"):
        reader.affected_for({"pypi": ["demo"]})
    reader.close()


def test_job_states_read_back_and_an_unknown_one_is_a_state_error(tmp_path: Path) -> None:
    with StateDB.open(str(tmp_path / "state.db")) as state:
        state.ensure_image("hb/a", "a.yaml", ["latest"])
        state.put_lock("hb/a", "h1", "{}")
        job, _ = state.create_job("hb/a", "h1", "test", {}, "20261203.1")
        assert job.state is JobState.QUEUED
        with state.engine.begin() as conn:
            conn.execute(sa.update(jobs_t).values(state="pushed"))
        found = state.job(job.id)
        assert found is not None and found.state is JobState.PUSHED
        with state.engine.begin() as conn:
            conn.execute(sa.update(jobs_t).values(state="parked"))
        with pytest.raises(StateError, match="state 'parked'"):
            state.job(job.id)
