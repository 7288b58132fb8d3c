"""Load on `hardbase serve`: 50 concurrent clients for 30 s against the fleet overview (the
HTML page and GET /api/v1/images) and the events API, over a state database of 500 images
and 100,000 events.

The state is synthetic (written straight into the tables by this bench, marked as such:
images `bench/img-NNN`, events of the controller's kinds with made-up details); the
service is the real one, `hardbase serve --no-watch` as a subprocess on 127.0.0.1, and the
clients are threads in this process, each with a keep-alive connection (http.client),
each sending its next request when its last one is answered. Bounded: 30 s
(BENCH_SERVE_SECONDS) or 500,000 requests, whichever comes first.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

from common import REPO, Result

sys.path.insert(0, str(REPO / "src"))  # this tree's hardbase, here and in the service
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "serve"))
sys.path.insert(0, str(REPO / "tests" / "lifecycle"))

IMAGES = 500
EVENTS = 100_000
CLIENTS = 50
KINDS = ("job-created", "job-started", "built", "verified", "signed", "pushed", "published")


def _state(work: Path) -> Path:
    """The fleet file and its synthetic state database."""
    import sqlalchemy as sa

    from hardbase.lifecycle import state as st

    db = work / "state.db"
    lines = [
        "registry: {url: '127.0.0.1:5000', insecure: true}",
        f"state: {db}",
        f"vulndb: {work / 'no-vuln.db'}",
        f"sign_key: {work / 'cosign.key'}",
        "serve: {sla_target: 4h}",
        "images:",
    ]
    names = [f"bench/img-{i:03d}" for i in range(IMAGES)]
    lines += [f"  - {{spec: {n}.yaml, repository: {n}, tags: [latest]}}" for n in names]
    fleet = work / "fleet.yaml"
    fleet.write_text("\n".join(lines) + "\n")
    rng = random.Random(7)
    now = time.time()
    with st.StateDB.open(f"sqlite:///{db}") as state, state.engine.begin() as conn:
        conn.execute(
            st.images_t.insert(),
            [
                {
                    "name": n,
                    "spec": f"{n}.yaml",
                    "tags": '["latest"]',
                    "digest": "sha256:" + f"{i:064x}",
                    "lock_hash": f"{i:064x}",
                    "published_at": now - rng.uniform(0, 30 * 86400),
                    "last_job": None,
                    "last_reason": "bench (synthetic)",
                    "findings": json.dumps(
                        {"fixable": rng.choice([0, 0, 0, 1, 2]), "no-fix": rng.randint(0, 6)}
                    ),
                    "checked_at": now,
                }  # fmt: skip
                for i, n in enumerate(names)
            ],
        )
        jobs, fixes = [], []
        for i, n in enumerate(names):
            for j in range(3):
                published = now - rng.uniform(0, 30 * 86400)
                jobs.append(
                    {
                        "key": f"{n}@bench{j}",
                        "image": n,
                        "lock_hash": f"{i:064x}",
                        "state": st.PUBLISHED if j < 2 or i % 10 else st.FAILED,
                        "reason": "bench (synthetic)",
                        "plan": "{}",
                        "version_tag": f"20261201.{j + 1}",
                        "digest": "",
                        "attempts": 1,
                        "error": "",
                        "created_at": published - 60,
                        "updated_at": published,
                    }  # fmt: skip
                )
                fixes.append(
                    {
                        "image": n,
                        "key": f"finding:BENCH-{j}:pkg",
                        "first_seen": published - rng.lognormvariate(7, 1.2),
                        "published_at": published,
                        "job": None,
                    }  # fmt: skip
                )
        conn.execute(st.jobs_t.insert(), jobs)
        conn.execute(st.fixes_t.insert(), fixes)
        start = now - 30 * 86400
        batch = []
        for k in range(EVENTS):
            batch.append(
                {
                    "ts": start + k * (30 * 86400 / EVENTS),
                    "image": names[k % IMAGES],
                    "job": k % 3000 + 1,
                    "kind": KINDS[k % len(KINDS)],
                    "detail": '{"bench": "synthetic"}',
                }  # fmt: skip
            )
            if len(batch) == 10_000:
                conn.execute(st.events_t.insert(), batch)
                batch = []
        if batch:
            conn.execute(st.events_t.insert(), batch)
        assert conn.execute(sa.select(sa.func.count()).select_from(st.events_t)).scalar() == EVENTS
    return fleet


PATHS = {
    "GET / (overview page)": "/",
    "GET /api/v1/images?limit=100": "/api/v1/images?limit=100",
    "GET /api/v1/events?limit=50": "/api/v1/events?limit=50",
    "GET /api/v1/events?image=…&kind=published": (
        "/api/v1/events?image=bench/img-042&kind=published"
    ),
}


def _load(port: int, token: str, seconds: float) -> tuple[dict[str, list[float]], list[str]]:
    """CLIENTS threads, each with its own keep-alive connection, one request after another."""
    times: dict[str, list[float]] = {name: [] for name in PATHS}
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    budget = [500_000]
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"}

    def worker(n: int) -> None:
        names = list(PATHS)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        k = n
        mine: dict[str, list[float]] = {name: [] for name in PATHS}
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            name = names[k % len(names)]
            k += 1
            started = time.perf_counter()
            try:
                conn.request("GET", PATHS[name], headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as exc:
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with lock:
                    errors.append(f"{name}: {exc!r}")
            elapsed = time.perf_counter() - started
            if status == 200:
                mine[name].append(elapsed)
            elif status:
                with lock:
                    errors.append(f"{name}: HTTP {status}")
        conn.close()
        with lock:
            for name, values in mine.items():
                times[name].extend(values)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors


def _one_client(port: int, token: str, count: int) -> dict[str, list[float]]:
    """Each path `count` times from one client: the service time without queueing."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out: dict[str, list[float]] = {}
    for name, path in PATHS.items():
        out[name] = []
        for _ in range(count):
            started = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, (path, resp.status)
            out[name].append(time.perf_counter() - started)
    conn.close()
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def run(work: Path) -> list[Result]:
    from serve_world import create_token, start_service

    started = time.monotonic()
    fleet = _state(work)
    setup = time.monotonic() - started
    token = create_token(fleet, "read")
    service = start_service(fleet, work / "serve.log", "--no-watch", "-q")
    seconds = float(os.environ.get("BENCH_SERVE_SECONDS", "30"))
    try:
        for path in ("/", "/api/v1/images?limit=100", "/api/v1/events?limit=50"):
            service.request("GET", path, token=token)  # warm the caches once
        alone = _one_client(service.port, token, 100)
        times, failures = _load(service.port, token, seconds)
    finally:
        code = service.stop()
    errors = len(failures)
    if failures:
        print("   first errors:", failures[:3], flush=True)
    total = sum(len(v) for v in times.values())
    results = [
        Result("serve: synthetic state (500 images, 100,000 events) written", setup, "s"),
        Result(
            "serve: requests answered",
            float(total),
            "req",
            f"{total / seconds:.0f}/s, {CLIENTS} clients, {seconds:.0f} s",
        ),  # fmt: skip
        Result("serve: errors", float(errors), "req", f"service exit {code}"),
    ]
    for name, values in alone.items():
        results.append(Result(f"serve: 1 client, {name} p50", _pct(values, 50) * 1000, "ms",
                              f"p95 {_pct(values, 95) * 1000:.1f} ms"))  # fmt: skip
    for name, values in times.items():
        if not values:
            continue
        results.append(Result(f"serve: {name} p50", _pct(values, 50) * 1000, "ms",
                              f"{len(values)} requests"))  # fmt: skip
        results.append(Result(f"serve: {name} p95", _pct(values, 95) * 1000, "ms",
                              f"max {max(values) * 1000:.0f} ms, mean "
                              f"{statistics.fmean(values) * 1000:.1f} ms"))  # fmt: skip
    return results
