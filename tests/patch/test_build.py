"""`hardbase patch build`: bad input refused before anything is built or published.

Uses the **fixture** archive of test_find.py (made-up sources and `CVE-2099-*` ids).
The real rebuild (sqlite3, CVE-2026-11822) is in test_real_sqlite3.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_find import _diff, archive, changelog  # noqa: F401 (the module-scoped fixture)

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from hardbase.patch.build import _entry, next_revision

__all__ = ["archive"]


def _build(archive: FixtureArchive, tmp_path: Path, *args: str) -> int:  # noqa: F811
    return main(
        ["--cache-dir", str(tmp_path / "cache"), "-q", "patch", "build", "fixture-calc",
         "--release", "bookworm", "--mirror", archive.url, "--security-mirror", archive.url,
         "--keyring", str(archive.keyring), "--repo", str(tmp_path / "repo"),
         "--work", str(tmp_path / "work"), *args]
    )  # fmt: skip


@pytest.fixture
def key(tmp_path: Path) -> Path:
    assert main(["-q", "repo", "keygen", "--no-password", str(tmp_path / "archive")]) == 0
    return tmp_path / "archive.key"


def test_a_missing_archive_key_is_refused_before_anything(
    archive: FixtureArchive,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nokey.key"
    assert _build(archive, tmp_path, "--cve", "CVE-2099-0001", "--key", str(missing)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"hardbase: error: the archive key {missing} does not exist; make one with "
        "`hardbase repo keygen` (nothing was built or published)"
    ]
    assert not (tmp_path / "repo").exists() and not (tmp_path / "work").exists()
    assert archive.requests == [] or not any("fixture-calc" in r for r in archive.requests[-3:])


def test_a_patch_that_does_not_apply_names_file_and_hunk_and_publishes_nothing(
    archive: FixtureArchive,  # noqa: F811
    tmp_path: Path,
    key: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.patch"
    bad.write_text(_diff("b.c", "return n + 7;", "return 0;",
                         "Description: fixture fix of CVE-2099-0002\n"
                         "Origin: vendor, https://fixture.invalid/bad\n---\n"))  # fmt: skip
    code = _build(archive, tmp_path, "--cve", "CVE-2099-0002", "--patch", str(bad),
                  "--key", str(key))  # fmt: skip
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"hardbase: error: the patch bad.patch ({bad} (vendor, https://fixture.invalid/bad)) "
        "does not apply to the release's source: hunk #1 of b.c fails at line 1; nothing was built"
    )
    assert not (tmp_path / "repo").exists()


def test_no_fix_found_says_to_give_one(
    archive: FixtureArchive,  # noqa: F811
    tmp_path: Path,
    key: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _build(archive, tmp_path, "--cve", "CVE-2099-0042", "--key", str(key)) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "no fix for CVE-2099-0042 was found" in line and "--patch FILE" in line
    assert not (tmp_path / "repo").exists()


def test_next_revision_reads_repos_sources(tmp_path: Path) -> None:
    sources = tmp_path / "dists" / "bookworm-hardbase" / "main" / "source" / "Sources"
    sources.parent.mkdir(parents=True)
    assert next_revision(tmp_path, "bookworm", "sqlite3", "3.40.1-2+deb12u2") == 1
    sources.write_text(
        "Package: sqlite3\nVersion: 3.40.1-2+deb12u2+hb1\n\n"
        "Package: sqlite3\nVersion: 3.40.1-2+deb12u2+hb2\n\n"
        "Package: sqlite3\nVersion: 3.40.1-2+deb12u1+hb5\n\n"
        "Package: other\nVersion: 3.40.1-2+deb12u2+hb9\n"
    )
    assert next_revision(tmp_path, "bookworm", "sqlite3", "3.40.1-2+deb12u2") == 3


def test_the_changelog_entry_targets_the_release_and_names_every_cve() -> None:
    from hardbase.patch.apply import DryRun
    from hardbase.patch.build import AppliedPatch
    from hardbase.patch.dep3 import parse_header
    from hardbase.patch.find import Candidate

    header = parse_header("From 79db323ce14923a1bcc7b3b72679003c14c1cd7f Mon Sep 17 2001\n---\n")
    candidate = Candidate(
        cve="CVE-2026-11822", kind="debian", path=Path("54-CVE-2026-11822_CVE-2026-11824.patch"),
        name="54-CVE-2026-11822_CVE-2026-11824.patch", matched_by=("file name",), header=header,
        sha256="0" * 64, check=DryRun((), (), False, ""), source="sqlite3",
        version="3.46.1-7+deb13u2", suite="trixie",
    )  # fmt: skip
    entry = _entry("sqlite3", "3.40.1-2+deb12u2+hb1", "bookworm", "3.40.1-2+deb12u2",
                   [AppliedPatch(candidate, candidate.name, b"")], 1781440323)  # fmt: skip
    head, blank, first, *_ = entry.splitlines()
    assert head == "sqlite3 (3.40.1-2+deb12u2+hb1) bookworm; urgency=medium"
    assert first == "  * Rebuild of sqlite3 3.40.1-2+deb12u2 by hardbase with security fixes."
    assert all(line.startswith(("  * ", "    ")) for line in entry.splitlines()[2:-3] if line)
    assert "CVE-2026-11822, CVE-2026-11824" in entry
    assert " -- hardbase <rebuilds@hardbase.invalid>  Sun, 14 Jun 2026 12:32:03 +0000" in entry
    from hardbase.vuln.importers.debian_changelog import parse_changelog

    fixes = parse_changelog(entry, "bookworm")
    assert fixes == {
        "CVE-2026-11822": "3.40.1-2+deb12u2+hb1",
        "CVE-2026-11824": "3.40.1-2+deb12u2+hb1",
    }


def test_provenance_lists_ancestor_patches_build_root_and_patched_source(tmp_path: Path) -> None:
    """Fixture inputs (made-up files and hashes) through the provenance writer."""
    import hashlib
    import json
    from types import SimpleNamespace

    from hardbase.patch.apply import DryRun
    from hardbase.patch.build import AppliedPatch, _write_provenance
    from hardbase.patch.buildroot import BuildRoot, RootPlan
    from hardbase.patch.dep3 import parse_header
    from hardbase.patch.find import Candidate

    def file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    debian_tar = SimpleNamespace(
        name="calc_1.0-2.debian.tar.xz", url="http://m/calc_1.0-2.debian.tar.xz"
    )
    base = SimpleNamespace(
        name="calc", version="1.0-1",
        files=(SimpleNamespace(name="calc_1.0-1.dsc", sha256="a" * 64, url="http://m/calc_1.0-1.dsc"),),
    )  # fmt: skip
    newer = [SimpleNamespace(name="calc", version="1.0-2", files=(debian_tar,))]
    candidate = Candidate(
        cve="CVE-2099-0001", kind="debian", path=tmp_path / "fix.patch", name="fix.patch",
        matched_by=("file name",), header=parse_header("---\n"), sha256="b" * 64,
        check=DryRun((), (), False, ""), source="calc", version="1.0-2", suite="trixie",
    )  # fmt: skip
    root = BuildRoot(RootPlan((), "amd64", "bookworm"), tmp_path / "r.tar", "c" * 64, True, 0.0)
    deb = file("libcalc1_1.0-1+deb12u0+hb1_amd64.deb", "deb")
    dsc = file("calc_1.0-1+deb12u0+hb1.dsc", "dsc")
    path = _write_provenance(
        tmp_path, base, newer, "1.0-1+deb12u0+hb1", "bookworm", ["CVE-2099-0001"],
        [AppliedPatch(candidate, "fix.patch", b"patch")], root, [deb], [dsc],
        datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    doc = json.loads(path.read_text())
    assert doc["subject"] == [
        {"name": deb.name, "digest": {"sha256": hashlib.sha256(b"deb").hexdigest()}}
    ]
    deps = {d["name"]: d for d in doc["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert deps["calc_1.0-1.dsc"]["uri"] == "http://m/calc_1.0-1.dsc"
    assert deps["debian/patches/fix.patch"] == {
        "uri": "http://m/calc_1.0-2.debian.tar.xz#debian/patches/fix.patch",
        "digest": {"sha256": hashlib.sha256(b"patch").hexdigest()},
        "name": "debian/patches/fix.patch",
    }
    assert deps["build root"]["digest"] == {"sha256": "c" * 64}
    assert deps[dsc.name]["uri"] == f"file:{dsc.name}"
    assert doc["predicate"]["buildDefinition"]["externalParameters"]["spec"]["fixes"] == [
        "CVE-2099-0001"
    ]


def test_scratch_dirs_of_processes_that_are_gone_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import tempfile

    from hardbase.patch.build import SCRATCH_PREFIX, scratch_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    dead = tmp_path / f"{SCRATCH_PREFIX}{gone.stdout.strip()}-abc"  # a killed run's
    (dead / "work").mkdir(parents=True)
    live = tmp_path / f"{SCRATCH_PREFIX}1-abc"  # pid 1 runs
    live.mkdir()
    older = tmp_path / f"{SCRATCH_PREFIX}abc123"  # no pid in its name: not ours to judge
    older.mkdir()
    with scratch_dir() as scratch:
        assert scratch.name.startswith(f"{SCRATCH_PREFIX}{os.getpid()}-") and scratch.is_dir()
        assert not dead.exists() and live.is_dir() and older.is_dir()
    assert not scratch.exists()
