"""SIGKILL the controller mid-build and mid-push; the restarted controller finishes each job once.

The controller runs as `python3 -m hardbase watch --fleet F --once`; to kill it inside
a step, it runs through paused_watch.py, whose job hook stops it at the named point
(after the build made progress, after the push uploaded its first blob) and writes a
marker file, then the test kills it with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lifecycle_world import World

from hardbase.lifecycle.state import StateDB

pytestmark = [pytest.mark.archive, pytest.mark.slow]


PAUSED = Path(__file__).with_name("paused_watch.py")


def controller(fleet: Path, pause: tuple[str, Path] | None = None) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HARDBASE_REGISTRY_")}
    full["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    command = [sys.executable, "-m", "hardbase"]
    if pause is not None:
        command = [sys.executable, str(PAUSED), pause[0], str(pause[1])]
    return subprocess.Popen(
        [*command, "-q", "watch", "--fleet", str(fleet), "--once"],
        env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_to_end(fleet: Path, *, timeout: float = 300) -> str:
    proc = controller(fleet)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out + err
    return out


def kill_at(fleet: Path, point: str, marker: Path, *, wait: float = 120) -> None:
    proc = controller(fleet, (point, marker))
    try:
        deadline = time.monotonic() + wait
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the controller ended before reaching {point}: {out}{err}")
            if time.monotonic() > deadline:
                pytest.fail(f"the controller never reached {point}")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", ["build", "push"])
def test_killed_controller_resumes_and_publishes_once(
    world: World, tmp_path: Path, point: str
) -> None:
    fleet = world.fleet()
    run_to_end(fleet)  # first publish
    before = {r: world.registry.manifest_digests(f"hardbase/{r}") for r in ("a", "b")}
    world.fix_netbase()
    kill_at(fleet, point, tmp_path / "paused")
    state_url = f"sqlite:///{world.root / 'state.db'}"
    with StateDB.open(state_url) as state:
        interrupted = [j for j in state.jobs() if j.state != "published"]
        assert interrupted, "the kill left no job unfinished"
        assert all(j.lease_owner for j in interrupted)  # held by the dead controller
        if point == "push":
            assert any(j.state == "signed" for j in interrupted)
    run_to_end(fleet)
    with StateDB.open(state_url) as state:
        for name in ("a", "b"):
            repo = f"hardbase/{name}"
            jobs = state.jobs(image=repo)
            assert [j.state for j in jobs] == ["published", "published"]
            job = jobs[-1]
            image = state.image(repo)
            assert image is not None and image.digest == job.digest
            for kind in ("built", "verified", "signed", "pushed", "published"):
                assert len(state.events(job=job.id, kind=kind)) == 1, (name, kind)
            assert job.digest in world.registry.manifest_digests(repo) - before[name]
        resumed = state.events(kind="job-resumed")
        assert resumed, "the restarted controller resumed the interrupted job"
    published = [
        p
        for p in world.webhook.posts
        if p["event"] == "published" and "netbase 6.5 ->" in p["reason"]
    ]
    assert sorted(p["repository"] for p in published) == ["hardbase/a", "hardbase/b"]
