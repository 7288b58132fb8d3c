"""SIGKILL the controller while it builds a patch and just before it publishes the rebuild.

The world is test_watch_patch.py's (all of it **fixture** data on the Debian side: the
`fixture-clamp` source with its made-up `CVE-2099-1001`, a tracker feed served from
127.0.0.1; Debian's real bookworm as the build root, a real registry). The controller
runs `watch --once` as a process paused at the hook `patch-build` (the build made
progress) or `patch-publish` (the build done, the fleet archive not yet written), is
killed with SIGKILL there, and a restarted `watch --once` finishes the job. Then the
fleet archive holds exactly one rebuild (`+hb1`) in its Packages and Sources, its
InRelease verifies with gpgv and matches its indexes, there is one patch job, built
and published once, and each image was published exactly once more, its tag on the
digest that job verified.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_watch_crash import kill_at, run_to_end
from test_watch_patch import IMAGES, PatchWorld
from test_watch_patch import world as world  # the fixture

from crash_checks import check_suite, leftovers, versions
from hardbase.lifecycle.state import PatchState
from hardbase.patch.buildroot import BuildRoot
from patch_fixture import BINARY, PATCHED_VERSION, SOURCE

pytestmark = [pytest.mark.archive, pytest.mark.slow]

SUITE = "bookworm-hardbase"


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("point", ["patch-build", "patch-publish"])
def test_killed_patch_job_resumes_and_publishes_one_rebuild_once(
    world: PatchWorld, bookworm_build_root: BuildRoot, tmp_path: Path, point: str
) -> None:
    run_to_end(world.fleet, timeout=1200)  # first publish of both, with Debian's 1.0-1
    with world.state() as state:
        first = {r: state.image(r).digest for r in IMAGES}  # type: ignore[union-attr]
    kill_at(world.fleet, point, tmp_path / "paused", wait=1200)
    with world.state() as state:
        [job] = state.patch_jobs()
        assert job.lease_owner, "the killed controller held the patch job"
        expected = PatchState.BUILT if point == "patch-publish" else PatchState.QUEUED
        assert job.state == expected
        assert [len(state.jobs(image=r)) for r in IMAGES] == [1, 1]
    if point == "patch-publish":
        assert not (world.repo / "dists" / SUITE).exists()

    run_to_end(world.fleet, timeout=1800)
    with world.state() as state:
        [job] = state.patch_jobs()
        assert (job.state, job.version) == (PatchState.PUBLISHED, PATCHED_VERSION)
        kinds = [e.kind for e in state.events(image=f"patch:{SOURCE}")]
        assert kinds.count("patch-built") == 1 and kinds.count("patch-published") == 1
        assert kinds.count("patch-started") == 1 and kinds.count("patch-resumed") == 1
        for repository in IMAGES:
            jobs = state.jobs(image=repository)
            assert [j.state for j in jobs] == ["published", "published"]
            image = state.image(repository)
            assert image is not None and image.digest == jobs[-1].digest != first[repository]
            for kind in ("verified", "published"):
                assert len(state.events(job=jobs[-1].id, kind=kind)) == 1, (repository, kind)
            assert world.digest(repository) == jobs[-1].digest
    keyring = world.repo / "hardbase-archive-keyring.gpg"
    check_suite(world.repo, SUITE, keyring)
    assert versions(world.repo, SUITE) == [f"{BINARY} {PATCHED_VERSION}"]
    assert versions(world.repo, SUITE, "main/source/Sources") == [f"{SOURCE} {PATCHED_VERSION}"]
    assert leftovers(world.repo) == []
    pool = world.repo / "pool" / "main" / "f" / SOURCE
    assert sorted(p.name for p in pool.glob("*.deb")) == [f"{BINARY}_{PATCHED_VERSION}_amd64.deb"]
