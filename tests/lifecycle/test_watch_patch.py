"""End to end: the controller patches a CVE Debian left open from source, then retires the
patch when Debian ships its own fix.

Everything Debian-side is a **fixture**: the source package `fixture-clamp` of
tests/patch_fixture.py (made-up `CVE-2099-1001`, its fix in trixie's debian/patches,
Debian's own fix upload `1.0-1+deb12u1`), served by a signed fixture archive, and a
security tracker feed in the tracker's real JSON format served from 127.0.0.1 that
says the CVE is open for bookworm (then resolved). The build root is Debian's real
bookworm (deb.debian.org, cached once per session), the registry is real, skopeo is
the checking peer.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_same_attestations import registry_attestations

from archive_fixture import FixtureArchive
from hardbase.attest.keys import write_keypair
from hardbase.attest.names import CYCLONEDX, OPENVEX_V020
from hardbase.build.spec import MIRROR
from hardbase.cli.main import main
from hardbase.lifecycle.state import PatchState, StateDB
from hardbase.patch.buildroot import BuildRoot
from hardbase.repo.serve import RepoServer
from hardbase.vuln.inventory import inventory
from patch_fixture import (
    BINARY,
    CVE,
    DEBIAN_FIX_VERSION,
    PATCH_NAME,
    PATCHED_VERSION,
    SOURCE,
    SUITES,
    VERSION,
    add_debian_fix,
    add_fixture_package,
)
from peers import need
from registry_fixture import KEY_PASSWORD, RegistryServer, running_registry
from schema_check import check as check_schema

pytestmark = [pytest.mark.archive, pytest.mark.slow]

OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="fixture"\n'
IMAGES = ("hardbase/clamp", "hardbase/clamp-tools")


def tracker(status: str, **extra: str) -> dict[str, Any]:
    """The tracker's JSON for the fixture CVE (a fixture record, not a real advisory)."""
    release = {"status": status, "repositories": {"bookworm": VERSION}, "urgency": "high", **extra}
    return {SOURCE: {CVE: {"description": "Fixture: fixture-clamp does not bound values "
                           "above 100 (made-up CVE for hardbase's tests)",
                           "releases": {"bookworm": release}}}}  # fmt: skip


@dataclass
class PatchWorld:
    root: Path
    archive: FixtureArchive
    registry: RegistryServer
    repo: Path
    feed: Path
    pub: Path
    fleet: Path

    def state(self) -> StateDB:
        return StateDB.open(f"sqlite:///{self.root / 'state.db'}")

    def watch(self) -> int:
        return main(["-q", "watch", "--fleet", str(self.fleet), "--once"])

    def digest(self, repository: str) -> str:
        need("skopeo")
        out = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false",
             f"docker://{self.registry.host}/{repository}:latest"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        digest: str = json.loads(out)["Digest"]
        return digest

    def installed(self, repository: str, tmp: Path) -> str:
        """fixture-clamp's version in the pushed image (skopeo copy, then its dpkg status)."""
        layout = tmp / f"copy-{repository.replace('/', '-')}-{len(list(tmp.iterdir()))}"
        subprocess.run(
            ["skopeo", "copy", "--src-tls-verify=false",
             f"docker://{self.registry.host}/{repository}:latest", f"oci:{layout}:x"],
            check=True, capture_output=True,
        )  # fmt: skip
        found = inventory(f"oci:{layout}:x").inventory
        return next(p.version for p in found.packages if p.name == BINARY)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PatchWorld]:
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", KEY_PASSWORD)
    monkeypatch.delenv("HARDBASE_ARCHIVE_KEY_PASSWORD", raising=False)
    root = tmp_path / "world"
    archive = FixtureArchive(root / "archive")
    add_fixture_package(archive)
    archive.add_package("fixture-os", "12", suite="bookworm",
                        files={"/etc/os-release": OS_RELEASE,
                               "/usr/share/doc/fixture-os/copyright": "fixture\n"})  # fmt: skip
    archive.add_package("fixture-tools", "1.0-1", suite="bookworm",
                        files={"/usr/share/doc/fixture-tools/copyright": "fixture\n"})  # fmt: skip
    for suite in SUITES:
        archive.publish(suite)
    key, pub = write_keypair(root / "keys" / "cosign", KEY_PASSWORD)
    assert main(["-q", "repo", "keygen", "--no-password", str(root / "keys" / "archive")]) == 0
    repo = root / "repo"
    repo.mkdir()
    feeds = root / "feeds"
    feeds.mkdir()
    (feeds / "tracker.json").write_text(json.dumps(tracker("open")))
    sources = (f"sources:\n  - uris: ['{archive.url}']\n    suites: [bookworm, bookworm-security]\n"
               f"    signed-by: {archive.keyring}\n")  # fmt: skip
    specs = {"clamp": "[fixture-os, fixture-clamp]",
             "clamp-tools": "[fixture-os, fixture-clamp, fixture-tools]"}  # fmt: skip
    for name, packages in specs.items():
        (root / f"{name}.yaml").write_text(
            f"name: {name}\nrelease: bookworm\npackages: {packages}\n{sources}"
        )
    try:
        with running_registry(root / "registry") as registry, RepoServer(repo) as served, \
                RepoServer(feeds) as feed_server:  # fmt: skip
            fleet = root / "fleet.yaml"
            fleet.write_text(f"""\
registry: {{url: '{registry.host}', insecure: true}}
state: 'sqlite:///{root / "state.db"}'
vulndb: {root / "vuln.db"}
interval: 1s
sign_key: {key}
workdir: {root / "work"}
feeds:
  - {{name: debian-tracker, locations: ['{feed_server.url}tracker.json']}}
patch:
  min_severity: high
  repo: {repo}
  archive_key: {root / "keys" / "archive.key"}
  url: {served.url}
  mirror: {archive.url}
  security_mirror: {archive.url}
  keyring: {archive.keyring}
  root_mirror: {MIRROR}
images:
  - {{spec: {root / "clamp.yaml"}, repository: hardbase/clamp, tags: [latest]}}
  - {{spec: {root / "clamp-tools.yaml"}, repository: hardbase/clamp-tools, tags: [latest]}}
""")
            yield PatchWorld(root, archive, registry, repo, feeds / "tracker.json", pub, fleet)
    finally:
        archive.close()


