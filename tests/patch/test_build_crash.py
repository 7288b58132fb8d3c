"""`hardbase patch build` SIGKILLed during dpkg-buildpackage and during its publish.

The source is the **fixture** package of tests/patch_fixture.py (`fixture-clamp`,
made-up `CVE-2099-1001`) from the signed fixture archive, built in the session's
cached root of Debian's bookworm (`--root-mirror`). Each run is its own process,
killed with SIGKILL (the process alone, as a crash would):

1. while dpkg-buildpackage runs in its runc container (which outlives the process),
   in the default scratch directory (which a SIGKILL leaves behind);
2. again, with the build done, just before REPO's suite is switched to the new
   index (tests/paused_publish.py stops it there): pool files written, no index names them.

The third run completes. Then REPO holds exactly one patched version (`+hb1`, not
`+hb2`) in its Packages and Sources, its InRelease verifies with gpgv and matches its
indexes, the killed build's container and scratch directory are gone, no temp file is left,
and the provenance in the pool is the completed run's, signed. A fourth run with the
same inputs finds the rebuild published and neither builds nor publishes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from crash_checks import check_suite, kill_when, leftovers, paused_publish, run_hardbase, versions
from hardbase.build.spec import MIRROR
from hardbase.cli.main import main
from hardbase.patch.build import SCRATCH_PREFIX
from hardbase.patch.buildroot import BuildRoot, process_alive
from patch_fixture import BINARY, CVE, PATCHED_VERSION, SOURCE, SUITES, add_fixture_package

pytestmark = [pytest.mark.archive, pytest.mark.slow, pytest.mark.timeout(2400)]

SUITE = "bookworm-hardbase"


@pytest.fixture(scope="module")
def clamp_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path_factory.mktemp("clamp-crash")) as archive:
        add_fixture_package(archive)
        for suite in SUITES:
            archive.publish(suite)
        yield archive


def _containers() -> list[dict[str, str]]:
    runc = shutil.which("runc")
    assert runc is not None, "runc is needed for patch builds"
    out = subprocess.run([runc, "list", "--format", "json"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return [c for c in json.loads(out or "null") or [] if c["id"].startswith("hardbase-debbuild-")]


def test_killed_in_the_build_and_before_the_switch_the_archive_gets_one_version(
    clamp_archive: FixtureArchive, bookworm_build_root: BuildRoot, tmp_path: Path
) -> None:
    assert main(["-q", "repo", "keygen", "--no-password", str(tmp_path / "archive")]) == 0
    repo = tmp_path / "repo"

    def args(work: str | None) -> list[str]:
        return ["-q", "patch", "build", SOURCE, "--release", "bookworm", "--cve", CVE,
                "--mirror", clamp_archive.url, "--security-mirror", clamp_archive.url,
                "--keyring", str(clamp_archive.keyring), "--root-mirror", MIRROR,
                "--repo", str(repo), "--key", str(tmp_path / "archive.key"),
                *(["--work", str(tmp_path / work)] if work else [])]  # fmt: skip

    before = {c["id"] for c in _containers()}

    def ours() -> list[dict[str, str]]:
        """The build containers of this test's default-scratch run."""
        return [c for c in _containers()
                if c["id"] not in before and f"/{SCRATCH_PREFIX}" in c["bundle"]]  # fmt: skip

    def building() -> bool:
        for container in ours():
            log = Path(container["bundle"]) / "rootfs" / "build" / "build.log"
            if log.is_file() and log.stat().st_size > 0:
                return True
        return False

    # 1. killed while dpkg-buildpackage runs (in its default scratch directory): the
    # container outlives the process, the scratch directory holds its bundle
    kill_when([*["python3", "-m", "hardbase"], *args(None)], building)
    [stale] = ours()
    scratch = Path(stale["bundle"]).parents[1]
    assert scratch.name.startswith(SCRATCH_PREFIX) and scratch.is_dir()
    assert not repo.exists() or not (repo / "dists").exists()

    # 2. killed with the pool files written, before the suite is switched to them
    marker = tmp_path / "paused"
    kill_when(paused_publish("switch", marker, args("w2")), marker.exists)
    # the second run deleted the first's container (or runc did, the build having ended)
    # and its scratch directory
    assert stale["id"] not in {c["id"] for c in _containers()}
    assert not scratch.exists()
    pool = repo / "pool" / "main" / "f" / SOURCE
    deb = pool / f"{BINARY}_{PATCHED_VERSION}_amd64.deb"
    assert deb.is_file() and not (repo / "dists" / SUITE).exists()

    # 3. the run that completes publishes +hb1, once
    done = run_hardbase(args("w3"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{SOURCE} {PATCHED_VERSION} (bookworm): fixes {CVE}\n")
    keyring = repo / "hardbase-archive-keyring.gpg"
    inrelease = check_suite(repo, SUITE, keyring)
    assert versions(repo, SUITE) == [f"{BINARY} {PATCHED_VERSION}"]
    assert versions(repo, SUITE, "main/source/Sources") == [f"{SOURCE} {PATCHED_VERSION}"]
    assert leftovers(repo) == []
    # no build container of a process that is gone
    pids = {c["id"]: c["id"].split("-")[2] for c in _containers()}
    assert [i for i, pid in pids.items() if pid.isdigit() and not process_alive(int(pid))] == []
    provenance = pool / f"{SOURCE}_{PATCHED_VERSION}.provenance.json"
    [completed] = (tmp_path / "w3" / "out").glob("*.provenance.json")
    assert provenance.read_bytes() == completed.read_bytes()
    gpgv = subprocess.run(["gpgv", "--keyring", str(keyring), f"{provenance}.asc", str(provenance)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert gpgv.returncode == 0, gpgv.stderr
    assert sorted(p.name for p in pool.iterdir()) == sorted(
        [deb.name, f"{SOURCE}_{PATCHED_VERSION}.dsc", f"{SOURCE}_1.0.orig.tar.gz",
         f"{SOURCE}_{PATCHED_VERSION}.debian.tar.xz", provenance.name, f"{provenance.name}.asc"]
    )  # fmt: skip

    # 4. the same inputs again: already published, nothing built, REPO unchanged
    again = run_hardbase(args("w4"))
    assert again.returncode == 0, again.stderr
    assert "already published" in again.stdout and "built " not in again.stdout
    assert check_suite(repo, SUITE, keyring) == inrelease
    assert not list((tmp_path / "w4").glob("out/*.deb"))
