"""SBOMs of an image whose file names are not UTF-8: written losslessly, percent-encoded.

The layer is made by GNU tar from a directory whose names hold raw bytes
(0xE9, 0xFF), as a Latin-1 system would leave them. Both documents must
validate against the official schemas and percent-decode back to the bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
from sbom_support import Validate

from data.images.fixture_images import gz, write_oci
from hardbase.cli.main import main

PYTHON_DIR = b"usr/lib/python3/dist-packages/fixture_caf\xe9-1.0.dist-info"
NPM_DIR = b"usr/lib/node_modules/fixture-\xff%41"  # a literal '%' too: it must stay apart


@pytest.fixture
def image(tmp_path: Path) -> str:
    root = os.fsencode(tmp_path / "root") + b"/"
    files = {
        b"etc/os-release": b'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n',
        PYTHON_DIR + b"/METADATA": b"Metadata-Version: 2.1\nName: fixture-cafe\nVersion: 1.0\n",
        NPM_DIR + b"/package.json": b'{"name": "fixture-ff", "version": "1.0.0"}',
    }
    for name, data in files.items():
        os.makedirs(os.path.dirname(root + name), exist_ok=True)
        with open(root + name, "wb") as fh:
            fh.write(data)
    layer = tmp_path / "layer.tar"
    subprocess.run(
        ["tar", "--format=gnu", "--sort=name", "-C", root, "-cf", os.fsencode(layer), "."],
        check=True,
    )
    return f"oci:{write_oci(tmp_path / 'image', [gz(layer.read_bytes())])}"


def locations(doc: dict[str, object], fmt: str) -> dict[str, str]:
    """Package name -> the percent-encoded location the document gives it."""
    out = {}
    if fmt == "cyclonedx-json":
        for comp in doc["components"]:  # type: ignore[attr-defined]
            for prop in comp.get("properties", []):
                if prop["name"] == "hardbase:location:path-percent-encoded":
                    out[comp["name"]] = prop["value"]
    else:
        for pkg in doc["packages"]:  # type: ignore[attr-defined]
            comment = pkg.get("comment", "")
            if comment.endswith("(percent-encoded: the file name is not UTF-8)."):
                out[pkg["name"]] = comment.removeprefix("Found at ").split(" (percent")[0]
    return out


@pytest.mark.parametrize("fmt", ["spdx-json", "cyclonedx-json"])
def test_sbom_writes_non_utf8_file_names_percent_encoded(
    image: str,
    capsys: pytest.CaptureFixture[str],
    spdx_errors: Validate,
    cdx_errors: Validate,
    fmt: str,
) -> None:
    assert main(["sbom", image, "--format", fmt]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (spdx_errors if fmt == "spdx-json" else cdx_errors)(doc) == []
    found = locations(doc, fmt)
    assert unquote_to_bytes(found["fixture-cafe"]) == PYTHON_DIR + b"/METADATA"
    assert unquote_to_bytes(found["fixture-ff"]) == NPM_DIR + b"/package.json"
    assert found["fixture-ff"] == "usr/lib/node_modules/fixture-%FF%2541/package.json"


def test_document_path_rule() -> None:
    from hardbase.sbom.interface import document_path

    plain = document_path("usr/lib/100%/x")
    assert (plain.text, plain.percent_encoded) == ("usr/lib/100%/x", False)  # UTF-8: as it is
    raw = "é/\udcff%".encode("utf-8", "surrogateescape")
    odd = document_path(raw.decode("utf-8", "surrogateescape"))
    assert odd.percent_encoded and odd.text == "é/%FF%25"
    assert unquote_to_bytes(odd.text) == raw
