"""End to end on real parts: real .debs in a signed fixture archive on 127.0.0.1, the real
registry, a fleet of two images, `hardbase watch --once`, skopeo and umoci as checking peers."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from lifecycle_world import NEW_NETBASE, World

from hardbase.cli.main import main
from hardbase.lifecycle.state import StateDB
from peers import need
from schema_check import check as check_schema

pytestmark = [pytest.mark.archive]

STEPS = ["job-created", "job-started", "built", "verified", "signed", "pushed", "published"]


def skopeo_digest(world: World, repo: str, tag: str) -> str:
    need("skopeo")
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{world.registry.host}/{repo}:{tag}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    digest: str = json.loads(out)["Digest"]
    return digest


def installed_version(world: World, repo: str, tag: str, package: str, tmp: Path) -> str:
    """The package's version in the pushed image, read by skopeo copy + umoci unpack."""
    need("skopeo", "umoci")
    layout = tmp / f"copy-{repo.replace('/', '-')}-{tag}"
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false",
         f"docker://{world.registry.host}/{repo}:{tag}", f"oci:{layout}:x"],
        check=True, capture_output=True,
    )  # fmt: skip
    bundle = tmp / f"bundle-{repo.replace('/', '-')}-{tag}"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:x", str(bundle)], check=True,
                   capture_output=True)  # fmt: skip
    status = (bundle / "rootfs/var/lib/dpkg/status.d" / package).read_text()
    return next(
        line.split(": ", 1)[1] for line in status.splitlines() if line.startswith("Version")
    )


def watch(fleet: Path) -> int:
    return main(["-q", "watch", "--fleet", str(fleet), "--once"])


def state_of(world: World) -> StateDB:
    return StateDB.open(f"sqlite:///{world.root / 'state.db'}")


