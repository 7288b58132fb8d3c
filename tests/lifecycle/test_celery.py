"""Fleet jobs on Celery workers: a controller and worker processes, Redis and PostgreSQL.

Everything is real and on 127.0.0.1: Debian's redis-server (the broker and the result
backend) and PostgreSQL (state and vulnerability database) on free ports, the fixture
archive of the lifecycle world holding real .debs, the real registry. The controller
(`hardbase watch --once`) and each worker (`hardbase worker`) run as their own OS
processes, each worker with its own cache and job directory. The fleet's images all
share netbase, whose fixed version (a fixture upload) is in trixie-security.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from lifecycle_world import World

from hardbase.cli.main import main
from hardbase.lifecycle.state import FINAL, PUBLISHED, QUEUED, SIGNED, StateDB
from hardbase.oci.registry import RegistryClient
from redis_fixture import RedisServer, free_port
from schema_check import check as check_schema

pytestmark = [pytest.mark.archive, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def celery_fleet(
    world: World, database: str, broker: str, count: int, *, visibility: str = "20s"
) -> Path:
    """A fleet of `count` images on the world's archive, jobs on Celery, state on `database`."""
    text = world.fleet(images=("a",), state=database).read_text()
    head = text[: text.index("images:\n")].replace(
        f"vulndb: {world.root / 'vuln.db'}", f"vulndb: '{database}'"
    )
    lines = [
        head.rstrip("\n"),
        "lease: 60s",
        f"executor: {{kind: celery, broker: '{broker}', visibility_timeout: {visibility}, "
        "retries: 3}",
        "images:",
    ]
    for n in range(count):
        name = f"i{n:02d}"
        spec = world.spec(name, f"extends: static\nenv: {{FIXTURE_IMAGE: '{name}'}}\n")
        lines += [
            f"  - spec: {spec}",
            f"    repository: hardbase/{name}",
            "    tags: ['13', latest]",
        ]
    path = world.root / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Cluster:
    """The controller and worker processes of one test; `close()` stops what still runs."""

    def __init__(self, world: World, fleet: Path) -> None:
        self.world = world
        self.fleet = fleet
        self.workers: list[subprocess.Popen[bytes]] = []
        self.controllers: list[subprocess.Popen[bytes]] = []
        self.logs = world.root / "logs"
        self.logs.mkdir(exist_ok=True)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = (self.logs / f"{name}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "hardbase", *args], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **env}, start_new_session=True,
        )  # fmt: skip

    def worker(self, queues: str = "images,builds") -> subprocess.Popen[bytes]:
        n = len(self.workers)
        home = self.world.root / f"worker{n}"
        proc = self._spawn(
            f"worker{n}",
            ["worker", "--fleet", str(self.fleet), "--workdir", str(home / "work"),
             "--queues", queues],
            {"HARDBASE_CACHE": str(home / "cache")},
        )  # fmt: skip
        self.workers.append(proc)
        return proc

    def controller(self) -> subprocess.Popen[bytes]:
        n = len(self.controllers)
        proc = self._spawn(
            f"controller{n}",
            ["-q", "watch", "--fleet", str(self.fleet), "--once"],
            {"HARDBASE_CACHE": str(self.world.root / "controller-cache")},
        )
        self.controllers.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in [*self.controllers, *self.workers]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.controllers, *self.workers]:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def cluster_for(world: World) -> Iterator[list[Cluster]]:
    made: list[Cluster] = []
    yield made
    for cluster in made:
        cluster.close()


def wait_controller(cluster: Cluster, proc: subprocess.Popen[bytes], timeout: float = 600) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the pass did not finish; controller log:\n{cluster.log('controller0')}")


