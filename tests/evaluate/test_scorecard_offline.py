"""The scorecard on small FIXTURE images (offline): measures, JSON, HTML and Markdown agree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from hardbase.evaluate.render import render_html, render_markdown, render_summary
from hardbase.evaluate.scorecard import (
    CompareOptions,
    compare,
    format_value,
    row_value,
    summary_rows,
)
from registry_fixture import make_image

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
STATUS = (
    b"Package: dpkg\nStatus: install ok installed\nVersion: 1.21.22\nArchitecture: amd64\n\n"
    b"Package: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n"
)


def test_compare_fixture_images(tmp_path: Path) -> None:
    make_image(tmp_path / "a", "latest", [{"etc/os-release": OS_RELEASE}], archs=("amd64", "arm64"))
    make_image(
        tmp_path / "b",
        "latest",
        [
            {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS},
            {"bin/sh": b"fixture", "usr/bin/dpkg": b"fixture", "usr/bin/gcc-12": b"fixture"},
        ],
    )
    refs = [f"oci:{tmp_path / 'a'}:latest", f"oci:{tmp_path / 'b'}:latest"]
    doc = compare(refs, CompareOptions())
    a, b = doc["images"]
    assert a["consistency"]["architectures"] == ["linux/amd64", "linux/arm64"]
    assert a["minimality"]["layers"] == 1 and b["minimality"]["layers"] == 2
    assert b["minimality"]["packages"] == 1 == b["minimality"]["dpkg_packages"]
    assert b["minimality"]["shells"] == ["bin/sh"]
    assert b["minimality"]["package_managers"] == ["usr/bin/dpkg"]
    assert b["minimality"]["compilers"] == ["usr/bin/gcc-12"]
    assert b["minimality"]["verdict"] == "poor" and a["minimality"]["verdict"] == "good"
    assert a["security"]["scanned"] is False and a["security"]["verdict"] == "unknown"
    assert a["maintainability"]["release"] == "bookworm"
    assert a["maintainability"]["lts_end"] == "2028-06-30"
    assert a["compliance"]["runs_as_root"] is False  # User 65532

    html = render_html(doc)
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org', "")
    for i, card in enumerate(doc["images"]):
        for _, dim, key, kind in summary_rows():
            value = row_value(card, dim, key)
            cell = f'data-image="{i}" data-metric="{dim}.{key}"'
            assert cell in html
            assert f"| {format_value(value, kind)}" in render_markdown(doc) or kind == "str"
    assert len(render_summary(doc)) == 5


def test_cli_writes_files_and_prints_markdown(tmp_path: Path) -> None:
    make_image(tmp_path / "a", "latest", [{"etc/os-release": OS_RELEASE}])
    ref = f"oci:{tmp_path / 'a'}:latest"
    done = subprocess.run(
        ["hardbase", "compare", ref, "--no-scan", "--json", str(tmp_path / "s.json"), "--summary"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 5
    assert json.loads((tmp_path / "s.json").read_text())["images"][0]["reference"] == ref
    md = subprocess.run(
        ["hardbase", "compare", ref, "--no-scan"], capture_output=True, text=True, check=False
    )
    assert md.stdout.startswith("# Base image scorecard")
    bad = subprocess.run(
        ["hardbase", "compare", ref, "--no-scan", "--rebuild", "x=y"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "--rebuild" in bad.stderr
