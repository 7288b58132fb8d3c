"""`compare` on real images: hardbase's python3 build against the debian:trixie-slim + python3
reference. Its numbers are checked against independent tools (skopeo for the blobs, umoci for
the unpacked filesystem, dpkg-query for the package database), its HTML report in headless
Chromium, and it reads images from a registry (docker://) and from an oci-archive file.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from browser import axe_core, axe_violations, chromium
from evaluate.real_images import python3_archive, python3_spec
from hardbase.cli.main import main
from hardbase.evaluate.scorecard import format_value, row_value, summary_rows
from peers import need, unpack
from registry_fixture import running_registry
from schema_check import check

pytestmark = [pytest.mark.archive, pytest.mark.slow]

SHELLS = ("bin/sh", "bin/bash", "bin/dash", "usr/bin/sh", "usr/bin/bash", "usr/bin/dash")


@pytest.fixture(scope="module")
def scorecard(
    python3_ref: str,
    reference_ref: str,
    fixture_db_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("scorecard")
    code = main(
        [
            "-q",
            "compare",
            python3_ref,
            reference_ref,
            "--db",
            str(fixture_db_path),
            "--json",
            str(out / "s.json"),
            "--html",
            str(out / "s.html"),
            "--markdown",
            str(out / "s.md"),
            "--smoke",
            "python3 -c 'import ssl, sqlite3; print(1)'",
            "--rebuild",
            f"{python3_ref}={python3_spec()}",
        ]
    )
    assert code == 0
    doc: dict[str, Any] = json.loads((out / "s.json").read_text())
    check("scorecard", doc)
    return doc, out / "s.html"


def _manifest(ref: str) -> dict[str, Any]:
    need("skopeo")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", ref], check=True, capture_output=True, text=True
    ).stdout
    doc: dict[str, Any] = json.loads(raw)
    if "manifests" in doc:  # an index: the amd64 manifest
        digest = next(
            m["digest"]
            for m in doc["manifests"]
            if m.get("platform", {}).get("architecture") == "amd64"
        )
        layout = ref.removeprefix("oci:").rsplit(":", 1)[0]
        doc = json.loads((Path(layout) / "blobs/sha256" / digest[7:]).read_text())
    return doc


def _rootfs_facts(ref: str, dest: Path) -> dict[str, Any]:
    layout, tag = ref.removeprefix("oci:").rsplit(":", 1)
    rootfs = unpack(Path(layout), tag, dest)
    status_d = rootfs / "var/lib/dpkg/status.d"
    if status_d.is_dir():
        packages = len([p for p in status_d.iterdir() if not p.name.endswith(".md5sums")])
    else:
        out = subprocess.run(
            [
                "dpkg-query",
                "--admindir",
                str(rootfs / "var/lib/dpkg"),
                "-W",
                "-f",
                "${db:Status-Status}\n",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        packages = out.split().count("installed")
    files = 0
    inodes: dict[tuple[int, int], int] = {}
    for dirpath, _, names in os.walk(rootfs):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not os.path.islink(path):
                files += 1
                inodes[(st.st_dev, st.st_ino)] = st.st_size
    shell = any(
        (rootfs / s).exists() and (rootfs / s).resolve().is_relative_to(rootfs.resolve())
        for s in SHELLS
    )
    return {"packages": packages, "files": files, "size": sum(inodes.values()), "shell": shell}


@pytest.mark.parametrize("index", [0, 1], ids=["python3", "reference"])
def test_numbers_match_independent_tools(
    scorecard: tuple[dict[str, Any], Path], index: int, tmp_path: Path
) -> None:
    doc, _ = scorecard
    card = doc["images"][index]
    manifest = _manifest(card["reference"])
    assert card["minimality"]["compressed_bytes"] == sum(x["size"] for x in manifest["layers"])
    assert card["minimality"]["layers"] == len(manifest["layers"])
    seen = _rootfs_facts(card["reference"], tmp_path / "bundle")
    assert card["minimality"]["packages"] == seen["packages"]
    assert card["minimality"]["dpkg_packages"] == seen["packages"]
    assert card["minimality"]["files"] == seen["files"]
    assert card["minimality"]["uncompressed_bytes"] == seen["size"]
    assert card["minimality"]["shell"] is seen["shell"]


def test_verdicts_and_measures(scorecard: tuple[dict[str, Any], Path]) -> None:
    doc, _ = scorecard
    ours, ref = doc["images"]
    assert ours["minimality"]["shell"] is False and ref["minimality"]["shell"] is True
    assert ref["minimality"]["package_managers"] == [
        "usr/bin/dpkg",
        "usr/bin/apt",
        "usr/bin/apt-get",
    ]
    assert ours["security"]["by_status"]["fixable"] == 1  # FIXTURE glibc in libc6
    assert ref["security"]["by_status"]["fixable"] == 3  # libc6, libc-bin, bash
    assert (
        ref["security"]["oldest_unapplied_fix_days"]
        > ours["security"]["oldest_unapplied_fix_days"] - 1
    )
    assert ours["consistency"]["reproducible"] is True, ours["consistency"]
    assert ref["consistency"]["lock_pinned"] is False
    assert ours["compliance"]["sbom"] is True and ref["compliance"]["sbom"] is False
    assert ours["compliance"]["runs_as_root"] is False and ref["compliance"]["runs_as_root"]
    assert "GPL-3.0-or-later" in ours["compliance"]["copyleft"]
    assert ours["ecosystem"]["runs"] is True and ref["ecosystem"]["runs"] is True
    assert ours["ecosystem"]["ca_bundle"] and not ref["ecosystem"]["ca_bundle"]
    assert ours["ecosystem"]["runtimes"]["python"].startswith("3.13")
    assert ref["maintainability"]["packages_support_ended"][0].startswith("bash ")
    assert ours["maintainability"]["release"] == "trixie"
    assert ours["minimality"]["verdict"] == "good" and ref["minimality"]["verdict"] == "poor"
    # FIXTURE advisories: glibc (high) in both, and in the reference bash (no severity)
    assert ours["recommendation"]["text"] == (
        "needs patching: 1 fixable (1 critical or high, 0 of unknown severity)"
    )
    assert ref["recommendation"]["text"] == (
        "needs patching: 3 fixable (2 critical or high, 1 of unknown severity)"
    )


def test_html_opens_in_chromium_and_shows_the_json_numbers(
    scorecard: tuple[dict[str, Any], Path], request: pytest.FixtureRequest
) -> None:
    doc, html = scorecard
    errors: list[str] = []
    axe = axe_core(request.config.cache.mkdir("axe-core"))
    with chromium(errors) as page:
        page.goto(html.as_uri())
        cells = page.eval_on_selector_all(
            "#summary td[data-metric]",
            "els => els.map(e => [e.dataset.image, e.dataset.metric, e.dataset.value,"
            " e.textContent.trim()])",
        )
        charts = page.locator("svg").count()
        page.screenshot(path=str(html.with_suffix(".png")), full_page=True)
        serious = axe_violations(page, axe)
    assert serious == [], [(v["id"], v["impact"], v["help"]) for v in serious]
    assert html.with_suffix(".png").stat().st_size > 50_000
    cells = [c for c in cells if c[1] != "recommendation"]
    assert errors == []
    assert charts >= 3
    shown = {
        (int(i), metric): (
            json.loads(value) if "." in metric and not metric.endswith(".verdict") else value,
            text,
        )
        for i, metric, value, text in cells
    }
    for i, card in enumerate(doc["images"]):
        for _, dim, key, kind in summary_rows():
            value, text = shown[(i, f"{dim}.{key}")]
            assert value == row_value(card, dim, key)
            assert text == format_value(value, kind)
        for dim in (
            "security",
            "minimality",
            "consistency",
            "compliance",
            "ecosystem",
            "maintainability",
        ):
            assert shown[(i, f"{dim}.verdict")][1] == card[dim]["verdict"]


def test_compare_reads_a_registry_and_an_oci_archive(
    python3_ref: str, fixture_db_path: Path, tmp_path: Path
) -> None:
    archive = python3_archive()
    with running_registry(tmp_path / "registry") as registry:
        remote = f"docker://{registry.host}/hardbase/python3:test"
        assert main(["-q", "push", python3_ref, remote, "--insecure"]) == 0
        code = main(
            [
                "-q",
                "compare",
                python3_ref,
                remote,
                archive,
                "--insecure",
                "--db",
                str(fixture_db_path),
                "--json",
                str(tmp_path / "s.json"),
            ]
        )
    assert code == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    check("scorecard", doc)
    local, pushed, packed = doc["images"]
    for other in (pushed, packed):
        assert other["digest"] == local["digest"]
        assert other["minimality"] == local["minimality"]
        assert other["security"] == local["security"]
    assert pushed["compliance"]["signature"] is False  # a registry can hold one; none there
    assert packed["compliance"]["signature"] is None  # an archive cannot
