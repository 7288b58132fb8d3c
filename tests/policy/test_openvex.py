"""Creating and merging OpenVEX documents, through the library and `hardbase vex` (offline)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hardbase.policy.openvex import document, image_purl, merge, statement
from hardbase.vuln.vex import VexError, load_vex, parse_vex
from registry_fixture import make_image


def test_statement_rules() -> None:
    with pytest.raises(VexError, match="justification"):
        statement("CVE-1", "not_affected", "pkg:oci/x")
    with pytest.raises(VexError, match="not one of"):
        statement("CVE-1", "not_affected", "pkg:oci/x", justification="because")
    with pytest.raises(VexError, match="action"):
        statement("CVE-1", "affected", "pkg:oci/x")
    st = statement("CVE-1", "fixed", "pkg:oci/x", subcomponents=["pkg:deb/debian/a"])
    assert st["products"] == [{"@id": "pkg:oci/x", "subcomponents": [{"@id": "pkg:deb/debian/a"}]}]


def test_image_purl_encodes_the_digest() -> None:
    purl = image_purl("Python3", "sha256:" + "ab" * 32, "127.0.0.1:5000/hb/python3")
    assert purl.startswith("pkg:oci/python3@sha256%3Aabab")
    assert purl.endswith("?repository_url=127.0.0.1:5000/hb/python3")


def test_merge_keeps_the_latest_statement_per_vulnerability_and_product() -> None:
    older = document(
        [statement("CVE-1", "under_investigation", "pkg:oci/x", timestamp="2026-01-01T00:00:00Z")],
        author="a",
    )
    newer = document(
        [
            statement("CVE-1", "fixed", "pkg:oci/x", timestamp="2026-02-01T00:00:00Z"),
            statement("CVE-2", "fixed", "pkg:oci/x", timestamp="2026-01-15T00:00:00Z"),
        ],
        author="b",
    )
    merged = merge([newer, older], author="m")
    got = [(s.vulnerability, s.status) for s in parse_vex(merged)]
    assert got == [("CVE-2", "fixed"), ("CVE-1", "fixed")]
    assert merge([older, newer], author="m")["@id"] == merged["@id"]  # order does not matter


def test_cli_create_for_an_image_and_merge(tmp_path: Path) -> None:
    digest = make_image(tmp_path / "img", "latest", [{"etc/fixture": b"fixture\n"}])
    ref = f"oci:{tmp_path / 'img'}:latest"
    one = tmp_path / "one.json"
    done = subprocess.run(
        [
            "hardbase",
            "vex",
            "create",
            "--image",
            ref,
            "--vuln",
            "CVE-2026-0001",
            "--status",
            "not_affected",
            "--justification",
            "component_not_present",
            "--package",
            "pkg:deb/debian/libc6",
            "-o",
            str(one),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (st,) = load_vex(one)
    assert st.products[0].id == f"pkg:oci/img@{digest.replace(':', '%3A')}"
    assert st.products[0].subcomponents == ("pkg:deb/debian/libc6",)
    two = tmp_path / "two.json"
    two.write_text(
        json.dumps(document([statement("CVE-2026-0002", "fixed", "pkg:oci/img")], author="t"))
    )
    merged = subprocess.run(
        ["hardbase", "vex", "merge", str(one), str(two)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    assert {s["vulnerability"]["name"] for s in json.loads(merged.stdout)["statements"]} == {
        "CVE-2026-0001",
        "CVE-2026-0002",
    }
    bad = subprocess.run(
        ["hardbase", "vex", "merge", str(tmp_path / "absent.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "absent.json" in bad.stderr
