"""`hardbase serve` with its controller: anonymous reading when the fleet allows it, and a
SIGTERM during a pass that lets the pass finish its job (published once) before exiting 0."""

from __future__ import annotations

import json
import time

import pytest
from lifecycle_world import World
from serve_world import ENV, create_token, start_service

from hardbase.lifecycle.state import StateDB

pytestmark = [pytest.mark.archive, pytest.mark.slow]


def test_anonymous_reads_and_a_sigterm_mid_pass_finishes_the_job(watched: World) -> None:
    fleet = watched.root / "fleet-anonymous.yaml"
    text = (watched.root / "fleet.yaml").read_text()
    fleet.write_text(text.replace("serve: {sla_target: 1h}", "serve: {anonymous_read: true}"))
    admin = create_token(fleet, "admin")
    service = start_service(fleet, watched.root / "serve-anonymous.log", env=ENV)
    try:
        status, _, body = service.request("GET", "/api/v1/images")
        assert status == 200 and len(json.loads(body)["items"]) == 2
        status, _, _ = service.request("GET", "/")  # the dashboard too, without signing in
        assert status == 200
        status, _, body = service.request("POST", "/api/v1/images/hardbase/b/rebuild")
        assert status == 401 and "admin" in json.loads(body)["error"]["message"]
        status, _, body = service.request("POST", "/api/v1/images/hardbase/b/rebuild", token=admin)
        assert status == 202, body
        job = json.loads(body)["job"]["id"]
        deadline = time.monotonic() + 120
        started = False
        while time.monotonic() < deadline and not started:
            status, _, body = service.request("GET", f"/api/v1/events?job={job}")
            started = any(e["kind"] == "job-started" for e in json.loads(body)["items"])
            time.sleep(0.05)
        assert started
    finally:
        code = service.stop()  # SIGTERM while the job runs
    log = service.log.read_text()
    assert code == 0, log[-2000:]
    with StateDB.open(f"sqlite:///{watched.root / 'state.db'}") as state:
        finished = state.job(job)
        assert finished is not None and finished.state == "published", finished
        assert len(state.events(job=job, kind="published")) == 1
    assert "waiting up to 60s for the pass in progress" in log  # SIGTERM came mid-pass
    assert log.rindex("published") < log.rindex("stopped")