def kill_worker_at(
    state: StateDB, cluster: Cluster, phase: str, spared: set[int]
) -> tuple[int, int] | None:
    """SIGKILL the worker holding a job in `phase`; (job id, pid) once the kill landed there.

    A job leased while in state `queued` is being built; in state `signed`, pushed. The
    state read after the kill proves where the worker died: it cannot move a job any more."""
    pids = {p.pid: p for p in cluster.workers if p.poll() is None and p.pid not in spared}
    for job in state.jobs(states=(phase,)):
        owner = job.lease_owner or ""
        pid = int(owner.split(":")[1]) if owner.count(":") >= 2 else 0
        if pid not in pids:
            continue
        os.killpg(pid, signal.SIGKILL)
        pids[pid].wait()
        after = state.job(job.id)
        if after is not None and after.state == phase and after.lease_owner == owner:
            return job.id, pid
        return None  # it moved on before the kill landed: try another job
    return None


def check_published_once(world: World, state: StateDB, names: list[str]) -> None:
    """Each image published once (one event, one version tag), its tags on a verified digest."""
    published = Counter(e.image for e in state.events(kind=PUBLISHED))
    assert published == Counter({f"hardbase/{n}": 1 for n in names}), published
    hooks = Counter(p["image"] for p in world.webhook.posts if p["event"] == PUBLISHED)
    assert hooks == published, hooks
    for name in names:
        jobs = [j for j in state.jobs(image=f"hardbase/{name}")]
        assert len(jobs) == 1 and jobs[0].state == PUBLISHED, jobs
        job = jobs[0]
        verified = [e for e in state.events(job=job.id, kind="verified")]
        assert len(verified) == 1, f"{name}: job {job.id} was verified {len(verified)} times"
        client = RegistryClient(world.registry.host, f"hardbase/{name}", insecure=True)
        try:
            listed = set(client.list_tags())
            tags = {t for t in listed if not t.startswith("sha256-")}  # cosign's, beside it
            assert tags == {"13", "latest", f"13-{job.version_tag}", f"latest-{job.version_tag}"}
            signed = {t.split(".")[0] for t in listed - tags}
            assert signed == {job.digest.replace(":", "-")}, (name, signed)
            for tag in tags:
                found = client.head_manifest(tag)
                assert found is not None and found.digest == job.digest, (name, tag)
        finally:
            client.close()


def start(
    world: World, database: str, redis: RedisServer, made: list[Cluster], count: int, workers: int
) -> tuple[list[str], Path, Cluster]:
    """netbase fixed, `count` images on Celery, `workers` workers running."""
    world.fix_netbase()
    names = [f"i{n:02d}" for n in range(count)]
    fleet = celery_fleet(world, database, redis.url, count)
    cluster = Cluster(world, fleet)
    made.append(cluster)
    for _ in range(workers):
        cluster.worker()
    return names, fleet, cluster


def test_twenty_images_on_three_workers_survive_two_killed_workers(
    world: World, postgres_db: str, redis: RedisServer, cluster_for: list[Cluster]
) -> None:
    names, _, cluster = start(world, postgres_db, redis, cluster_for, 20, 3)
    controller = cluster.controller()
    killed: dict[str, tuple[int, int]] = {}
    with StateDB.open(postgres_db) as state:
        deadline = time.monotonic() + 600
        while len(killed) < 2 and controller.poll() is None and time.monotonic() < deadline:
            phase = QUEUED if "build" not in killed else SIGNED
            spared = {pid for _, pid in killed.values()}
            hit = kill_worker_at(state, cluster, phase, spared)
            if hit is not None:
                killed["build" if phase == QUEUED else "push"] = hit
                cluster.worker()  # a replacement, as systemd would restart it
            time.sleep(0.05)
        assert set(killed) == {"build", "push"}, f"no kill landed: {killed}"
        assert wait_controller(cluster, controller) == 0, cluster.log("controller0")
        check_published_once(world, state, names)
        for job_id, _ in killed.values():
            kinds = [e.kind for e in state.events(job=job_id)]
            assert "job-resumed" in kinds, kinds  # taken over from its last checkpoint
    lines = (cluster.logs / "controller0.log").read_text()
    assert lines.count(": published sha256:") == len(names), lines