def test_one_pass_rebuilds_both_images_when_a_shared_package_is_fixed(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = world.fleet()
    assert watch(fleet) == 0  # first publish of both
    first = {r: skopeo_digest(world, f"hardbase/{r}", "latest") for r in ("a", "b")}
    assert watch(fleet) == 0  # nothing changed: nothing rebuilt
    assert "a: unchanged" in capsys.readouterr().out

    world.fix_netbase()
    assert watch(fleet) == 0
    with state_of(world) as state:
        for name in ("a", "b"):
            repo = f"hardbase/{name}"
            image = state.image(repo)
            assert image is not None
            digest = image.digest
            assert digest != first[name]
            assert skopeo_digest(world, repo, "latest") == digest
            assert skopeo_digest(world, repo, "13") == digest
            jobs = state.jobs(image=repo)
            assert [j.state for j in jobs] == ["published", "published"]
            rebuild = jobs[-1]
            assert "netbase 6.5 -> 6.5+deb13u1 (trixie-security)" in rebuild.reason
            assert "CVE-2026-90001" in rebuild.reason
            assert rebuild.plan["changes"] == [
                {"package": "netbase", "arch": "all", "old": "6.5", "new": NEW_NETBASE}
            ]
            version_tag = f"13-{rebuild.version_tag}"
            assert skopeo_digest(world, repo, version_tag) == digest
            assert installed_version(world, repo, "latest", "netbase", tmp_path) == NEW_NETBASE
            kinds = [e.kind for e in state.events(image=repo, job=rebuild.id)]
            assert kinds == STEPS, kinds
            assert [e.kind for e in state.events(image=repo, kind="fix-seen")] == ["fix-seen"] * 2
            assert len(state.events(image=repo, kind="published")) == 2
            times = state.remediation_times(repo)
            assert len(times) == 1 and 0 < times[0] < 120
            tags = subprocess.run(
                ["skopeo", "list-tags", "--tls-verify=false",
                 f"docker://{world.registry.host}/{repo}"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            hexpart = digest.split(":")[1]
            for suffix in (".sig", ".att"):  # signature, SBOM and provenance went with it
                assert f"sha256-{hexpart}{suffix}" in tags
    # webhooks: one per publish (2 first publishes + 2 rebuilds), all signed correctly
    assert world.webhook.bad_signatures == 0
    published = [p for p in world.webhook.posts if p["event"] == "published"]
    assert len(published) == 4
    rebuilt = [p for p in published if "netbase 6.5 ->" in p["reason"]]
    assert sorted(p["repository"] for p in rebuilt) == ["hardbase/a", "hardbase/b"]
    assert all(p["digest"].startswith("sha256:") and p["tags"] == ["13", "latest"] for p in rebuilt)
    # the signature verifies with the public key
    verify = main(["-q", "verify", f"docker://{world.registry.host}/hardbase/a:latest",
                   "--key", str(world.pub), "--insecure"])  # fmt: skip
    assert verify == 0
    # status
    capsys.readouterr()
    assert main(["status", "--fleet", str(fleet), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    check_schema("status", doc)
    by_name = {i["name"]: i for i in doc["images"]}
    assert by_name["hardbase/a"]["remediation"]["count"] == 1
    assert by_name["hardbase/a"]["findings"] == {}
    assert main(["status", "--fleet", str(fleet)]) == 0
    assert "hardbase/b" in capsys.readouterr().out


def test_new_critical_finding_blocks_the_publish(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = world.fleet(feeds=["osv-fix", "osv-critical"], images=("a",))
    assert watch(fleet) == 0
    before = skopeo_digest(world, "hardbase/a", "latest")
    manifests = world.registry.manifest_digests("hardbase/a")
    world.fix_netbase()
    assert watch(fleet) == 1
    out = capsys.readouterr().out
    assert "a: failed" in out and "CVE-2026-90002" in out
    assert skopeo_digest(world, "hardbase/a", "latest") == before
    new = world.registry.manifest_digests("hardbase/a") - manifests
    assert not new, "nothing of the failed rebuild may reach the registry"
    with state_of(world) as state:
        job = state.jobs(image="hardbase/a")[-1]
        assert job.state == "failed" and "CVE-2026-90002" in job.error
        assert [e.kind for e in state.events(job=job.id)][-1] == "gate-failed"
    failed = [p for p in world.webhook.posts if p["event"] == "gate-failed"]
    assert len(failed) == 1 and "critical" in failed[0]["error"]
    # a failed lock is not retried every pass
    assert watch(fleet) == 0
    with state_of(world) as state:
        assert len(state.jobs(image="hardbase/a")) == 2


def test_registry_down_jobs_wait_and_publish_when_it_returns(world: World) -> None:
    fleet = world.fleet()
    assert watch(fleet) == 0
    world.fix_netbase()
    world.registry.stop()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(watch(fleet)))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with state_of(world) as state:
                if len(state.events(kind="registry-wait")) >= 2:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the jobs never waited for the registry")
        time.sleep(1.0)
    finally:
        world.registry.start()
        thread.join(120)
    assert result == [0]
    with state_of(world) as state:
        for name in ("a", "b"):
            jobs = state.jobs(image=f"hardbase/{name}")
            assert jobs[-1].state == "published"
            assert len(state.events(job=jobs[-1].id, kind="published")) == 1
            image = state.image(f"hardbase/{name}")
            assert image is not None
            assert skopeo_digest(world, f"hardbase/{name}", "latest") == image.digest


def test_json_logs_name_each_step_and_status_shows_passes_and_reasons(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = world.fleet(images=("a",))
    assert main(["watch", "--fleet", str(fleet), "--once", "--log-format", "json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    events = [r.get("event") for r in records]
    assert events[0] == "pass-started" and events[-1] == "pass-finished", events
    steps = [r for r in records if r.get("event") == "step-finished"]
    assert [r["step"] for r in steps] == ["build", "verify", "sign", "push", "tag"]
    job = steps[0]["job"]
    assert all(r["image"] == "hardbase/a" and r["job"] == job for r in steps)
    assert all(isinstance(r["seconds"], float) and r["seconds"] >= 0 for r in steps)
    assert {r["level"] for r in records} <= {"info", "warning"}
    assert any(r.get("event") == "job-published" for r in records)
    queued = next(r for r in records if r.get("event") == "job-queued")
    assert queued["msg"].endswith("packages locked") or "package changes" in queued["msg"]

    world.fix_netbase()
    assert main(["watch", "--fleet", str(fleet), "--once"]) == 0  # human lines by default
    err = capsys.readouterr().err
    assert f"hardbase: INFO: hardbase/a: job {job + 1}: build ended in " in err
    assert "hardbase: INFO: pass finished in " in err

    assert main(["status", "--fleet", str(fleet)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("last pass: ") and "; next pass due: " in out.splitlines()[0]
    assert "    fixes: CVE-2026-90001" in out
    assert f"    changes: netbase 6.5 -> {NEW_NETBASE}" in out
    assert main(["status", "--fleet", str(fleet), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passes"]["outcomes"] == {"published": 1}
    assert doc["passes"]["next_due"] > doc["passes"]["last_finished"]
    assert doc["images"][0]["last_fixes"] == ["CVE-2026-90001"]


def test_fleet_variants_publish_the_distroless_family(
    world: World, busybox_debs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_debs(busybox_debs)
    fleet = world.fleet(images=("a",), variants=True)
    assert watch(fleet) == 0
    out = capsys.readouterr().out
    for variant in ("latest", "nonroot", "debug", "debug-nonroot"):
        assert f"hardbase/a:{variant}: published sha256:" in out, out
    digests = {}
    for tag in ("13", "latest", "13-nonroot", "nonroot", "13-debug", "debug",
                "13-debug-nonroot", "debug-nonroot"):  # fmt: skip
        digests[tag] = skopeo_digest(world, "hardbase/a", tag)
    assert digests["13"] == digests["latest"] and digests["13-debug"] == digests["debug"]
    assert len(set(digests.values())) == 4
    layers = {}
    for tag, user in (("latest", "0"), ("nonroot", "65532"), ("debug", "0"),
                      ("debug-nonroot", "65532")):  # fmt: skip
        ref = f"docker://{world.registry.host}/hardbase/a:{tag}"
        config = json.loads(subprocess.run(
            ["skopeo", "inspect", "--config", "--tls-verify=false", ref],
            check=True, capture_output=True, text=True,
        ).stdout)  # fmt: skip
        assert config["config"]["User"].split(":")[0] == user, tag
        layers[tag] = len(config["rootfs"]["diff_ids"])
    # the debug variants carry busybox's layer on top of the same preset layers
    assert layers["debug"] == layers["debug-nonroot"] == layers["latest"] + 1
    assert layers["nonroot"] == layers["latest"]
    with state_of(world) as state:
        assert sorted(i.name for i in state.images()) == [
            "hardbase/a:debug", "hardbase/a:debug-nonroot", "hardbase/a:latest",
            "hardbase/a:nonroot",
        ]  # fmt: skip
