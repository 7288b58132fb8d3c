"""`hardbase patch find` on the signed fixture archive (tests/archive_fixture.py).

Every source package, patch, changelog and CVE id here is a **fixture** written for
these tests (ids `CVE-2099-*`, as tests/data/vuln/README.md says): a bookworm
source and its trixie successor whose debian/patches fix three made-up CVEs,
each named a different way (file name, DEP-3 header, changelog entry). The archive
also holds tests/patch_fixture.py's `fixture-clamp` (a fixture source that really
builds, `CVE-2099-1001`), for tests that import this archive. The real case (sqlite3,
CVE-2026-11822) is in test_real_sqlite3.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from hardbase.patch.apply import dry_run
from hardbase.patch.dep3 import PatchFileError, cve_ids, parse_header, require_trusted
from patch_fixture import CVE as CLAMP_CVE
from patch_fixture import PATCH_NAME as CLAMP_PATCH
from patch_fixture import SUITES, add_fixture_package
from schema_check import check

ORIG = {
    "a.c": "int a(int n)\n{\n\treturn n;\n}\n",
    "b.c": "int b(int n)\n{\n\treturn n * 2;\n}\n",
    "c.c": "int c(int n)\n{\n\treturn n * 3;\n}\n",
}


def _diff(name: str, old: str, new: str, header: str = "") -> str:
    return (
        header
        + f"--- a/{name}\n+++ b/{name}\n@@ -1,4 +1,4 @@\n int {name[0]}(int n)\n {{\n"
        + f"-\t{old}\n+\t{new}\n }}\n"
    )


BY_NAME = _diff("a.c", "return n;", "return n < 0 ? 0 : n;",
                "Description: clamp negative input\nOrigin: upstream, https://fixture.invalid/a\n"
                "Last-Update: 2099-01-01\n---\n")  # fmt: skip
BY_HEADER = _diff("b.c", "return n * 2;", "return n > 1000 ? 0 : n * 2;",
                  "Description: fix an overflow (CVE-2099-0002)\n"
                  "Origin: upstream, https://fixture.invalid/b\n---\n")  # fmt: skip
BY_CHANGELOG = _diff("c.c", "return n * 3;", "return n > 1000 ? 0 : n * 3;",
                     "Description: bound the multiplier\n---\n")  # fmt: skip


def changelog(name: str, version: str, suite: str, items: str = "") -> str:
    return (
        f"{name} ({version}) {suite}; urgency=medium\n\n"
        + (items or "  * Fixture entry written for hardbase's tests, not a real upload.\n")
        + "\n -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n"
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path_factory.mktemp("patch-find")) as archive:
        archive.add_source(
            "fixture-calc", "1.0-1", changelog("fixture-calc", "1.0-1", "bookworm"),
            suite="bookworm", binaries=["libfixturecalc1"], files=ORIG,
        )  # fmt: skip
        items = (
            "  * Fixture: fix CVE-2099-0001 (10-CVE-2099-0001.patch).\n"
            "  * Fix CVE-2099-0002.\n"
            "  * 30-bound.patch: fix CVE-2099-0003.\n"
        )
        archive.add_source(
            "fixture-calc", "1.0-2",
            changelog("fixture-calc", "1.0-2", "trixie", items)
            + "\n" + changelog("fixture-calc", "1.0-1", "bookworm"),
            suite="trixie", binaries=["libfixturecalc1"],
            files={
                **ORIG,
                "debian/patches/10-CVE-2099-0001.patch": BY_NAME,
                "debian/patches/20-overflow.patch": BY_HEADER,
                "debian/patches/30-bound.patch": BY_CHANGELOG,
                "debian/patches/series": "10-CVE-2099-0001.patch\n20-overflow.patch\n"
                "30-bound.patch\n",
            },
        )  # fmt: skip
        add_fixture_package(archive)
        for suite in SUITES:
            archive.publish(suite)
        yield archive


def _find(archive: FixtureArchive, tmp_path: Path, *args: str) -> int:
    return main(
        ["--cache-dir", str(tmp_path / "cache"), "-q", "patch", "find", "fixture-calc", *args,
         "--release", "bookworm", "--mirror", archive.url, "--security-mirror", archive.url,
         "--keyring", str(archive.keyring), "--json"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cve", "patch", "matched"),
    [
        ("CVE-2099-0001", "10-CVE-2099-0001.patch", ["file name", "changelog 1.0-2"]),
        ("CVE-2099-0002", "20-overflow.patch", ["DEP-3 header"]),
        ("CVE-2099-0003", "30-bound.patch", ["changelog 1.0-2"]),
    ],
)
def test_a_newer_suites_patch_is_found_by_name_header_or_changelog(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    cve: str, patch: str, matched: list[str],
) -> None:  # fmt: skip
    assert _find(archive, tmp_path, cve) == 0
    doc = json.loads(capsys.readouterr().out)
    check("patch-find", doc)
    assert (doc["source"], doc["version"], doc["cve"]) == ("fixture-calc", "1.0-1", cve)
    assert doc["searched"] == ["fixture-calc 1.0-2 (trixie)"]
    [row] = doc["candidates"]
    assert row["patch"] == patch and row["kind"] == "debian"
    assert row["from"] == {"source": "fixture-calc", "version": "1.0-2", "suite": "trixie"}
    assert row["matched_by"] == matched
    assert row["applies"] is True and row["result"] == "applies cleanly"


def test_the_buildable_fixture_packages_trixie_patch_is_found(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--cache-dir", str(tmp_path / "cache"), "-q", "patch", "find", "fixture-clamp",
         CLAMP_CVE, "--release", "bookworm", "--mirror", archive.url, "--security-mirror",
         archive.url, "--keyring", str(archive.keyring), "--json"]
    )  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    [row] = doc["candidates"]
    assert (row["patch"], row["kind"], row["applies"]) == (CLAMP_PATCH, "debian", True)
    assert row["from"]["suite"] == "trixie" and row["fixes"] == [CLAMP_CVE]


def test_user_patches_rank_after_debians_and_a_failing_one_names_file_and_hunk(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.patch"
    bad.write_text(_diff("a.c", "return n + 1;", "return 0;",
                         "Description: fixture fix of CVE-2099-0001\n"
                         "Origin: vendor, https://fixture.invalid/bad\n---\n"))  # fmt: skip
    assert _find(archive, tmp_path, "CVE-2099-0001", "--patch", str(bad)) == 0
    doc = json.loads(capsys.readouterr().out)
    check("patch-find", doc)
    rows = doc["candidates"]
    assert [(r["kind"], r["applies"]) for r in rows] == [("debian", True), ("user", False)]
    assert rows[1]["upstream"] == "vendor, https://fixture.invalid/bad"
    assert rows[1]["result"] == "does not apply: hunk #1 of a.c fails at line 1"


def test_no_candidate_that_applies_exits_1(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _find(archive, tmp_path, "CVE-2099-0009") == 1
    doc = json.loads(capsys.readouterr().out)
    check("patch-find", doc)
    assert doc["candidates"] == []


def test_bad_input_exits_2_with_one_sentence(
    archive: FixtureArchive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unnamed = tmp_path / "unnamed.patch"
    unnamed.write_text(_diff("a.c", "return n;", "return 0;", "Description: a fix\n---\n"))
    assert _find(archive, tmp_path, "CVE-2099-0001", "--patch", str(unnamed)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"hardbase: error: {unnamed} does not name CVE-2099-0001 in its DEP-3 header; add a "
        "line such as 'Description: fix CVE-2099-0001' (and 'Origin: upstream, URL')"
    ]
    assert _find(archive, tmp_path, "not-a-cve") == 2
    assert "'not-a-cve' is not a CVE id" in capsys.readouterr().err
    args = ["-q", "--cache-dir", str(tmp_path / "c2"), "patch", "find", "nosuch",
            "CVE-2099-0001", "--release", "bookworm", "--mirror", archive.url,
            "--security-mirror", archive.url, "--keyring", str(archive.keyring)]  # fmt: skip
    assert main(args) == 2
    assert "nosuch" in capsys.readouterr().err


def test_dep3_headers_and_cve_ids() -> None:
    header = parse_header(
        "From 79db323ce14923a1bcc7b3b72679003c14c1cd7f Mon Sep 17 00:00:00 2001\n"
        "From: dan <Dan Kennedy>\nSubject: [PATCH] Fix potential buffer overwrite\n"
        " in fts5.\n\n---\n ext/fts5/fts5_index.c | 2 +-\n\ndiff --git a/x b/x\n"
    )
    assert header.commit == "79db323ce14923a1bcc7b3b72679003c14c1cd7f"
    assert header.origin == "commit 79db323ce14923a1bcc7b3b72679003c14c1cd7f"
    assert header.description == "[PATCH] Fix potential buffer overwrite"
    # An underscore between ids (Debian's 54-CVE-2026-11822_CVE-2026-11824.patch) still splits.
    assert cve_ids("54-CVE-2026-11822_CVE-2026-11824.patch") == ("CVE-2026-11822", "CVE-2026-11824")
    assert cve_ids("cve-2099-0001 CVE-2099-00011234567") == ("CVE-2099-0001",)
    with pytest.raises(PatchFileError, match="no 'Origin:' field"):
        require_trusted(
            Path("p"), parse_header("Description: CVE-2099-0001\n---\n"), ["CVE-2099-0001"]
        )


def test_dry_run_leaves_the_tree_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "a.c").write_text(ORIG["a.c"])
    patch = tmp_path / "p.patch"
    patch.write_text(BY_NAME)
    assert dry_run(tmp_path, patch).clean
    assert (tmp_path / "a.c").read_text() == ORIG["a.c"]
    missing = tmp_path / "m.patch"
    missing.write_text(_diff("zz.c", "x", "y"))
    result = dry_run(tmp_path, missing)
    assert result.summary() == "does not apply: zz.c: no such file"
