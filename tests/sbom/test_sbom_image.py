"""End to end: SBOMs of a small OCI layout built by the test, through the library and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sbom_support import COPYRIGHT, Validate

from data.images.fixture_images import directory, file, gz, symlink, tar_bytes, write_oci
from hardbase.cli.main import main
from hardbase.sbom.generate import collect, write_sboms

DEP5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"

# Fixture layers: distroless-style dpkg status.d entries, DEP-5 copyright files
# (one doc dir a symlink to another package's), os-release, Python and npm metadata.
BASE = tar_bytes(
    [
        directory("etc"),
        file(
            "etc/os-release",
            'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\n'
            "VERSION_CODENAME=trixie\n",
        ),
        file(
            "var/lib/dpkg/status.d/libc6",
            "Package: libc6\nSource: glibc\nVersion: 2.41-12\nArchitecture: amd64\n",
        ),
        file(
            "var/lib/dpkg/status.d/libssl3t64",
            "Package: libssl3t64\nSource: openssl (3.5.1-1)\nVersion: 3.5.1-1+b1\n"
            "Architecture: amd64\n",
        ),
        file(
            "var/lib/dpkg/status.d/libssl-dev",
            "Package: libssl-dev\nSource: openssl (3.5.1-1)\nVersion: 3.5.1-1+b1\n"
            "Architecture: amd64\n",
        ),
        file(
            "var/lib/dpkg/status.d/tzdata",
            "Package: tzdata\nVersion: 2025b-4\nArchitecture: all\n",
        ),
        file("usr/share/doc/libc6/copyright", (COPYRIGHT / "dep5-mixed").read_bytes()),
        file(
            "usr/share/doc/libssl3t64/copyright",
            DEP5 + "Comment: test fixture\n\nFiles: *\nCopyright: 1998 fixture\n"
            "License: Apache-2.0\n",
        ),
        symlink("usr/share/doc/libssl-dev", "libssl3t64"),
        file(
            "usr/share/doc/tzdata/copyright",
            DEP5 + "Comment: test fixture\n\nFiles: *\nCopyright: none\nLicense: public-domain\n",
        ),
        file(
            "usr/lib/python3/dist-packages/certifi-2025.1.31.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: certifi\nVersion: 2025.1.31\n"
            "License-Expression: MPL-2.0\n\nfixture\n",
        ),
        file(
            "usr/lib/python3/dist-packages/idna-3.10.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: idna\nVersion: 3.10\n"
            "Classifier: License :: OSI Approved :: BSD License\n\nfixture\n",
        ),
        file(
            "app/node_modules/@scope/pkg/package.json",
            '{"name": "@scope/pkg", "version": "1.2.3", "license": "ISC"}',
        ),
    ]
)


@pytest.fixture()
def layout(tmp_path: Path) -> Path:
    return write_oci(tmp_path / "myimage", [gz(BASE)])


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["packages"]}


def test_collect_reads_licenses_in_one_pass(layout: Path) -> None:
    sbom = collect(f"oci:{layout}:latest")
    assert sbom.name == "myimage"
    assert sbom.digest.startswith("sha256:")
    assert sbom.os.version_id == "13"
    licenses = {s.package.name: s.licenses for s in sbom.packages}
    assert licenses["libssl3t64"] == ("Apache-2.0",)
    assert licenses["libssl-dev"] == ("Apache-2.0",)  # through the doc-dir symlink
    assert licenses["tzdata"] == ("LicenseRef-public-domain",)
    assert "Python-2.0" in licenses["libc6"]
    assert licenses["certifi"] == ("MPL-2.0",)
    assert licenses["idna"] == ("LicenseRef-BSD",)
    assert licenses["@scope/pkg"] == ("ISC",)
    purls = {s.package.name: s.package.purl for s in sbom.packages}
    assert purls["libc6"] == "pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13"
    assert purls["@scope/pkg"] == "pkg:npm/%40scope/pkg@1.2.3"


def test_write_sboms(
    layout: Path, tmp_path: Path, spdx_errors: Validate, cdx_errors: Validate
) -> None:
    out = tmp_path / "out"
    written = write_sboms(f"oci:{layout}:latest", out)
    assert written == {
        "spdx-json": out / "sbom.spdx.json",
        "cyclonedx-json": out / "sbom.cdx.json",
    }
    spdx = json.loads(written["spdx-json"].read_text())
    cdx = json.loads(written["cyclonedx-json"].read_text())
    assert spdx_errors(spdx) == []
    assert cdx_errors(cdx) == []
    names = set(_by_name(spdx)) - {"myimage"}
    assert names == {"libc6", "libssl3t64", "libssl-dev", "tzdata", "certifi", "idna", "@scope/pkg"}
    assert {c["name"] for c in cdx["components"] if c["type"] != "operating-system"} == names
    assert _by_name(spdx)["libssl-dev"]["sourceInfo"] == "built package from: openssl 3.5.1-1"


def test_cli_writes_only_the_document_to_stdout(
    layout: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spdx_errors: Validate,
    cdx_errors: Validate,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert main(["sbom", f"oci:{layout}", "--format", "spdx-json"]) == 0
    first = capsys.readouterr()
    assert spdx_errors(json.loads(first.out)) == []
    assert main(["sbom", f"oci:{layout}", "--format", "spdx-json"]) == 0
    assert capsys.readouterr().out == first.out  # reproducible
    assert main(["sbom", f"oci:{layout}:latest", "--format", "cyclonedx-json"]) == 0
    assert cdx_errors(json.loads(capsys.readouterr().out)) == []


def test_cli_output_file(layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "sbom.cdx.json"
    code = main(["sbom", f"oci:{layout}", "--format", "cyclonedx-json", "-o", str(target)])
    assert code == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text())["bomFormat"] == "CycloneDX"


@pytest.mark.parametrize(
    "ref",
    ["not-a-reference", "oci:{tmp}/missing", "oci:{layout}:no-such-tag", "dir:{tmp}/nothing"],
)
def test_cli_bad_reference_exits_2_with_one_sentence(
    ref: str, layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", ref.format(tmp=tmp_path, layout=layout)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hardbase: error: ")


def test_cli_bad_format_is_a_usage_error(layout: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sbom", f"oci:{layout}", "--format", "spdx-tag-value"])
    assert exc.value.code == 2


def test_cyclonedx_bytes_are_the_library_writers(layout: Path) -> None:
    """The plain-data writer gives the bytes the cyclonedx-python-lib writer gave."""
    from cyclonedx_oracle import CycloneDxJson as LibraryCycloneDxJson

    from hardbase.sbom.cyclonedx import CycloneDxJson

    image = collect(f"oci:{layout}:latest")
    when = datetime(2025, 1, 2, tzinfo=UTC)
    assert CycloneDxJson().render(image, created=when) == LibraryCycloneDxJson().render(
        image, created=when
    )


@pytest.mark.parametrize("fmt", ["spdx-json", "cyclonedx-json"])
def test_cli_sbom_imports_no_cyclonedx_lib(
    layout: Path, tmp_path: Path, fmt: str, cdx_errors: Validate
) -> None:
    """cyclonedx-python-lib took most of a second to import; neither format needs it."""
    import re
    import subprocess
    import sys

    out = tmp_path / "doc.json"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hardbase", "sbom", f"oci:{layout}"]
        + ["--format", fmt, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set(re.findall(r"^import time:.*\|\s*([\w.]+)$", proc.stderr, re.M))
    assert "hardbase.sbom.generate" in modules
    assert {m for m in modules if m.split(".")[0] == "cyclonedx"} == set()
    if fmt == "cyclonedx-json":
        assert cdx_errors(json.loads(out.read_bytes())) == []
    assert json.loads(out.read_bytes())
