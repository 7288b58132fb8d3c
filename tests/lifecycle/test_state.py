"""The state database on SQLite and PostgreSQL: idempotent jobs, leases, exactly-once publish."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hardbase.lifecycle.state import (
    BUILT,
    PUBLISHED,
    QUEUED,
    StateDB,
    StateError,
    new_owner,
    owner_gone,
)
from hardbase.lifecycle.status import fleet_status, percentile, render_table


def dead_owner() -> str:
    """The owner id of a process that has exited (a controller killed earlier)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import hardbase.lifecycle.state as s; print(s.new_owner())"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return proc.stdout.strip()


def exercise(state: StateDB) -> None:
    state.ensure_image("hb/a", "a.yaml", ["latest"])
    state.put_lock("hb/a", "h1", "{}")
    state.see_fixes("hb/a", ["package:libfoo1:amd64=2"])
    job, created = state.create_job("hb/a", "h1", "libfoo1 1 -> 2", {"fixes": []}, "20261127.1")
    again, created_again = state.create_job("hb/a", "h1", "other", {}, "20261127.2")
    assert created and not created_again and again.id == job.id
    assert state.versions_on("hb/a", "20261127") == 1

    dead = dead_owner()
    assert owner_gone(dead) and not owner_gone(new_owner())
    held = state.claim(job.id, dead, 600)
    assert held is not None and held.lease_owner == dead
    live = "other-host:1:abcd"
    taken = state.claim(job.id, live, 600)  # the dead owner's lease is taken over
    assert taken is not None and taken.attempts == 2
    me = new_owner()
    assert state.claim(job.id, me, 600) is None  # a live lease on another host holds
    state.release(taken, live)
    mine = state.claim(job.id, me, 600)
    assert mine is not None and mine.attempts == 3
    with pytest.raises(StateError, match="lost its lease"):
        state.advance(mine, dead, BUILT, "built")
    mine = state.advance(mine, me, BUILT, "built", digest="sha256:" + "a" * 64)
    assert mine.state == BUILT
    first = state.publish(mine, me, mine.digest, ["package:libfoo1:amd64=2"], tags=["latest"])
    second = state.publish(mine, me, mine.digest, ["package:libfoo1:amd64=2"])
    assert first is not None and second is None
    assert state.claim(job.id, me, 600) is None  # finished jobs are never claimed again
    assert [e.kind for e in state.events(job=job.id)] == [
        "job-created", "job-started", "job-resumed", "job-resumed", "built", PUBLISHED,
    ]  # fmt: skip
    image = state.image("hb/a")
    assert image is not None and image.digest == mine.digest and image.lock_hash == "h1"
    times = state.remediation_times("hb/a")
    assert len(times) == 1 and times[0] >= 0
    [status] = fleet_status(state, ["hb/a"])
    assert status.remediation.count == 1 and status.last_state == PUBLISHED
    assert "hb/a" in render_table([status])
    job2, _ = state.create_job("hb/a", "h2", "r", {}, "20261127.2")
    assert job2.state == QUEUED


def test_sqlite(tmp_path: Path) -> None:
    with StateDB.open(f"sqlite:///{tmp_path / 'sub' / 'state.db'}") as state:
        exercise(state)


def test_postgresql(postgres: str) -> None:
    with StateDB.open(f"{postgres}/postgres") as state:
        exercise(state)


def test_unreachable_database_is_one_sentence() -> None:
    with pytest.raises(StateError, match="cannot open the state database"):
        StateDB.open("postgresql+psycopg2://nobody@127.0.0.1:1/none")


def test_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_a_digest_read_back_is_checked(tmp_path: Path) -> None:
    import sqlite3

    from hardbase.util.digest import Digest

    path = tmp_path / "state.db"
    good = Digest.of(b"an image")
    with StateDB.open(f"sqlite:///{path}") as state:
        state.ensure_image("hb/a", "a.yaml", ["latest"])
        job, _ = state.create_job("hb/a", "h1", "r", {}, "20261127.1")
        owner = new_owner()
        held = state.claim(job.id, owner, 600)
        assert held is not None
        state.publish(held, owner, good, [])
        image = state.image("hb/a")
        assert image is not None and isinstance(image.digest, Digest) and image.digest == good
    with sqlite3.connect(path) as conn:  # a damaged row, as a bad restore would leave it
        conn.execute("UPDATE lc_images SET digest = 'sha256:../../etc' WHERE name = 'hb/a'")
    with StateDB.open(f"sqlite:///{path}") as state:
        with pytest.raises(StateError) as caught:
            state.image("hb/a")
    assert caught.value.diagnostics() == (
        "the state database's digest of image hb/a is damaged: 'sha256:../../etc' is not a "
        "sha256 digest (sha256: followed by 64 lowercase hex digits)"
    )
