"""What `scan --format json` and both `sbom` formats print for one image, for the tests
that compare them read from the layers, with an empty layer cache and with a warm one
(tests/vuln/test_layer_cache.py on a fixture image, test_layer_cache_real.py on real
builds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.cli.main import main


def scan_and_sbom_outputs(
    capsys: pytest.CaptureFixture[str], ref: str, db: Path, *extra: str
) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of the scan JSON, the CycloneDX and the SPDX SBOM."""
    got = []
    for argv in (
        ["scan", ref, "--db", str(db), "--format", "json"],
        ["sbom", ref, "--format", "cyclonedx-json"],
        ["sbom", ref, "--format", "spdx-json"],
    ):
        capsys.readouterr()
        code = main(["-q", *argv, *extra])
        out, err = capsys.readouterr()
        got.append((code, out, err))
    return got
