"""The scorecard on small FIXTURE images (offline): measures, JSON, HTML and Markdown agree."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from browser import axe_core, axe_violations, chromium
from data.images.fixture_images import file, gz, tar_bytes, write_oci
from hardbase.evaluate.render import render_html, render_markdown, render_summary
from hardbase.evaluate.scorecard import (
    DIMENSIONS,
    CompareOptions,
    compare,
    format_value,
    recommendation,
    row_value,
    summary_rows,
)
from hardbase.vuln.inventory import inventory
from lang_subjects import fixture_jar
from peers import need
from registry_fixture import make_image
from schema_check import check

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
    doc = compare(refs, CompareOptions()).to_json()
    check("scorecard", doc)
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
    assert len(render_summary(doc)) == 6


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
    assert len(done.stdout.splitlines()) == 6
    assert done.stderr.splitlines() == [  # the step is announced (stderr is not a terminal)
        "hardbase: scoring 1 image (1)...",
        done.stderr.splitlines()[-1],
    ] and done.stderr.splitlines()[-1].startswith("hardbase: scoring 1 image: done in ")
    doc = json.loads((tmp_path / "s.json").read_text())
    check("scorecard", doc)
    assert doc["images"][0]["reference"] == ref
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


def _card(**verdicts: str) -> dict[str, Any]:
    """A scorecard entry with the given verdicts (good elsewhere), scanned, nothing fixable."""
    card: dict[str, Any] = {k: {"verdict": verdicts.get(k, "good")} for k, _ in DIMENSIONS}
    card["security"].update(
        scanned=True, by_status={}, fixable_by_severity={}, by_severity={}, findings_total=0
    )
    card["ecosystem"]["runs"] = True
    return card


def test_recommendation_takes_the_first_rule_that_applies() -> None:
    assert recommendation(_card())["text"] == "suitable as a production base"
    assert recommendation(_card(consistency="fair"))["text"] == (
        "suitable as a production base (fair: operational consistency)"
    )
    fixable = _card(security="poor", minimality="poor")
    fixable["security"]["by_status"] = {"fixable": 98}
    fixable["security"]["fixable_by_severity"] = {"critical": 1, "high": 4, "unknown": 90}
    assert recommendation(fixable) == {
        "rule": "fixable",
        "text": "needs patching: 98 fixable (5 critical or high, 90 of unknown severity)",
    }
    assert recommendation(_card(minimality="poor", compliance="poor"))["text"] == (
        "harden before production use: poor minimality, compliance"
    )
    assert recommendation(_card(maintainability="poor"))["rule"] == "support-ended"
    broken = _card()
    broken["ecosystem"]["runs"] = False
    assert recommendation(broken)["rule"] == "does-not-run"
    unscanned = _card()
    unscanned["security"]["scanned"] = False
    assert recommendation(unscanned)["rule"] == "not-scanned"


def test_legend_summary_lines_and_chromium_with_axe(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    make_image(tmp_path / "a", "latest", [{"etc/os-release": OS_RELEASE}])
    make_image(tmp_path / "b", "latest", [{"etc/os-release": OS_RELEASE, "bin/sh": b"x"}])
    refs = [f"oci:{tmp_path / 'a'}:latest", f"oci:{tmp_path / 'b'}:latest"]
    doc = compare(refs, CompareOptions()).to_json()
    lines = render_summary(doc)
    for line in lines:  # every value follows the name of its image
        label, _, values = line.partition(": ")
        assert [v.split(": ")[0] for v in values.strip().split(" | ")] == refs, line
    assert lines[2].endswith("not scanned | " + refs[1] + ": not scanned")
    markdown = render_markdown(doc)
    assert "## What the verdicts mean" in markdown and "| **Recommendation** |" in markdown
    html_path = tmp_path / "scorecard.html"
    html_path.write_text(render_html(doc))
    axe = axe_core(request.config.cache.mkdir("axe-core"))
    errors: list[str] = []
    with chromium(errors) as page:
        page.goto(html_path.as_uri())
        shot = tmp_path / "scorecard.png"
        page.screenshot(path=str(shot), full_page=True)
        legend = page.locator("#legend").inner_text()
        advice = page.eval_on_selector_all(
            "#summary td[data-metric=recommendation]", "els => els.map(e => e.textContent)"
        )
        serious = axe_violations(page, axe, "moderate")  # the old page had two moderate ones
    assert errors == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert legend == "What the verdicts mean"
    assert advice == ["not assessed: scan it against a vulnerability database first"] * 2
    assert serious == [], [(v["id"], v["impact"], v["help"]) for v in serious]


@pytest.mark.peers
def test_compare_counts_go_and_java_packages_as_scan_does(tmp_path: Path) -> None:
    """Debian's skopeo (a real Go binary: its build info names the toolchain) and a
    FIXTURE jar with pom.properties: compare counts what scan's inventory finds."""
    need("skopeo")
    jar = fixture_jar("org.example.fixture", "app", "1.2.3")
    layer = tar_bytes([
        file("etc/os-release", OS_RELEASE),
        file("usr/bin/skopeo", Path(shutil.which("skopeo") or "").read_bytes(), mode=0o755),
        file("srv/app.jar", jar),
    ])  # fmt: skip
    ref = f"oci:{write_oci(tmp_path / 'image', [gz(layer)])}"
    doc = compare([ref], CompareOptions()).to_json()
    check("scorecard", doc)
    minimality = doc["images"][0]["minimality"]
    scanned = inventory(ref).inventory.packages
    assert minimality["go_packages"] == 1 == sum(p.type == "golang" for p in scanned)
    assert minimality["maven_packages"] == 1 == sum(p.type == "maven" for p in scanned)
    assert minimality["cargo_packages"] == 0


def test_a_scorecard_read_back_renders_the_same_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hardbase.cli.main import main
    from hardbase.evaluate.model import Scorecard

    make_image(tmp_path / "a", "latest", [{"etc/os-release": OS_RELEASE, "bin/sh": b"x"}])
    ref = f"oci:{tmp_path / 'a'}:latest"
    first = {ext: tmp_path / f"first.{ext}" for ext in ("json", "html", "md")}
    again = {ext: tmp_path / f"again.{ext}" for ext in ("json", "html", "md")}

    def outputs(paths: dict[str, Path]) -> list[str]:
        return ["--json", str(paths["json"]), "--html", str(paths["html"]),
                "--markdown", str(paths["md"])]  # fmt: skip

    assert main(["-q", "compare", ref, "--no-scan", *outputs(first)]) == 0
    text = first["json"].read_text()
    # the model round-trips the document it wrote, key order and all
    assert json.dumps(Scorecard.from_json(text, "x").to_json(), indent=2) + "\n" == text
    assert main(["-q", "compare", "--from", str(first["json"]), *outputs(again)]) == 0
    for ext in first:
        assert again[ext].read_bytes() == first[ext].read_bytes(), ext
    capsys.readouterr()

    doc = json.loads(text)
    doc["images"][0]["minimality"]["layers"] = "1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["-q", "compare", "--from", str(bad), "--html", str(tmp_path / "no.html")]) == 2
    assert capsys.readouterr().err == (
        f"hardbase: error: {bad} is not a hardbase scorecard: images.0.minimality.layers: "
        "input should be a valid integer; write it again with `hardbase compare --json`\n"
    )
    assert not (tmp_path / "no.html").exists()
    assert main(["-q", "compare", ref, "--from", str(first["json"])]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["-q", "compare"]) == 2
    assert "give the images to compare" in capsys.readouterr().err
    assert main(["-q", "compare", "--from", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the scorecard" in capsys.readouterr().err
