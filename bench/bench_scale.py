"""The controller at scale: 200 images, in-process and on Celery workers, in one run.

The fixture archive on 127.0.0.1 holds trixie's static preset (real .debs from
deb.debian.org) and, in trixie-security, a fixed netbase (a dpkg-deb rebuild
of the real .deb: a fixture); every image of the fleet of 200 (the static
preset, each with its own env) shares it. Each configuration gets a fresh
registry, state database and caches, and one `hardbase watch --once` pass
publishes all 200 images with the fix:

- in-process: the controller runs the jobs on `concurrency` threads;
- Celery, 1 worker: the controller plans, one `hardbase worker` runs them;
- Celery, 2 workers: the same with two worker processes.

Workers take `--concurrency` jobs at once, as many as the in-process
controller's threads, so 1 worker and in-process run the same number of jobs
side by side. Reported: images per minute over the pass, and the p95 of fix
seen -> published per image (from the pass's start, when the fix is in the
archive, to the image's `published` event). State and vulnerability database
are PostgreSQL for all three (Celery needs it); the broker is Debian's
redis-server. Everything runs on this machine's cores, so two workers share
them with the controller, Redis and PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, Result

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "lifecycle"))

IMAGES = int(os.environ.get("HARDBASE_BENCH_SCALE_IMAGES", "200"))
CONCURRENCY = 2


def _fleet(work: Path, registry, key: Path, archive, database: str, broker: str | None) -> Path:  # type: ignore[no-untyped-def]
    from bench_lifecycle import _spec

    lines = [
        f"registry: {{url: '{registry.host}', insecure: true}}",
        f"state: '{database}'",
        f"vulndb: '{database}'",
        f"sign_key: {key}",
        f"workdir: {work / 'jobs'}",
        f"concurrency: {CONCURRENCY}",
        "lease: 5m",
    ]
    if broker is not None:
        lines.append(f"executor: {{kind: celery, broker: '{broker}', visibility_timeout: 10m}}")
    lines.append("images:")
    for n in range(IMAGES):
        name = f"s{n:03d}"
        body = f"extends: static\nenv: {{BENCH_IMAGE: '{name}'}}\n"
        spec = _spec(archive, work / "images" / f"{name}.yaml", name, body)
        lines += [f"  - spec: {spec}", f"    repository: scale/{name}", "    tags: [latest]"]
    path = work / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _hardbase(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hardbase", *args], env={**os.environ, **env},
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _case(work: Path, archive, key: Path, server: str, broker: str | None, workers: int):  # type: ignore[no-untyped-def]
    """One configuration: (pass seconds, planning seconds, fix seen -> published per image).

    Planning is from the pass's start to the last job created (feeds, matching, relocks)."""
    from hardbase.lifecycle.state import StateDB
    from pg_fixture import new_database
    from registry_fixture import RegistryServer

    work.mkdir(parents=True)
    registry = RegistryServer(work / "registry")
    registry.start()
    database = new_database(server)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fleet = _fleet(work, registry, key, archive, database, broker)
        for n in range(workers):
            home = work / f"worker{n}"
            procs.append(_hardbase(
                ["-q", "worker", "--fleet", str(fleet), "--concurrency", str(CONCURRENCY),
                 "--workdir", str(home / "jobs")],
                {"HARDBASE_CACHE": str(home / "cache")}, work / f"worker{n}.log",
            ))  # fmt: skip
        started = time.time()
        cache = {"HARDBASE_CACHE": str(work / "cache")}
        controller = _hardbase(
            ["-q", "watch", "--fleet", str(fleet), "--once"], cache, work / "controller.log"
        )
        code = controller.wait()
        seconds = time.time() - started
        log = (work / "controller.log").read_text()
        if code != 0:
            raise RuntimeError(f"the pass failed ({code}):\n{log[-3000:]}")
        with StateDB.open(database) as state:
            published = {e.image: e.ts for e in state.events(kind="published")}
            planned = max(e.ts for e in state.events(kind="job-created")) - started
        if len(published) != IMAGES:
            raise RuntimeError(f"{len(published)} of {IMAGES} images published:\n{log[-3000:]}")
        return seconds, planned, [ts - started for ts in published.values()]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        registry.stop()
        shutil.rmtree(work / "registry", ignore_errors=True)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def run(work: Path) -> list[Result]:
    from bench_lifecycle import _real_debs, _world
    from lifecycle_world import repack

    from pg_fixture import running_postgres
    from redis_fixture import RedisServer

    os.environ.setdefault("HARDBASE_CACHE", str(work / "cache"))
    os.environ.pop("HARDBASE_KEY_PASSWORD", None)
    debs = _real_debs("name: st\nrelease: trixie\nextends: static\n", work / "mirror")
    archive, registry, key = _world(work / "world", debs)
    registry.stop()  # each case starts its own
    fixed = repack(debs["netbase"], "6.5+deb13u1", work / "netbase.deb")
    archive.add_deb(fixed, suite="trixie-security")
    archive.publish("trixie-security")
    redis = RedisServer(work / "redis")
    redis.start()
    results: list[Result] = []
    try:
        with running_postgres() as server:
            cases = [("in-process", None, 0), ("Celery, 1 worker", redis.url, 1),
                     ("Celery, 2 workers", redis.url, 2)]  # fmt: skip
            rates: dict[str, float] = {}
            plan_rates: dict[str, float] = {}
            for name, broker, workers in cases:
                slug = name.lower().replace(",", "").replace(" ", "-")
                seconds, planned, latencies = _case(
                    work / slug, archive, key, server, broker, workers
                )
                rates[name] = IMAGES / seconds * 60
                plan_rates[name] = IMAGES / planned * 60
                results += [
                    Result(f"{IMAGES} images, {name}: pass", seconds, "s",
                           f"{rates[name]:.1f} images/min"),
                    Result(f"{IMAGES} images, {name}: planning (last job created)", planned, "s",
                           f"{plan_rates[name]:.0f} images/min planned"),
                    Result(f"{IMAGES} images, {name}: p95 fix seen -> published",
                           _p95(latencies), "s", f"median {statistics.median(latencies):.1f} s"),
                ]  # fmt: skip
            base = rates["Celery, 1 worker"]
            results.append(Result("Celery 2 workers / 1 worker (images/min)",
                                  rates["Celery, 2 workers"] / base, "x",
                                  f"{os.cpu_count()} cores shared by all"))  # fmt: skip
            results.append(Result("Celery 1 worker / in-process (images/min)",
                                  base / rates["in-process"], "x"))  # fmt: skip
            # N hosts with a worker each run N times one worker's jobs, until the one
            # controller's planning is the bound
            bound = plan_rates["Celery, 1 worker"]
            for hosts in (4, 16, 64):
                note = f"{hosts} x {base:.1f}, planning bound {bound:.0f}"
                results.append(Result(f"projected, {hosts} worker hosts (images/min)",
                                      min(hosts * base, bound), "/min", note))  # fmt: skip
    finally:
        redis.stop()
        archive.close()
    return results
