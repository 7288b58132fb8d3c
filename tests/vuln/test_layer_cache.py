"""The per-layer inventory cache (oci/layercache.py): a rescan replays each layer's record
instead of reading it, with the same inventory, kept files and warnings; a corrupted,
malformed or misfiled entry is ignored and rewritten; an entry serves only its own layer."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cache_outputs import scan_and_sbom_outputs
from data.images.fixture_images import (
    device,
    file,
    gz,
    hardlink,
    opaque,
    sha256,
    symlink,
    tar_bytes,
    two_layer_image,
    whiteout,
    write_oci,
    zst,
)
from hardbase.cli.main import main
from hardbase.errors import IntegrityError
from hardbase.oci.layercache import LayerRecord, MemberOp
from hardbase.vuln.inventory import InventoryResult, inventory, layer_cache_for

# Fixture data: a two-layer image written here, nothing from a real distribution.
STATUS = """\
Package: libfixture1
Status: install ok installed
Architecture: amd64
Source: fixture-src (1.0-1)
Version: 1.0-1+b1

Package: gone
Status: install ok installed
Architecture: amd64
Version: 2.0
"""
STATUS_TOP = """\
Package: libfixture1
Status: install ok installed
Architecture: amd64
Version: 1.1-1
"""


def _jar() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        jar.writestr("META-INF/maven/org.fixture/fixture-lib/pom.properties",
                     "groupId=org.fixture\nartifactId=fixture-lib\nversion=3.2.1\n")  # fmt: skip
    return buf.getvalue()


BASE = tar_bytes([
    file("usr/lib/os-release", 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n'),
    symlink("etc/os-release", "../usr/lib/os-release"),
    file("var/lib/dpkg/status", STATUS),
    file("usr/share/doc/libfixture1/copyright", "License: MIT\n"),
    hardlink("usr/share/doc/gone/copyright", "usr/share/doc/libfixture1/copyright"),
    file("usr/lib/python3/dist-packages/fixture_pkg-1.0.dist-info/METADATA",
         "Metadata-Version: 2.1\nName: fixture-pkg\nVersion: 1.0\n"),
    file("usr/share/java/fixture-lib.jar", _jar()),
    file("opt/app/node_modules/left/package.json", '{"name": "left", "version": "1.0.0"}'),
    device("dev/fixture-null"),
])  # fmt: skip
TOP = tar_bytes(
    [
        file("var/lib/dpkg/status", STATUS_TOP),
        whiteout("usr/lib/python3/dist-packages/fixture_pkg-1.0.dist-info"),
        opaque("opt/app/node_modules"),
        file("opt/app/node_modules/right/package.json", '{"name": "right", "version": "2.0.0"}'),
    ]
)


def _image(root: Path, base: bytes | None = None) -> Path:
    return write_oci(root, [base if base is not None else gz(BASE), zst(TOP)])


def _copyright(path: str) -> bool:
    return path.endswith("/copyright")


def _read(ref: str, **kwargs: object) -> InventoryResult:
    return inventory(ref, want_paths=_copyright, cache_as="test-copyright", **kwargs)  # type: ignore[arg-type]


def _view(result: InventoryResult) -> tuple[object, ...]:
    tree = result.tree
    return (
        result.inventory,
        dict(tree.files),
        {p: (c.data, c.layer) for p, c in tree.contents.items()},
        {p: (c.data, c.layer) for p, c in tree.inspected.items()},
        tree.skipped,
        tree.read("etc/os-release"),
        tree.read("usr/share/doc/gone/copyright"),
    )


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "layer-inventory").rglob("sha256-*"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("HARDBASE_CACHE", str(root))
    return root


def test_a_rescan_replays_the_layers_to_the_same_result(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = _image(tmp_path / "img")
    ref = f"oci:{layout}:latest"
    cold = _read(ref)
    cold_warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(_entries(cache)) == 2
    names = {p.name for p in cold.inventory.packages}
    assert names == {"libfixture1", "org.fixture:fixture-lib", "right"}  # whiteouts applied
    assert any("fixture-null" in w for w in cold_warnings)
    # the layer blobs are no longer needed: a warm walk does not open them
    for layer in _layers(layout):
        (layout / "blobs/sha256" / layer["digest"].split(":")[1]).write_bytes(b"gone")
    caplog.clear()
    warm = _read(ref)
    warm_warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert _view(warm) == _view(cold)
    assert warm_warnings == cold_warnings  # the skipped member is reported again
    # without the cache the walk reads the (now broken) blobs again
    with pytest.raises(IntegrityError):
        _read(ref, layer_cache=False)


def test_every_transport_fills_and_replays_the_same_entries(tmp_path: Path, cache: Path) -> None:
    """Entries are by diff_id: the same layers in an oci-archive or a docker-archive (other
    blobs, uncompressed in the latter) are one record each, and every transport replays
    the tree it would have read."""
    refs = two_layer_image(tmp_path, BASE, TOP)
    read = {name: _view(_read(ref, layer_cache=False)) for name, ref in refs.items()}
    same = [1, 2, 3, 5, 6]  # what names no reference: files, contents, inspected, reads
    oci, archive = read["oci"], read["oci-archive"]  # the same blobs, another reference
    assert [oci[i] for i in same] == [archive[i] for i in same]
    versions = {name: {(p.name, p.version) for p in v[0].packages} for name, v in read.items()}
    assert versions["oci"] == versions["oci-archive"] == versions["docker-archive"]
    cold = {name: _view(_read(ref)) for name, ref in refs.items()}
    assert len(_entries(cache)) == 2
    warm = {name: _view(_read(ref)) for name, ref in refs.items()}
    assert cold == read and warm == read


def _layers(layout: Path) -> list[dict[str, str]]:
    index = json.loads((layout / "index.json").read_text())
    digest = str(index["manifests"][0]["digest"]).split(":")[1]
    layers: list[dict[str, str]] = json.loads((layout / "blobs/sha256" / digest).read_bytes())[
        "layers"
    ]
    return layers


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "other-layer", "hostile"])
def test_a_bad_entry_is_ignored_and_rewritten(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    ref = f"oci:{_image(tmp_path / 'img')}:latest"
    cold = _read(ref)
    first, second = _entries(cache)
    good = first.read_bytes()
    if damage == "flip":
        first.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    elif damage == "truncate":
        first.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        first.write_bytes(b"")
    elif damage == "other-layer":
        first.write_bytes(second.read_bytes())  # an entry filed under the wrong diff_id
    else:
        # well formed and checksummed, but naming a path outside the tree
        store = layer_cache_for("inventory+test-copyright", __name__)
        diff_id = first.name.replace("-", ":", 1)
        valid = store.load(diff_id)
        assert valid is not None
        bad = LayerRecord([MemberOp("../etc/passwd", "file", 0o644, 0, 0, 1, "", True, b"x")],
                          blobs=valid.blobs)  # fmt: skip
        first.write_bytes(store._encode(bad, diff_id))
    caplog.clear()
    again = _read(ref)
    assert _view(again) == _view(cold)
    assert any("ignoring the layer cache entry" in r.getMessage() for r in caplog.records)
    assert first.read_bytes() == good  # rewritten from the layer
    caplog.clear()
    _read(ref)
    assert not any("ignoring the layer cache" in r.getMessage() for r in caplog.records)


def test_an_entry_serves_only_the_blob_it_was_made_from(tmp_path: Path, cache: Path) -> None:
    ref = f"oci:{_image(tmp_path / 'a')}:latest"
    first = _read(ref)
    # the same base content compressed otherwise: the same diff_id, another blob, which is
    # read (a broken one is refused) and named as the layer of what it holds
    other_dir = tmp_path / "b"
    other = f"oci:{_image(other_dir, zst(BASE))}:latest"
    base_blob = other_dir / "blobs/sha256" / _layers(other_dir)[0]["digest"].split(":")[1]
    good = base_blob.read_bytes()
    base_blob.write_bytes(good[:-8])
    with pytest.raises(IntegrityError):
        _read(other)
    base_blob.write_bytes(good)
    result = _read(other)
    deb = next(p for p in result.inventory.packages if p.name == "libfixture1")
    assert deb.layer == _layers(other_dir)[1]["digest"]  # the top layer's status wins
    assert result.tree.layer_of("usr/share/doc/libfixture1/copyright") == sha256(good)
    assert result.inventory.packages != first.inventory.packages  # layers differ by digest
    # both forms are remembered: neither image reads its base layer again
    for layout in (tmp_path / "a", other_dir):
        for layer in _layers(layout):
            (layout / "blobs/sha256" / layer["digest"].split(":")[1]).write_bytes(b"gone")
    assert _view(_read(ref)) == _view(first)
    assert _view(_read(other)) == _view(result)


def test_a_config_claiming_a_cached_diff_id_for_other_content_is_refused(
    tmp_path: Path, cache: Path
) -> None:
    _read(f"oci:{_image(tmp_path / 'a')}:latest")
    forged_dir = tmp_path / "forged"
    other_base = tar_bytes([file("var/lib/dpkg/status", "Package: evil\nVersion: 1\n")])
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(BASE), sha256(TOP)]},
    }
    write_oci(forged_dir, [gz(other_base), zst(TOP)], config=config)
    with pytest.raises(IntegrityError):
        _read(f"oci:{forged_dir}:latest")


def test_scan_and_sbom_outputs_are_the_same_with_and_without_the_cache(
    tmp_path: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    ref = f"oci:{_image(tmp_path / 'img')}:latest"
    db = tmp_path / "vuln.db"
    data = Path(__file__).parents[1] / "data" / "vuln"
    assert main(["-q", "db", "update", "--db", str(db), "--source", f"osv={data / 'osv'}"]) == 0

    def outputs(*extra: str) -> list[tuple[int, str, str]]:
        return scan_and_sbom_outputs(capsys, ref, db, *extra)

    uncached = outputs("--no-layer-cache")
    assert not _entries(cache)
    cold = outputs()
    assert _entries(cache)
    warm = outputs()
    licences = sorted((cache / "copyright-licenses").rglob("*.json"))
    assert licences  # the SBOM's parsed copyright files are kept too
    for entry in _entries(cache) + licences:
        entry.write_bytes(entry.read_bytes()[:-1] + b"\0")
    caplog.clear()
    corrupted = outputs()
    assert cold == uncached
    assert warm == uncached
    assert corrupted == uncached
    assert any("ignoring the layer cache entry" in r.getMessage() for r in caplog.records)
    assert any("ignoring the licence cache entry" in r.getMessage() for r in caplog.records)


# Imported only to read a layer (decompressors) or to inspect files (the language parsers)
# or on a slow path (difflib for did-you-mean, packaging.tags for a PyPI name).
READING_ONLY = {
    "zstandard",
    "isal",
    "difflib",
    "packaging.tags",
    *(f"hardbase.vuln.lang.{m}" for m in ("elf", "golang", "java", "rust")),
}


def _imports(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hardbase", "-q", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", proc.stderr, re.M))


def test_a_scan_answered_from_the_cache_imports_no_reader_or_parser(
    tmp_path: Path, cache: Path
) -> None:
    ref = f"oci:{_image(tmp_path / 'img')}:latest"
    db = tmp_path / "vuln.db"
    data = Path(__file__).parents[1] / "data" / "vuln"
    assert main(["-q", "db", "update", "--db", str(db), "--source", f"osv={data / 'osv'}"]) == 0
    scan = ["scan", ref, "--db", str(db), "--format", "json", "-o", str(tmp_path / "s.json")]
    sbom = ["sbom", ref, "--format", "cyclonedx-json", "-o", str(tmp_path / "c.json")]
    cold = _imports(*scan, "--no-layer-cache")
    assert {"zstandard", "isal", "hardbase.vuln.lang.java"} <= cold  # the check can fail
    for argv in (scan, sbom):
        _imports(*argv)  # fills the layer cache
        assert _imports(*argv) & READING_ONLY == set()
