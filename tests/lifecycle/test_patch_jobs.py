"""The patch loop's decisions and its state: which source versions get a patch job, once;
the job's lease and steps; `patch-candidate` once; a failed job is not retried until its
inputs change.

The tracker document and the patch here are **fixtures** in the real formats (the
security tracker's JSON, a DEP-3 headed diff) with made-up `fixture-*` packages and
`CVE-2099-*` ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.build.lock import Lock, LockedPackage
from hardbase.lifecycle.fleet import ManagedImage, PatchSettings, UserPatch
from hardbase.lifecycle.patchjobs import (
    PatchNeed,
    newer_versions,
    patch_needs,
    queue_patch_jobs,
    with_fleet_archive,
)
from hardbase.lifecycle.state import PATCH_RUNNABLE, PatchState, StateDB, StateError
from hardbase.util.progress import NullProgress
from hardbase.vuln.db import VulnDB
from hardbase.vuln.importers.interface import get_importer
from hardbase.vuln.severity import Severity


def _row(status: str, urgency: str, **extra: str) -> dict[str, object]:
    return {"status": status, "repositories": {"bookworm": "1.0-1"}, "urgency": urgency, **extra}


TRACKER = {
    "fixture-calc": {
        "CVE-2099-0101": {"description": "Fixture: open, high", "releases": {
            "bookworm": _row("open", "high")}},
        "CVE-2099-0102": {"description": "Fixture: open, low", "releases": {
            "bookworm": _row("open", "low")}},
        "CVE-2099-0103": {"description": "Fixture: open, critical", "releases": {
            "bookworm": _row("open", "high")}},
    },
    "fixture-elsewhere": {
        "CVE-2099-0199": {"description": "Fixture: a package no image has", "releases": {
            "bookworm": _row("open", "critical")}},
    },
}  # fmt: skip

DIFF = "--- a/calc.c\n+++ b/calc.c\n@@ -1 +1 @@\n-return n;\n+return n + 1;\n"


def _pkg(name: str, source: str, version: str = "1.0-1") -> LockedPackage:
    return LockedPackage(name, version, "amd64", source, version, f"http://x.invalid/{name}.deb",
                         "0" * 64, 1, "base", "bookworm")  # fmt: skip


def _lock(*pkgs: LockedPackage) -> Lock:
    return Lock("fixture", "0" * 64, "bookworm", (), {"amd64": pkgs}, {})


def _image(name: str, *, patch: bool = True) -> ManagedImage:
    return ManagedImage(name, Path(f"/fixture/{name}.yaml"), name, ("latest",), None, None,
                        "minimal", Severity.HIGH, patch=patch)  # fmt: skip


def _publish(state: StateDB, image: str, lock: Lock) -> None:
    """The image's lock recorded as published, as a job's publish step leaves it."""
    body = json.dumps(lock.to_json())
    state.ensure_image(image, f"/fixture/{image}.yaml", ["latest"])
    state.put_lock(image, f"hash-{image}", body)
    job, _ = state.create_job(image, f"hash-{image}", "first publish", {}, "20990101.1")
    claimed = state.claim(job.id, "owner", 60)
    assert claimed is not None
    assert state.publish(claimed, "owner", "sha256:" + "1" * 64, []) is not None


@pytest.fixture
def world(tmp_path: Path) -> tuple[StateDB, VulnDB, PatchSettings]:
    feed = tmp_path / "tracker.json"
    feed.write_text(json.dumps(TRACKER))
    db = VulnDB.open(tmp_path / "vuln.db")
    get_importer("debian-tracker").run(db, [str(feed)], NullProgress())
    patch = tmp_path / "fix.patch"
    patch.write_text("Description: fixture fix of CVE-2099-0103\n"
                     "Origin: vendor, https://fixture.invalid/fix\n---\n" + DIFF)  # fmt: skip
    settings = PatchSettings(
        Severity.HIGH, ("newer-debian", "patches-dir"), tmp_path / "repo", tmp_path / "k.key",
        patches=(UserPatch(patch, ("CVE-2099-0103",), "vendor, https://fixture.invalid/fix"),),
        url="http://127.0.0.1:9/", public_key=tmp_path / "k.gpg",
    )  # fmt: skip
    state = StateDB.open(f"sqlite:///{tmp_path / 'state.db'}")
    calc = _lock(_pkg("libcalc1", "fixture-calc"), _pkg("calc", "fixture-calc"))
    _publish(state, "hb/a", calc)
    _publish(state, "hb/b", _lock(_pkg("calc", "fixture-calc"), _pkg("other", "fixture-other")))
    _publish(state, "hb/off", calc)
    return state, db, settings


IMAGES = (_image("hb/a"), _image("hb/b"), _image("hb/off", patch=False), _image("hb/new"))


def test_one_need_per_source_version_for_every_image_that_holds_it(
    world: tuple[StateDB, VulnDB, PatchSettings],
) -> None:
    state, db, settings = world
    [need] = patch_needs(state, IMAGES, db, settings)
    # low is under min_severity; hb/off opted out; hb/new was never published
    assert (need.source, need.version, need.release) == ("fixture-calc", "1.0-1", "bookworm")
    assert need.cves == ("CVE-2099-0101", "CVE-2099-0103")
    assert need.images == ("hb/a", "hb/b")
    assert [Path(p).name for p, _ in need.patches] == ["fix.patch"]
    # the patches: file is a candidate: one event, however many passes see it
    patch_needs(state, IMAGES, db, settings)
    [event] = state.events(kind="patch-candidate")
    assert event.image == "patch:fixture-calc"
    assert event.detail["cve"] == "CVE-2099-0103"
    assert event.detail["candidate"].startswith("patches-dir:fix.patch:")
    assert event.detail["images"] == ["hb/a", "hb/b"]
    assert state.patch_first_seen("CVE-2099-0103", "fixture-calc", "1.0-1") == event.ts
    assert state.patch_first_seen("CVE-2099-0101", "fixture-calc", "1.0-1") is None


def test_a_tracker_record_for_a_package_no_image_holds_changes_nothing(
    world: tuple[StateDB, VulnDB, PatchSettings],
) -> None:
    state, db, settings = world
    needs = patch_needs(state, IMAGES, db, settings)
    assert "fixture-elsewhere" not in {n.source for n in needs}
    only_other = (_image("hb/b"),)
    state_b = [n for n in patch_needs(state, only_other, db, settings)]
    assert [n.images for n in state_b] == [("hb/b",)]
    events = state.events()
    assert not [e for e in events if "fixture-elsewhere" in json.dumps(e.detail)]


def test_the_same_inputs_are_one_job_and_a_failed_one_is_not_retried(
    world: tuple[StateDB, VulnDB, PatchSettings], tmp_path: Path
) -> None:
    state, db, settings = world
    needs = patch_needs(state, IMAGES, db, settings)
    [job] = queue_patch_jobs(state, needs, settings)
    assert job.state == PatchState.QUEUED and job.revision == 1
    assert job.cves == ("CVE-2099-0101", "CVE-2099-0103")
    assert queue_patch_jobs(state, patch_needs(state, IMAGES, db, settings), settings) == [job]
    # the lease: one holder at a time, a step needs it
    held = state.claim_patch(job.id, "one", 60)
    assert held is not None and held.attempts == 1
    assert state.claim_patch(job.id, "two", 60) is None
    with pytest.raises(StateError, match="lost its lease"):
        state.advance_patch(held, "two", PatchState.BUILT, "patch-built")
    built = state.advance_patch(
        held, "one", PatchState.BUILT, "patch-built", version="1.0-1+deb12u0+hb1",
        detail={"log": "build.log"},
    )  # fmt: skip
    assert (built.state, built.version, built.detail["log"]) == (
        PatchState.BUILT,
        "1.0-1+deb12u0+hb1",
        "build.log",
    )
    assert state.fail_patch(built, "one", "the build failed; see build.log", log="build.log")
    assert not state.fail_patch(built, "one", "again")
    [failed] = state.events(kind="patch-failed")
    assert failed.detail["log"] == "build.log" and failed.detail["patch_job"] == job.id
    assert state.patch_jobs(states=PATCH_RUNNABLE) == []
    assert state.claim_patch(job.id, "one", 60) is None
    # the same inputs next pass: the same (failed) job, nothing to run
    [again] = queue_patch_jobs(state, patch_needs(state, IMAGES, db, settings), settings)
    assert again.id == job.id and again.state == PatchState.FAILED
    # a changed patch file is a new input: a new job, the next revision
    [(path, _)] = needs[0].patches
    Path(path).write_text(Path(path).read_text().replace("n + 1", "n + 2"))
    [changed] = queue_patch_jobs(state, patch_needs(state, IMAGES, db, settings), settings)
    assert changed.id != job.id and changed.revision == 2


def test_a_patch_job_taken_over_from_a_dead_owner_and_retired_once(
    world: tuple[StateDB, VulnDB, PatchSettings],
) -> None:
    state, db, settings = world
    [job] = queue_patch_jobs(state, patch_needs(state, IMAGES, db, settings), settings)
    dead = "fixture-host-gone:1:0"  # another host: only its lease time counts
    held = state.claim_patch(job.id, dead, -1)  # a lease that already ran out
    assert held is not None
    taken = state.claim_patch(job.id, "alive", 60)
    assert taken is not None and taken.attempts == 2
    assert [e.kind for e in state.events(image="patch:fixture-calc")][-2:] == [
        "patch-started", "patch-resumed"
    ]  # fmt: skip
    built = state.advance_patch(taken, "alive", PatchState.BUILT, "patch-built", version="v+hb1")
    assert not state.retire_patch(built)  # only a published patch retires
    done = state.advance_patch(built, "alive", PatchState.PUBLISHED, "patch-published")
    assert done.lease_owner is None and done.published_at is not None
    assert state.retire_patch(done, debian_version="1.0-2")
    assert not state.retire_patch(done)
    [retired] = state.events(kind="patch-retired")
    assert retired.detail["debian_version"] == "1.0-2"
    assert state.patch_job(job.id).state == PatchState.RETIRED  # type: ignore[union-attr]


def test_the_need_key_hashes_its_inputs(tmp_path: Path) -> None:
    settings = PatchSettings(Severity.HIGH, ("newer-debian",), tmp_path, tmp_path / "k")
    need = PatchNeed("s", "1.0-1", "bookworm", ("CVE-2099-0001",), (), ("hb/a",))
    same = PatchNeed("s", "1.0-1", "bookworm", ("CVE-2099-0001",), (), ("hb/a", "hb/b"))
    other = PatchNeed("s", "1.0-1", "bookworm", ("CVE-2099-0001", "CVE-2099-0002"), (), ())
    assert need.key(settings) == same.key(settings)  # which images hold it is no input
    assert need.key(settings) != other.key(settings)
    assert need.key(settings).startswith("s@1.0-1@bookworm#")


def test_the_spec_with_the_fleet_archive_names_its_suite_and_key(tmp_path: Path) -> None:
    from hardbase.build.spec import load_spec

    spec_path = tmp_path / "a.yaml"
    spec_path.write_text("name: a\nrelease: bookworm\npackages: [base-files]\n")
    spec = load_spec(spec_path)
    settings = PatchSettings(Severity.HIGH, ("newer-debian",), tmp_path, tmp_path / "k.key",
                             url="http://127.0.0.1:9/", public_key=tmp_path / "k.gpg")  # fmt: skip
    archived = with_fleet_archive(spec, settings)
    extra = archived.sources[-1]
    assert extra.uris == ("http://127.0.0.1:9/",) and extra.suites == ("bookworm-hardbase",)
    assert extra.signed_by == tmp_path / "k.gpg"
    assert archived.resolution_hash() != spec.resolution_hash()
    assert with_fleet_archive(archived, settings) == archived


NEWER_SUITES = ("trixie", "trixie-security", "trixie-updates", "sid")


def _changelog(version: str, suite: str, name: str = "fixture-calc") -> str:
    return (
        f"{name} ({version}) {suite}; urgency=medium\n\n"
        "  * Fixture upload written for hardbase's tests, not a Debian upload.\n\n"
        " -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n"
    )


def test_a_failed_newer_debian_job_is_retried_when_a_newer_suite_gets_an_upload(
    world: tuple[StateDB, VulnDB, PatchSettings], tmp_path: Path
) -> None:
    state, db, settings = world
    with FixtureArchive(tmp_path / "newer") as archive:
        archive.add_source("fixture-calc", "1.0-1", _changelog("1.0-1", "trixie"), suite="trixie")
        other = _changelog("1.0", "sid", "fixture-other")
        archive.add_source("fixture-other", "1.0", other, suite="sid")
        for suite in NEWER_SUITES:
            archive.publish(suite)
        searched = PatchSettings(
            Severity.HIGH, ("newer-debian",), tmp_path / "repo", tmp_path / "k.key",
            mirror=archive.url, security_mirror=archive.url, keyring=archive.keyring,
        )  # fmt: skip
        assert newer_versions(searched, "fixture-calc", "bookworm") == (
            ("trixie", "1.0-1"), ("sid", "")
        )  # fmt: skip
        [need] = patch_needs(state, IMAGES, db, searched)
        assert need.patches == () and need.newer == (("trixie", "1.0-1"), ("sid", ""))
        [job] = queue_patch_jobs(state, [need], searched)
        assert job.inputs["newer"] == [["trixie", "1.0-1"], ["sid", ""]]
        held = state.claim_patch(job.id, "one", 60)
        assert held is not None
        assert state.fail_patch(held, "one", "no fix for CVE-2099-0101 was found")
        # nothing new in the newer suites: the same failed job, not retried
        [again] = queue_patch_jobs(state, patch_needs(state, IMAGES, db, searched), searched)
        assert again.id == job.id and again.state == PatchState.FAILED
        # sid gets a new upload of the source: what the search reads changed, a new job
        archive.add_source("fixture-calc", "1.0-2", _changelog("1.0-2", "sid"), suite="sid")
        archive.publish("sid")
        [retry] = queue_patch_jobs(state, patch_needs(state, IMAGES, db, searched), searched)
        assert retry.id != job.id and retry.state == PatchState.QUEUED and retry.revision == 2
        assert retry.inputs["newer"] == [["trixie", "1.0-1"], ["sid", "1.0-2"]]
        # a suite that cannot be read is an input too (the search skips it), not an error
        archive.tamper_inrelease("trixie")
        assert newer_versions(searched, "fixture-calc", "bookworm") == (
            ("trixie", "unread"), ("sid", "1.0-2")
        )  # fmt: skip
    # a user's patch is the whole fix: the newer suites are not read, nor in its key
    [user] = patch_needs(state, IMAGES, db, settings)
    assert user.patches and user.newer == () and "newer" not in user.inputs(settings)


def test_retiring_relocks_every_image_on_any_rebuild_of_the_source_and_no_live_one(
    tmp_path: Path,
) -> None:
    """Debian's fixture fix `1.0-1+deb12u1` of fixture-fix retires the published `+hb2`; the
    image still on `+hb1` (whose patch an earlier pass retired without moving it), the one on
    `+hb2` and an opted-out one on `+hb1` all go back to Debian's binary; the image on Debian's
    own package and the one on another source's live rebuild are left alone."""
    from hardbase.lifecycle.controller import Controller
    from hardbase.lifecycle.fleet import Fleet
    from hardbase.lifecycle.patchjobs import retire_patches
    from hardbase.lifecycle.report import PassReport

    feed = tmp_path / "tracker.json"
    feed.write_text(json.dumps({
        "fixture-fix": {"CVE-2099-0201": {"description": "Fixture: fixed by Debian", "releases": {
            "bookworm": _row("resolved", "high", fixed_version="1.0-1+deb12u1")}}},
        "fixture-live": {"CVE-2099-0202": {"description": "Fixture: still open", "releases": {
            "bookworm": _row("open", "high")}}},
    }))  # fmt: skip
    db = VulnDB.open(tmp_path / "vuln.db")
    get_importer("debian-tracker").run(db, [str(feed)], NullProgress())
    state = StateDB.open(f"sqlite:///{tmp_path / 'state.db'}")
    hb1, hb2 = "1.0-1+deb12u0+hb1", "1.0-1+deb12u0+hb2"
    with FixtureArchive(tmp_path / "debian") as archive:
        for version in ("1.0-1", "1.0-1+deb12u1"):
            archive.add_package("fix", version, suite="bookworm", source="fixture-fix")
        archive.add_package("live", "1.0-1", suite="bookworm", source="fixture-live")
        archive.publish("bookworm")
        images = []
        for name, packages in (
            ("hb/old", [_pkg("fix", "fixture-fix", hb1)]),
            ("hb/new", [_pkg("fix", "fixture-fix", hb2)]),
            ("hb/optout", [_pkg("fix", "fixture-fix", hb1)]),
            ("hb/debian", [_pkg("fix", "fixture-fix")]),
            ("hb/live", [_pkg("live", "fixture-live", hb1)]),
        ):
            spec = tmp_path / f"{name.replace('/', '-')}.yaml"
            spec.write_text(
                f"name: {name.split('/')[1]}\nrelease: bookworm\n"
                f"packages: [{packages[0].name}]\nsources:\n  - uris: ['{archive.url}']\n"
                f"    suites: [bookworm]\n    signed-by: {archive.keyring}\n"
            )
            images.append(ManagedImage(name, spec, name, ("latest",), None, None, "minimal",
                                       Severity.HIGH, patch=name != "hb/optout"))  # fmt: skip
            _publish(state, name, _lock(*packages))
        settings = PatchSettings(Severity.HIGH, ("newer-debian",), tmp_path / "repo",
                                 tmp_path / "k.key", url="http://127.0.0.1:9/")  # fmt: skip
        fleet = Fleet(tmp_path / "fleet.yaml", "127.0.0.1:9", True, "", None, 60.0,
                      tmp_path / "k.key", None, (), 1, 60.0, 0.0, tmp_path / "work",
                      tuple(images), patch=settings)  # fmt: skip
        ctl = Controller(fleet, state, owner="one")

        def published(source: str, cves: list[str], version: str, revision: int) -> int:
            job, _ = state.create_patch_job(f"{source}#{revision}", source, "1.0-1", "bookworm",
                                            {"cves": cves}, revision, {})  # fmt: skip
            held = state.claim_patch(job.id, "one", 60)
            assert held is not None
            built = state.advance_patch(held, "one", PatchState.BUILT, "patch-built",
                                        version=version)  # fmt: skip
            state.advance_patch(built, "one", PatchState.PUBLISHED, "patch-published")
            return job.id

        first = published("fixture-fix", ["CVE-2099-0201"], hb1, 1)
        state.retire_patch(state.patch_job(first), debian_version="1.0-1+deb12u1")  # type: ignore[arg-type]
        second = published("fixture-fix", ["CVE-2099-0201"], hb2, 2)
        published("fixture-live", ["CVE-2099-0202"], hb1, 1)

        report = PassReport(started=0.0)
        queued = retire_patches(ctl, db, report)
        assert (report.outcomes, report.warnings) == ([], [])
        assert queued == {"hb/old", "hb/new", "hb/optout"}
        assert state.patch_job(second).state == PatchState.RETIRED  # type: ignore[union-attr]
        [event] = [e for e in state.events(kind="patch-retired") if e.detail["patch_job"] == second]
        assert event.detail["images"] == ["hb/old", "hb/new", "hb/optout"]
        for name in sorted(queued):
            [job] = [j for j in state.jobs(image=name) if j.reason.startswith("retire")]
            body = state.lock_body(job.lock_hash)
            assert body is not None
            [fix] = Lock.from_json(json.loads(body), name).all_packages()
            assert (fix.version, fix.suite) == ("1.0-1+deb12u1", "bookworm")
        assert [j.reason for j in state.jobs(image="hb/debian")] == ["first publish"]
        assert [j.reason for j in state.jobs(image="hb/live")] == ["first publish"]
        # the next pass: the relocks are queued already, nothing new
        assert retire_patches(ctl, db, PassReport(started=0.0)) == set()
