"""Hostile JSON in an image (too deep, too large): exit 2 with one sentence, never a traceback.

The layouts are real OCI layouts (tests/data/images/fixture_images.py) with one
document replaced by JSON nested 100,000 deep: the image config or index.json
makes scan, sbom, compare and push refuse the image; a package.json inside a
layer is skipped with a warning and the rest of the image is still read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.images.fixture_images import config_for, file, gz, tar_bytes, write_oci
from hardbase.cli.main import main
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Layout

DEEP = b"[" * 100_000 + b"]" * 100_000
DATA = Path(__file__).parents[1] / "data" / "vuln"
OS_RELEASE = file("etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
GOOD_NPM = file("usr/lib/node_modules/good/package.json", '{"name": "good", "version": "1.2.3"}')


def with_hostile(doc: dict[str, object]) -> bytes:
    """`doc` as JSON with a `hostile` member nested 100,000 deep."""
    return json.dumps(doc).encode()[:-1] + b', "hostile": ' + DEEP + b"}"


def hostile_config(root: Path) -> str:
    layers = [gz(tar_bytes([OS_RELEASE]))]
    write_oci(root, layers)
    layout = Layout(root)
    config = layout.put_bytes(with_hostile(config_for(layers)), mt.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layout.put_bytes(layers[0], mt.OCI_LAYER_GZIP).to_json()],
    }
    layout.set_entry(layout.put_json(manifest, mt.OCI_MANIFEST), "latest")
    return f"oci:{root}"


def hostile_index(root: Path) -> str:
    write_oci(root, [gz(tar_bytes([OS_RELEASE]))])
    index = json.loads((root / "index.json").read_bytes())
    (root / "index.json").write_bytes(with_hostile(index))
    return f"oci:{root}"


@pytest.fixture
def dbpath(tmp_path: Path) -> str:
    path = str(tmp_path / "osv.db")
    assert main(["-q", "db", "update", "--db", path, "--source", f"osv={DATA / 'osv'}"]) == 0
    return path


def commands(ref: str, tmp: Path, db: str) -> list[list[str]]:
    return [
        ["scan", ref, "--db", db, "--format", "json"],
        ["sbom", ref, "--format", "spdx-json"],
        ["sbom", ref, "--format", "cyclonedx-json"],
        ["compare", ref, "--db", db, "--json", str(tmp / "card.json")],
    ]


@pytest.mark.parametrize("make", [hostile_config, hostile_index], ids=["config", "index.json"])
def test_deeply_nested_image_json_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dbpath: str, make: object
) -> None:
    assert callable(make)
    ref = make(tmp_path / "image")
    argv_push = ["push", ref, f"oci:{tmp_path / 'copy'}:t"]
    # push copies bytes and never parses a config, so only a hostile index.json stops it
    pushes = [argv_push] if make is hostile_index else []
    for argv in commands(ref, tmp_path, dbpath) + pushes:
        capsys.readouterr()
        code = main(["-q", *argv])  # -q: the error is the only line (no progress lines)
        err = capsys.readouterr().err.strip()
        assert code == 2, (argv, err)
        assert err.startswith("hardbase: error: ") and len(err.splitlines()) == 1, (argv, err)
        assert "Traceback" not in err and "Recursion" not in err, (argv, err)
        assert "JSON" in err, (argv, err)
    assert not (tmp_path / "copy").exists() and not (tmp_path / "card.json").exists()


def test_deeply_nested_package_json_in_a_layer_is_skipped_with_a_warning(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    dbpath: str,
) -> None:
    evil = "usr/lib/node_modules/evil/package.json"
    layer = tar_bytes([OS_RELEASE, GOOD_NPM, file(evil, with_hostile({"name": "evil"}))])
    ref = f"oci:{write_oci(tmp_path / 'image', [gz(layer)])}"
    capsys.readouterr()
    assert main(["scan", ref, "--db", dbpath, "--format", "json"]) == 0
    out = capsys.readouterr().out
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"ignoring {evil}" in w and "nested deeper" in w for w in warnings), warnings
    assert json.loads(out)["image"]["packages"] == 1  # good; evil skipped
    caplog.clear()
    assert main(["sbom", ref, "--format", "cyclonedx-json"]) == 0
    out = capsys.readouterr().out
    assert any(f"ignoring {evil}" in r.getMessage() for r in caplog.records)
    names = {c["name"] for c in json.loads(out)["components"]}
    assert "good" in names and "evil" not in names


def test_index_json_over_the_manifest_limit_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dbpath: str
) -> None:
    # valid JSON, one real entry, padded past 16 MB (the limit of manifests and configs)
    root = tmp_path / "image"
    write_oci(root, [gz(tar_bytes([OS_RELEASE]))])
    index = json.loads((root / "index.json").read_bytes())
    index["manifests"][0]["annotations"]["padding"] = "x" * (17 << 20)
    (root / "index.json").write_text(json.dumps(index))
    ref = f"oci:{root}"
    for argv in [*commands(ref, tmp_path, dbpath), ["push", ref, f"oci:{tmp_path / 'copy'}:t"]]:
        capsys.readouterr()
        code = main(["-q", *argv])  # -q: the error is the only line (no progress lines)
        err = capsys.readouterr().err.strip()
        assert code == 2, (argv, err)
        assert len(err.splitlines()) == 1 and "larger than 16 MB" in err, (argv, err)
    assert not (tmp_path / "copy").exists()


def test_loads_limits_depth_and_keeps_strings_out_of_the_count() -> None:
    from hardbase.util import jsondoc

    assert jsondoc.loads(b"[" * 100 + b"]" * 100) is not None
    with pytest.raises(ValueError, match="nested deeper than 100"):
        jsondoc.loads(b"[" * 101 + b"]" * 101)
    with pytest.raises(ValueError, match="nested deeper"):
        jsondoc.loads(DEEP)
    brackets_in_strings = json.dumps({"a": "[" * 500 + '\\"{' * 500}).encode()
    assert jsondoc.loads(brackets_in_strings)["a"].startswith("[[[")