@pytest.mark.timeout(2400)
def test_one_pass_patches_both_images_and_debians_fix_retires_it(
    world: PatchWorld,
    bookworm_build_root: BuildRoot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert world.watch() == 0  # first publish of both, with Debian's 1.0-1
    first = {r: world.digest(r) for r in IMAGES}
    copies = tmp_path / "copies"
    copies.mkdir()
    assert world.installed(IMAGES[0], copies) == VERSION

    # one pass: the open CVE is patched once and both images take the rebuild
    assert world.watch() == 0
    with world.state() as state:
        [job] = state.patch_jobs()
        assert (job.state, job.version, job.cves) == (PatchState.PUBLISHED, PATCHED_VERSION, (CVE,))
        assert job.detail["images"] == list(IMAGES)
        kinds = [e.kind for e in state.events(image=f"patch:{SOURCE}")]
        assert kinds.count("patch-built") == 1 and kinds.count("patch-published") == 1
        [candidate] = state.events(kind="patch-candidate")
        assert candidate.detail["cve"] == CVE and PATCH_NAME in candidate.detail["candidate"]
        built = next(e for e in state.events(kind="patch-built"))
        assert "fixture-clamp: all tests passed" in Path(built.detail["log"]).read_text()
        for repository in IMAGES:
            image = state.image(repository)
            assert image is not None and image.digest != first[repository]
            assert world.digest(repository) == image.digest
            [last] = state.jobs(image=repository)[-1:]
            assert last.state == "published" and f"patch {CVE}" in last.reason
    for repository in IMAGES:
        assert world.installed(repository, copies) == PATCHED_VERSION
        assert world.installed(repository, copies).endswith("+hb1")
    # the archive: one rebuild, its InRelease verifying
    pool = world.repo / "pool" / "main" / "f" / SOURCE
    assert sorted(p.name for p in pool.glob("*.deb")) == [f"{BINARY}_{PATCHED_VERSION}_amd64.deb"]
    # the attestations name the CVE: OpenVEX `fixed`, and the CycloneDX pedigree
    with world.state() as state:
        digest = state.image(IMAGES[0]).digest  # type: ignore[union-attr]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for st in registry_attestations(world, IMAGES[0], digest):  # type: ignore[arg-type]
        by_type.setdefault(st["predicateType"], []).append(st["predicate"])
    [vex] = by_type[OPENVEX_V020]
    assert [(s["vulnerability"]["name"], s["status"]) for s in vex["statements"]] == [
        (CVE, "fixed")
    ]
    component = next(c for c in by_type[CYCLONEDX][0]["components"] if c["name"] == BINARY)
    assert [r["id"] for p in component["pedigree"]["patches"] for r in p["resolves"]] == [CVE]
    assert main(["-q", "verify", f"docker://{world.registry.host}/{IMAGES[1]}:latest",
                 "--key", str(world.pub), "--insecure", "--require", "openvex"]) == 0  # fmt: skip
    # the clock, in status
    capsys.readouterr()
    assert main(["status", "--fleet", str(world.fleet), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    check_schema("status", doc)
    [patched] = doc["patched"]
    assert (patched["cve"], patched["package"], patched["version"], patched["retired"]) == (
        CVE, SOURCE, PATCHED_VERSION, False
    )  # fmt: skip
    assert patched["images"] == sorted(IMAGES) and patched["seconds"] > 0
    assert patched["origin"].startswith("newer-debian: debian/patches/" + PATCH_NAME)
    assert doc["debian_fixed"] == []
    assert main(["status", "--fleet", str(world.fleet)]) == 0
    assert f"{CVE}  {SOURCE} {PATCHED_VERSION}" in capsys.readouterr().out

    # a pass with nothing new changes nothing: no second build, no new image job
    assert world.watch() == 0
    with world.state() as state:
        assert len(state.patch_jobs()) == 1
        assert [len(state.jobs(image=r)) for r in IMAGES] == [2, 2]

    # Debian ships its fix (a fixture upload above +hb1), the tracker says resolved
    add_debian_fix(world.archive)
    world.archive.publish("bookworm-security")
    world.feed.write_text(json.dumps(tracker("resolved", fixed_version=DEBIAN_FIX_VERSION)))
    assert world.watch() == 0
    with world.state() as state:
        [job] = state.patch_jobs()
        assert job.state == PatchState.RETIRED
        [retired] = state.events(kind="patch-retired")
        assert retired.detail["debian_version"] == DEBIAN_FIX_VERSION
        assert sorted(retired.detail["images"]) == sorted(IMAGES)
        for repository in IMAGES:
            last = state.jobs(image=repository)[-1]
            assert last.state == "published" and "retire hardbase's" in last.reason
    for repository in IMAGES:
        assert world.installed(repository, copies) == DEBIAN_FIX_VERSION
    capsys.readouterr()
    assert main(["status", "--fleet", str(world.fleet), "--format", "json"]) == 0
    [patched] = json.loads(capsys.readouterr().out)["patched"]
    assert patched["retired"] is True and patched["debian_version"] == DEBIAN_FIX_VERSION


@pytest.mark.timeout(1500)
def test_a_patch_that_breaks_the_packages_tests_is_recorded_notified_and_not_retried(
    world: PatchWorld,
    bookworm_build_root: BuildRoot,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lifecycle_world import WEBHOOK_SECRET, WebhookReceiver

    from patch_fixture import BREAKS_TESTS

    broken_cve = "CVE-2099-1002"  # a fixture id, named by BREAKS_TESTS
    patches = world.root / "patches"
    patches.mkdir()
    (patches / "breaks-tests.patch").write_text(BREAKS_TESTS)
    doc = tracker("open")
    doc[SOURCE][broken_cve] = {**doc[SOURCE][CVE], "description": "Fixture: made-up CVE"}
    del doc[SOURCE][CVE]
    world.feed.write_text(json.dumps(doc))
    monkeypatch.setenv("HARDBASE_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    webhook = WebhookReceiver(WEBHOOK_SECRET)
    try:
        text = world.fleet.read_text().replace(
            "  min_severity: high\n", "  min_severity: high\n  sources: [patches-dir]\n"
        )
        world.fleet.write_text(
            text.replace("images:\n", f"patches: {patches}\nwebhook: {{url: '{webhook.url}', "
                         "secret_env: HARDBASE_TEST_WEBHOOK_SECRET}\nimages:\n")
        )  # fmt: skip
        assert world.watch() == 0  # first publish
        before = {r: world.digest(r) for r in IMAGES}
        capsys.readouterr()
        assert world.watch() == 1  # the patch build failed: the pass says so
        assert f"patch:{SOURCE}: patch-failed" in capsys.readouterr().out
        with world.state() as state:
            [job] = state.patch_jobs()
            assert job.state == PatchState.FAILED
            [failed] = state.events(kind="patch-failed")
            log = Path(failed.detail["log"])
            assert "FAIL: clamp -1 gave 0, expected 1" in log.read_text()
            assert failed.detail["error"].endswith(f"the whole log is {log}")
        [post] = [p for p in webhook.posts if p["event"] == "patch-failed"]
        assert post["cves"] == [broken_cve] and post["log"] == str(log)
        assert not list(world.repo.glob("pool/**/*.deb"))  # nothing published
        # the same inputs next pass: not built again, the images stay as they were
        assert world.watch() == 0
        with world.state() as state:
            assert [e.kind for e in state.events(image=f"patch:{SOURCE}")].count(
                "patch-started"
            ) == 1
        assert {r: world.digest(r) for r in IMAGES} == before
    finally:
        webhook.close()
