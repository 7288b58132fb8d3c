"""`hardbase patch build` of a source from one archive in a build root from another.

The source is the **fixture** package of tests/patch_fixture.py (`fixture-clamp`,
made-up `CVE-2099-1001`), served by the signed fixture archive; the build root
comes from Debian's real bookworm (`--root-mirror`, deb.debian.org), cached once
per session (the `bookworm_build_root` fixture in tests/conftest.py). The build
runs the package's own test, the result is published to REPO as `+hb1`, and the
.deb carries its pedigree; a patch whose new test case fails fails the build.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.build.spec import MIRROR, SECURITY_MIRROR
from hardbase.cli.main import main
from hardbase.debian.model import DEFAULT_KEYRING
from hardbase.patch.buildroot import BuildRoot
from hardbase.patch.trees import Archives
from patch_fixture import (
    BINARY,
    BREAKS_TESTS,
    CVE,
    PATCH_NAME,
    PATCHED_VERSION,
    SOURCE,
    SUITES,
    VERSION,
    add_fixture_package,
)

BROKEN_CVE = "CVE-2099-1002"  # a fixture id, named by BREAKS_TESTS


@pytest.fixture(scope="module")
def clamp_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path_factory.mktemp("clamp-archive")) as archive:
        add_fixture_package(archive)
        for suite in SUITES:
            archive.publish(suite)
        yield archive


def _args(archive: FixtureArchive, tmp_path: Path, *more: str) -> list[str]:
    return ["-q", "patch", "build", SOURCE, "--release", "bookworm", "--cve", CVE,
            "--mirror", archive.url, "--security-mirror", archive.url,
            "--keyring", str(archive.keyring), "--work", str(tmp_path / "work"),
            *more]  # fmt: skip


def test_the_build_roots_archive_defaults_to_the_sources_and_can_be_debians() -> None:
    fixture = Archives("http://127.0.0.1:1/", None, Path("/fixture.gpg"))
    assert fixture.build_root("bookworm") == fixture.release("bookworm")
    debian = Archives("http://127.0.0.1:1/", None, Path("/fixture.gpg"), root_mirror=MIRROR)
    entries = debian.build_root("bookworm")
    assert [(e.uris, e.suites, e.signed_by) for e in entries] == [
        ((SECURITY_MIRROR,), ("bookworm-security",), DEFAULT_KEYRING),
        ((MIRROR,), ("bookworm-updates",), DEFAULT_KEYRING),
        ((MIRROR,), ("bookworm",), DEFAULT_KEYRING),
    ]
    mine = Archives(root_mirror="http://127.0.0.1:2/", root_keyring=Path("/root.gpg"))
    assert {(e.uris, e.signed_by) for e in mine.build_root("bookworm")} == {
        (("http://127.0.0.1:2/",), Path("/root.gpg"))
    }


def test_a_missing_root_keyring_is_refused_before_anything(
    clamp_archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nosuch.gpg"
    code = main(["--cache-dir", str(tmp_path / "cache"),
                 *_args(clamp_archive, tmp_path, "--root-mirror", MIRROR,
                        "--root-keyring", str(missing))])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"hardbase: error: the --root-keyring {missing} does not exist (nothing was built)"
    ]
    assert not (tmp_path / "work").exists() and not (tmp_path / "cache").exists()


@pytest.mark.archive
@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_fixture_source_builds_in_debians_root_and_is_published_as_hb1(
    clamp_archive: FixtureArchive,
    bookworm_build_root: BuildRoot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["-q", "repo", "keygen", "--no-password", str(tmp_path / "archive")]) == 0
    repo = tmp_path / "repo"
    capsys.readouterr()
    code = main(_args(clamp_archive, tmp_path, "--root-mirror", MIRROR, "--repo", str(repo),
                      "--key", str(tmp_path / "archive.key")))  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"{SOURCE} {PATCHED_VERSION} (bookworm): fixes {CVE}\n")
    assert f"build root {bookworm_build_root.plan.key[:16]} (cached" in out

    # the package's own test ran in the build, with the patch's new case
    work = tmp_path / "work"
    record = json.loads(next((work / "out").glob("*.hardbase-patch.json")).read_text())
    log = Path(record["log"]).read_text()
    assert "ok: clamp 150 = 100" in log and "fixture-clamp: all tests passed" in log
    assert record["buildRoot"]["key"] == bookworm_build_root.plan.key
    assert f"{MIRROR} bookworm" in record["buildRoot"]["suites"]
    assert [p["name"] for p in record["patches"]] == [PATCH_NAME]

    # REPO: the +hb1 .deb in the pool and the index, InRelease verifying with gpgv
    deb = repo / "pool" / "main" / "f" / SOURCE / f"{BINARY}_{PATCHED_VERSION}_amd64.deb"
    assert deb.is_file()
    dists = repo / "dists" / "bookworm-hardbase"
    packages = (dists / "main" / "binary-amd64" / "Packages").read_text()
    assert f"Package: {BINARY}\n" in packages and f"Version: {PATCHED_VERSION}\n" in packages
    gpgv = subprocess.run(["gpgv", "--keyring", str(repo / "hardbase-archive-keyring.gpg"),
                           str(dists / "InRelease")], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert gpgv.returncode == 0, gpgv.stderr
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert f"Hardbase-Patched-From: {SOURCE} (= {VERSION})" in control
    assert f"Hardbase-Fixes: {CVE}" in control
    assert f"Hardbase-Patches:\n {PATCH_NAME} " in control

    # the rebuilt program has the fix
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "x")], check=True)
    clamp = subprocess.run([str(tmp_path / "x" / "usr/bin/clamp"), "150"], capture_output=True,
                           text=True, check=True)  # fmt: skip
    assert clamp.stdout == "100\n"

    # a patch whose new test case fails: the package's own test fails the build
    broken = tmp_path / "breaks-tests.patch"
    broken.write_text(BREAKS_TESTS)
    code = main(["-q", "patch", "build", SOURCE, "--release", "bookworm", "--cve", BROKEN_CVE,
                 "--patch", str(broken), "--mirror", clamp_archive.url, "--security-mirror",
                 clamp_archive.url, "--keyring", str(clamp_archive.keyring), "--root-mirror",
                 MIRROR, "--repo", str(repo), "--key", str(tmp_path / "archive.key"),
                 "--work", str(tmp_path / "broken")])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("hardbase: error: dpkg-buildpackage failed (")
    failed_log = line.rsplit("the whole log is ", 1)[1]
    assert "FAIL: clamp -1 gave 0, expected 1" in Path(failed_log).read_text()
    assert "+hb2" not in (dists / "main" / "binary-amd64" / "Packages").read_text()
