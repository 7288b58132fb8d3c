"""`hardbase cache prune`: the least recently used rebuildable files go, the rest stays.

The cache trees here are FIXTURES (files of made-up bytes with set access times),
except the last test, which prunes what a real `hardbase sbom` of a fixture image
wrote and checks the next run makes the same document again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from data.images.fixture_images import file, gz, tar_bytes, write_oci
from hardbase.cli.main import main
from hardbase.errors import UsageError
from hardbase.util.cacheprune import RECENT, STORES, parse_size, prune

DAY = 86400.0
NOW = 2_000_000_000.0


def _put(root: Path, rel: str, size: int, age_days: float) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    used = NOW - age_days * DAY
    os.utime(path, (used, used))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "cache"
    _put(root, "debs/ab/old.deb", 400, 30)
    _put(root, "layers/blobs/aaa", 300, 20)
    _put(root, "layers/keys/k.json", 100, 10)
    _put(root, "layer-inventory/key/sha256-1", 200, 5)
    _put(root, "sboms/s.cdx.json", 100, 0)  # used just now: always kept
    _put(root, "vuln.db", 5000, 100)  # not a rebuildable store
    _put(root, "archive/deb.debian.org/InRelease", 5000, 100)
    return root


def _left(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_max_size_removes_the_least_recently_used_first(tree: Path) -> None:
    result = prune(tree, max_bytes=350, now=NOW)
    assert (result.removed, result.freed) == (3, 800)  # 1100 -> 300: the deb, blob and key
    assert (result.kept, result.kept_bytes) == (2, 300)
    assert _left(tree) == {
        "layer-inventory/key/sha256-1",
        "sboms/s.cdx.json",
        "vuln.db",
        "archive/deb.debian.org/InRelease",
    }
    assert not (tree / "debs" / "ab").exists()  # emptied directories go too
    assert (tree / "debs").is_dir()


def test_recently_used_files_stay_whatever_the_bound(tree: Path) -> None:
    result = prune(tree, max_bytes=0, now=NOW)
    assert result.kept == 1 and (tree / "sboms/s.cdx.json").exists()
    assert RECENT >= 60


def test_older_than_removes_what_was_not_used_since(tree: Path) -> None:
    result = prune(tree, older_than=15 * DAY, now=NOW)
    assert result.removed == 2  # the deb (30 days) and the blob (20 days)
    assert (tree / "layers/keys/k.json").exists()


def test_dry_run_removes_nothing(tree: Path) -> None:
    before = _left(tree)
    dry = prune(tree, max_bytes=450, now=NOW, dry_run=True)
    assert _left(tree) == before
    assert dry == prune(tree, max_bytes=450, now=NOW)


@pytest.mark.parametrize(
    ("text", "size"), [("4096", 4096), ("2K", 2048), ("1.5GiB", 3 << 29), ("500m", 500 << 20)]
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "argv",
    [
        ["cache", "prune"],
        ["cache", "prune", "--max-size", "lots"],
        ["cache", "prune", "--max-size=-5G"],
        ["cache", "prune", "--older-than", "-1"],
        ["cache", "prune", "--older-than", "nan"],
        ["cache"],
    ],
)
def test_bad_input_is_one_sentence_and_removes_nothing(
    tree: Path, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARDBASE_CACHE", str(tree))  # not --cache-dir: it outlives main()
    before = _left(tree)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hardbase: error: ") and err.count("\n") == 1
    assert _left(tree) == before
    with pytest.raises(UsageError):
        parse_size("1 gigabyte")


def test_a_pruned_cache_gives_the_same_sbom_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARDBASE_CACHE", str(cache))
    status = "Package: fixture\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n"
    layout = write_oci(tmp_path / "img", [gz(tar_bytes([
        file("usr/lib/os-release", 'ID=debian\nVERSION_ID="13"\n'),
        file("var/lib/dpkg/status", status),
        file("usr/share/doc/fixture/copyright", "License: MIT\n"),
    ]))])  # fmt: skip
    sbom = ["-q", "sbom", f"oci:{layout}:latest", "--format",
            "cyclonedx-json"]  # fmt: skip
    assert main(sbom) == 0
    first = capsys.readouterr().out
    written = [p for store in STORES for p in (cache / store).rglob("*") if p.is_file()]
    assert any("layer-inventory" in str(p) for p in written)
    old = time.time() - 30 * DAY
    for path in written:
        os.utime(path, (old, old))
    assert main(["cache", "prune", "--older-than", "7"]) == 0
    assert capsys.readouterr().out.startswith(f"removed {len(written)} files")
    assert not [p for store in STORES for p in (cache / store).rglob("*") if p.is_file()]
    assert main(sbom) == 0
    assert capsys.readouterr().out == first
    assert any("layer-inventory" in str(p) for p in cache.rglob("*") if p.is_file())