def test_a_broker_restart_during_a_pass_and_a_restarted_controller(
    world: World, postgres_db: str, redis: RedisServer, cluster_for: list[Cluster]
) -> None:
    names, fleet, cluster = start(world, postgres_db, redis, cluster_for, 12, 1)
    first = cluster.controller()
    with StateDB.open(postgres_db) as state:
        while not state.events(kind=PUBLISHED):  # the workers are running the pass's jobs
            assert first.poll() is None, cluster.log("controller0")
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)  # the controller dies while workers run
        first.wait()
        sent = len(state.events(kind="job-sent"))
        second = cluster.controller()
        while len(state.events(kind="job-sent")) == sent:  # the new pass sent its jobs
            assert second.poll() is None, cluster.log("controller1")
            time.sleep(0.1)
        redis.stop()  # the broker goes away during the pass, under the controller and workers
        time.sleep(3)
        redis.start()  # the one worker reconnects; nothing else is started
        assert wait_controller(cluster, second) == 0, cluster.log("controller1")
        created = Counter(e.image for e in state.events(kind="job-created"))
        assert created == Counter({f"hardbase/{n}": 1 for n in names}), created
        check_published_once(world, state, names)
        assert all(j.state in FINAL for j in state.jobs())
    check_operations(fleet, cluster)


