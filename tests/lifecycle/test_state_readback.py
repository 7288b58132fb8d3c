"""A job the state database just wrote is read back; when another controller deleted it
in between, the write ends in one StateError sentence instead of a job that is not there.

The other controller is stood for by an SQLite trigger on the real database file: it
deletes the job in the same transaction that writes it, so the read-back finds nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hardbase.lifecycle.state import BUILT, StateDB, StateError, new_owner


def delete_on_event(path: Path, kind: str) -> None:
    """Install the fixture trigger: an event of `kind` deletes its job."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TRIGGER fixture_delete_{kind.replace('-', '_')} AFTER INSERT ON lc_events "
            f"WHEN NEW.kind = '{kind}' BEGIN DELETE FROM lc_jobs WHERE id = NEW.job; END"
        )
    conn.close()


def test_a_job_deleted_as_it_is_created_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB.open(f"sqlite:///{path}") as state:
        state.ensure_image("hb/a", "a.yaml", ["latest"])
        delete_on_event(path, "job-created")
        with pytest.raises(StateError) as raised:
            state.create_job("hb/a", "h1", "fixture reason", {}, "20261204.1")
        assert raised.value.diagnostics() == (
            "job 1 was deleted by another controller as it was written"
        )
        assert state.job(1) is None


def test_a_job_deleted_as_it_advances_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB.open(f"sqlite:///{path}") as state:
        state.ensure_image("hb/a", "a.yaml", ["latest"])
        job, created = state.create_job("hb/a", "h1", "fixture reason", {}, "20261204.1")
        owner = new_owner()
        held = state.claim(job.id, owner, 600)
        assert created and held is not None
        delete_on_event(path, "built")
        with pytest.raises(StateError) as raised:
            state.advance(held, owner, BUILT, "built")
        assert raised.value.diagnostics() == (
            f"job {job.id} was deleted by another controller as it was written"
        )
