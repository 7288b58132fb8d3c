"""`patch: in-place` fleet images: the controller keeps an upstream image it did not build
patched with patch-image, on real parts (the signed fixture archive of the patch-image tests,
an image made by the host's dpkg, the real registry, skopeo and `hardbase verify`).

Each change publishes once, through the same steps and events as a built image: a first
publish, a new fix in the archive, a new upstream digest. A pass with nothing new does
nothing; the upgrades that need a rebuild never make a job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_watch_e2e import skopeo_digest

from archive_fixture import FixtureArchive
from hardbase.attest.keys import write_keypair
from hardbase.cli.main import main
from hardbase.lifecycle.state import StateDB
from hardbase.oci.copy import copy
from hardbase.oci.filetree import walk_layers
from hardbase.oci.transports.open import open_source
from patch_image_world import FIXES, NEW, OLD, fixture_db, make_world
from registry_fixture import KEY_PASSWORD, RegistryServer, make_image, running_registry

pytestmark = [pytest.mark.archive]

STEPS = ["job-created", "job-started", "built", "verified", "signed", "pushed", "published"]
NEWER = "1.0-1+deb12u2"


@dataclass
class Setting:
    root: Path
    archive: FixtureArchive
    registry: RegistryServer
    upstream: str  # docker://… the fleet watches
    base: str  # the oci: image pushed there
    db: Path
    pub: Path
    fleet: Path


@pytest.fixture
def setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setting]:
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", KEY_PASSWORD)
    archive, base, db = make_world(tmp_path)
    key, pub = write_keypair(tmp_path / "keys" / "cosign", KEY_PASSWORD)
    try:
        with running_registry(tmp_path / "registry") as registry:
            upstream = f"docker://{registry.host}/upstream/app:1"
            copy(base, upstream, insecure=True)
            fleet = tmp_path / "fleet.yaml"
            fleet.write_text(
                "\n".join([
                    f"registry: {{url: '{registry.host}', insecure: true}}",
                    f"state: 'sqlite:///{tmp_path / 'state.db'}'",
                    f"vulndb: {db}",
                    "interval: 1s",
                    f"sign_key: {key}",
                    f"workdir: {tmp_path / 'work'}",
                    "registry_wait: 30s",
                    "images:",
                    f"  - image: {upstream}",
                    "    patch: in-place",
                    f"    archive: {{mirror: '{archive.url}', security_mirror: '{archive.url}', "
                    f"keyring: '{archive.keyring}'}}",
                    "    repository: hardbase/app",
                    "    tags: ['1', latest]",
                ])
                + "\n"
            )  # fmt: skip
            yield Setting(tmp_path, archive, registry, upstream, base, db, pub, fleet)
    finally:
        archive.close()


def _watch(s: Setting, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-q", "watch", "--fleet", str(s.fleet), "--once"]) == 0
    return capsys.readouterr().out


def _state(s: Setting) -> StateDB:
    return StateDB.open(f"sqlite:///{s.root / 'state.db'}")


def _libfoo1(ref: str) -> str:
    """libfoo1's version in the image's own dpkg status file."""
    with open_source(ref, insecure=True) as source:
        image = source.resolve(None)
        tree = walk_layers(source, image, lambda p: p.startswith("var/lib/dpkg/"))
    status = (tree.read("var/lib/dpkg/status") or b"").decode()
    paragraph = next(p for p in status.split("\n\n") if p.startswith("Package: libfoo1\n"))
    return next(line.split(": ", 1)[1] for line in paragraph.splitlines()
                if line.startswith("Version: "))  # fmt: skip


def test_inplace_image_is_patched_once_per_change(
    setting: Setting, capsys: pytest.CaptureFixture[str]
) -> None:
    s = setting
    published = f"docker://{s.registry.host}/hardbase/app:latest"
    # first pass: the upstream's libfoo1 and libbaz1 are patched (libbaz1's new dependencies
    # libnew1 and libnew2 are added); libbar1 needs a rebuild
    _watch(s, capsys)
    with _state(s) as state:
        image = state.image("hardbase/app")
        assert image is not None and image.digest
        first = image.digest
        jobs = state.jobs("hardbase/app")
        assert [j.state for j in jobs] == ["published"]
        assert [e.kind for e in state.events("hardbase/app", job=jobs[0].id)] == STEPS
        needs = state.events("hardbase/app", "needs-rebuild")
        assert len(needs) == 1
        assert any("libbar1" in p and "postinst" in p for p in needs[0].detail["packages"])
        assert not any("libbaz1" in p for p in needs[0].detail["packages"])
        assert jobs[0].plan["fix_findings"] == [
            f"finding:{FIXES['libfoo1']}:libfoo1",
            f"finding:{FIXES['libbaz1']}:libbaz1",
        ]
    assert (
        skopeo_digest(s, "hardbase/app", "latest") == first == skopeo_digest(s, "hardbase/app", "1")
    )
    assert _libfoo1(published) == NEW
    assert _libfoo1(s.upstream) == OLD  # the upstream is left as it was
    types = ["spdxjson", "cyclonedx", "slsaprovenance1", "openvex"]
    assert main(["verify", published, "--insecure", "--key", str(s.pub), "--require", *types]) == 0
    capsys.readouterr()

    # nothing new: nothing queued, nothing pushed, no second needs-rebuild event
    assert "unchanged" in _watch(s, capsys)
    with _state(s) as state:
        assert len(state.jobs("hardbase/app")) == 1
        assert len(state.events("hardbase/app", "needs-rebuild")) == 1

    # a new fix in the archive: one more publish, from the same base
    s.archive.add_package(
        "libfoo1", NEWER, suite="bookworm-security",
        files={"/usr/lib/x86_64-linux-gnu/libfoo.so.1": "FIXTURE libfoo 1.0, fixed twice\n",
               "/etc/foo.conf": "# FIXTURE foo.conf 1.0, fixed\n"},
        control_files={"conffiles": "/etc/foo.conf\n"},
    )  # fmt: skip
    s.archive.publish("bookworm-security")
    fixture_db(s.db, {"libfoo1": "FIXTURE-2026-1004"}, NEWER)
    _watch(s, capsys)
    assert "unchanged" in _watch(s, capsys)  # and once only
    with _state(s) as state:
        jobs = state.jobs("hardbase/app")
        assert [j.state for j in jobs] == ["published", "published"]
        assert "new fixes" in jobs[1].reason and f"libfoo1 {OLD} -> {NEWER}" in jobs[1].reason
        second = state.image("hardbase/app")
        assert second is not None and second.digest not in ("", first)
        assert len(state.events("hardbase/app", "published")) == 2
    assert _libfoo1(published) == NEWER
    assert skopeo_digest(s, "hardbase/app", "latest") == second.digest

    # a new upstream digest: patched again from the new base
    root = s.root / "root"  # what make_world's dpkg installed, with one more layer
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and "-old" not in p.name}  # fmt: skip
    make_image(s.root / "base2", "t", [files, {"etc/motd": b"FIXTURE upstream 2\n"}])
    copy(f"oci:{s.root / 'base2'}:t", s.upstream, insecure=True)
    _watch(s, capsys)
    with _state(s) as state:
        jobs = state.jobs("hardbase/app")
        assert [j.state for j in jobs] == ["published"] * 3
        assert "new upstream" in jobs[2].reason
        third = state.image("hardbase/app")
        assert third is not None and third.digest not in (first, second.digest)
    assert _libfoo1(published) == NEWER
    assert skopeo_digest(s, "hardbase/app", "latest") == third.digest


def test_inplace_fleet_entries_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hardbase.errors import SpecError
    from hardbase.lifecycle.fleet import parse_fleet

    base = {"registry": {"url": "127.0.0.1:5000"}, "sign_key": "k.key"}
    image = {"repository": "hardbase/app", "tags": ["1"]}
    good = parse_fleet(
        {**base, "images": [{**image, "image": "docker://h/x:1", "patch": "in-place",
                             "only": "security"}]},
        tmp_path / "f.yaml",
    )  # fmt: skip
    inplace = good.images[0].inplace
    assert inplace is not None and inplace.upstream == "docker://h/x:1"
    assert inplace.only == "security" and good.images[0].spec is None
    for bad, words in [
        ({"image": "docker://h/x:1"}, "either spec"),
        ({"patch": "in-place"}, "needs image"),
        ({"spec": "a.yaml", "image": "docker://h/x:1", "patch": "in-place"}, "needs image"),
        ({"image": "docker://h/x:1", "patch": "in-place", "variants": True}, "variants"),
        ({"image": "dir:/x", "patch": "in-place"}, "must be docker://"),
    ]:
        with pytest.raises(SpecError) as exc:
            parse_fleet({**base, "images": [{**image, **bad}]}, tmp_path / "f.yaml")
        assert words in exc.value.diagnostics(), exc.value.diagnostics()