def check_operations(fleet: Path, cluster: Cluster) -> None:
    """`hardbase status` and /metrics see the live worker, empty queues, nothing in flight."""
    shown = subprocess.run(
        [sys.executable, "-m", "hardbase", "status", "--fleet", str(fleet), "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    doc = json.loads(shown.stdout)
    check_schema("status", doc)
    assert doc["in_flight"] == [] and doc["executor"]["queues"] == {"images": 0, "builds": 0}
    (worker,) = doc["executor"]["workers"]
    live = cluster.workers[0].pid
    assert worker["name"].startswith(f"hardbase-{live}@") and worker["active"] == 0, worker
    assert worker["processed"] >= 1 and worker["queues"] == ["builds", "images"], worker
    table = subprocess.run(
        [sys.executable, "-m", "hardbase", "status", "--fleet", str(fleet)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "jobs in flight: 0" in table and "workers: 1" in table, table
    assert f"hardbase-{live}@" in table and "waiting images 0, builds 0" in table, table
    from types import SimpleNamespace

    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.server.metrics import _celery_metrics

    families = {
        m.name: m.samples
        for m in _celery_metrics(SimpleNamespace(fleet=load_fleet(fleet)))  # type: ignore[arg-type]
    }
    assert [s.value for s in families["hardbase_broker_up"]] == [1.0]
    assert {s.labels["queue"]: s.value for s in families["hardbase_queue_depth"]} == {
        "images": 0.0, "builds": 0.0,
    }  # fmt: skip
    (done,) = families["hardbase_worker_jobs"]
    assert done.labels["worker"] == worker["name"] and done.value == worker["processed"]


def test_a_celery_executor_needs_postgresql(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = world.fleet(
        images=("a",), extra="executor: {kind: celery, broker: 'redis://127.0.0.1:9/0'}"
    )
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 2
    err = capsys.readouterr().err.strip()
    assert "executor kind celery needs state: on PostgreSQL" in err, err
    assert "workers on several hosts share it" in err and len(err.splitlines()) == 1, err
    assert not (world.root / "state.db").exists()


def test_an_unreachable_broker_is_named(
    world: World, postgres_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    fleet = celery_fleet(world, postgres_db, broker, 1)
    for command in (["watch", "--fleet", str(fleet), "--once"], ["worker", "--fleet", str(fleet)]):
        assert main(["-q", *command]) == 2
        err = capsys.readouterr().err.strip()
        assert f"the Celery broker {broker} of {fleet} cannot be reached" in err, err
        assert len(err.splitlines()) == 1, err
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_db)
    try:
        assert sa.inspect(engine).get_table_names() == [], "nothing was written"
    finally:
        engine.dispose()


def test_a_worker_of_another_fleet_is_refused(
    world: World, postgres_db: str, redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = celery_fleet(world, postgres_db, redis.url, 1)
    with StateDB.open(postgres_db) as state:  # what a controller of this fleet records
        from hardbase.lifecycle.executor_celery import FLEET_KEY
        from hardbase.lifecycle.fleet import load_fleet

        state.set_meta(FLEET_KEY, load_fleet(fleet).digest)
    other = fleet.with_name("other.yaml")
    other.write_text(fleet.read_text().replace("lease: 60s", "lease: 90s"))
    assert main(["-q", "worker", "--fleet", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"the worker's fleet {other}" in err and "is not the one the controller runs" in err
    assert len(err.splitlines()) == 1, err


def test_a_source_build_runs_on_a_worker_of_the_builds_queue(
    world: World, postgres_db: str, redis: RedisServer, cluster_for: list[Cluster]
) -> None:
    """A patch job (lifecycle/patchjobs.py) goes to the `builds` queue: a worker that takes
    only that queue runs it. Its source mirror is a port nothing listens on, so the build
    fails at its first step, quickly; the failure is the worker's, recorded in the database.
    The patch file is a fixture (a made-up CVE-2099 id)."""
    from hardbase.lifecycle.controller import Controller
    from hardbase.lifecycle.executor_celery import CeleryExecutor
    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.lifecycle.patchjobs import PatchNeed, queue_patch_jobs

    fleet_path = celery_fleet(world, postgres_db, redis.url, 1)
    (world.root / "keys" / "archive.key").write_text("fixture key file, never read here\n")
    (world.root / "keys" / "archive.gpg").write_text("fixture public key file\n")
    patches = world.root / "patches"
    patches.mkdir()
    (patches / "fix.patch").write_text(
        "Description: fixture fix of CVE-2099-0101\nOrigin: vendor, https://fixture.invalid/\n"
        "---\n--- a/calc.c\n+++ b/calc.c\n@@ -1 +1 @@\n-return n;\n+return n + 1;\n"
    )
    section = (
        f"patch: {{sources: [patches-dir], repo: {world.root / 'repo'}, "
        f"archive_key: {world.root / 'keys' / 'archive.key'}, url: 'http://127.0.0.1:9/', "
        "mirror: 'http://127.0.0.1:9/debian', security_mirror: 'http://127.0.0.1:9/sec'}\n"
        f"patches: {patches}\nimages:\n"
    )
    fleet_path.write_text(fleet_path.read_text().replace("images:\n", section, 1))
    fleet = load_fleet(fleet_path)
    assert fleet.patch is not None
    cluster = Cluster(world, fleet_path)
    cluster_for.append(cluster)
    cluster.worker(queues="builds")
    need = PatchNeed("fixture-calc", "1.0-1", "trixie", ("CVE-2099-0101",),
                     ((str(patches / "fix.patch"), "0" * 64),), ("hardbase/i00",))  # fmt: skip
    with StateDB.open(postgres_db) as state:
        [job] = queue_patch_jobs(state, [need], fleet.patch)
        ctl = Controller(fleet, state, key_password=b"")
        [outcome] = CeleryExecutor(fleet).run_patches(ctl, [job])
        assert (outcome.image, outcome.result) == ("patch:fixture-calc", "patch-failed"), outcome
        done = state.patch_job(job.id)
        assert done is not None and done.state == "failed" and "127.0.0.1:9" in done.error
        [sent] = state.events(image="patch:fixture-calc", kind="job-sent")
        assert sent.detail["queue"] == "builds"
        kinds = [e.kind for e in state.events(image="patch:fixture-calc")]
        assert "patch-started" in kinds and "patch-failed" in kinds, kinds
    assert f"patch job {job.id} (fixture-calc 1.0-1) failed" in cluster.log("worker0")
