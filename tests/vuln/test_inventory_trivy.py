"""Trivy (0.76, offline) and hardbase see the same packages in real images, by purl set.

Images: every preset on trixie and bookworm (and the -debug variants), the mmdebstrap
reference (debian minbase + python3), the Flask and express app images of tests/data/app,
and a "subjects" image: base plus, through `files:`, bullseye's docker-registry (Go 1.15),
trixie's log4j-core and commons-lang3 jars, a FIXTURE application jar nesting them, and
the Rust FIXTURE binary. The two spelling differences of docs/scan.md (a deb's epoch, the
distro qualifier) are undone by `normal_purl`; the subjects' jars all have pom.properties,
so no other difference applies. Trivy also reads hardbase's CycloneDX SBOM of these images
and finds the same packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hardbase.cli.main import main
from hardbase.vuln.inventory import inventory
from lang_subjects import debian_payload, normal_purl, rust_fixture, trivy_purls, trivy_sbom_purls

pytestmark = [pytest.mark.archive, pytest.mark.slow, pytest.mark.peers]

REPO = Path(__file__).parents[2]
PRESETS = ("static", "base", "cc", "python3", "python3-debug", "nodejs", "java")


def _build(spec: Path, out: Path) -> Path:
    assert main(["-q", "build", str(spec), "--output", str(out)]) == 0
    return out


def _hardbase_purls(layout: Path) -> set[str]:
    return {normal_purl(p.purl) for p in inventory(f"oci:{layout}:latest").inventory.packages}


def _sbom(layout: Path, dest: Path) -> Path:
    run = subprocess.run(
        [sys.executable, "-m", "hardbase", "-q", "sbom", f"oci:{layout}:latest",
         "--format", "cyclonedx-json"],
        capture_output=True, check=False, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    dest.write_bytes(run.stdout)
    return dest


def _same(layout: Path, tmp: Path) -> set[str]:
    ours = _hardbase_purls(layout)
    theirs = trivy_purls(layout, tmp, image=True)
    assert sorted(ours - theirs) == [] and sorted(theirs - ours) == []
    return ours


@pytest.mark.parametrize("release", ["trixie", "bookworm"])
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_images(tmp_path: Path, preset: str, release: str) -> None:
    spec = tmp_path / f"{preset}.yaml"
    spec.write_text(f"name: {preset}-{release}\nrelease: {release}\nextends: {preset}\n")
    ours = _same(_build(spec, tmp_path / "image"), tmp_path)
    assert any(p.startswith("pkg:deb/debian/base-files@") for p in ours)


def test_mmdebstrap_reference(tmp_path: Path) -> None:
    from evaluate.real_images import reference_image

    layout = Path(reference_image().removeprefix("oci:").rsplit(":", 1)[0])
    assert len(_same(layout, tmp_path)) > 80


@pytest.mark.parametrize("app", ["flask", "express"])
def test_app_images(tmp_path: Path, app: str) -> None:
    src = tmp_path / app
    shutil.copytree(REPO / "tests" / "data" / "app" / app, src)
    run = subprocess.run(
        ["hardbase", "-q", "build", str(src / f"{app}.yaml"), "--output", str(tmp_path / "image")],
        capture_output=True, text=True, timeout=1200, env=os.environ.copy(), check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    ours = _same(tmp_path / "image", tmp_path)
    kind = "pkg:pypi/flask@" if app == "flask" else "pkg:npm/express@"
    assert any(p.startswith(kind) for p in ours)


def test_subjects_image_and_its_sbom(tmp_path: Path) -> None:
    work = tmp_path / "spec"
    (work / "files").mkdir(parents=True)
    shutil.copy(debian_payload("bullseye", "docker-registry") / "usr/bin/docker-registry",
                work / "files/registry")  # fmt: skip
    rust_fixture(work / "files/rust-app")
    java = debian_payload("trixie", "liblog4j2-java") / "usr/share/java"
    lang3 = (debian_payload("trixie", "libcommons-lang3-java") / "usr/share/java").glob("*.jar")
    shutil.copy(java / "log4j-core.jar", work / "files/log4j-core.jar")
    shutil.copy(next(p for p in lang3 if not p.is_symlink()), work / "files/commons-lang3.jar")
    with zipfile.ZipFile(work / "files/app.jar", "w", zipfile.ZIP_DEFLATED) as jar:  # FIXTURE
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: app.Main\n\n")
        jar.write(java / "log4j-api.jar", "BOOT-INF/lib/log4j-api.jar")
    files = [
        ("registry", "/opt/bin/registry", "0755"),
        ("rust-app", "/opt/bin/rust-app", "0755"),
        ("log4j-core.jar", "/opt/lib/log4j-core.jar", "0644"),
        ("commons-lang3.jar", "/opt/lib/commons-lang3.jar", "0644"),
        ("app.jar", "/opt/app.jar", "0644"),
    ]
    lines = [f'  - {{src: files/{s}, dst: {d}, mode: "{m}"}}' for s, d, m in files]
    spec = work / "subjects.yaml"
    spec.write_text("name: subjects\nrelease: trixie\nextends: base\nfiles:\n" + "\n".join(lines))
    layout = _build(spec, tmp_path / "image")
    ours = _same(layout, tmp_path)
    assert {p for p in ours if not p.startswith("pkg:deb/")} >= {
        "pkg:golang/stdlib@v1.15.15",
        "pkg:cargo/hello@0.1.0",
        "pkg:cargo/itoa@1.0.9",
        "pkg:cargo/smallvec@1.6.0",
    }
    maven = {p.split("@")[0] for p in ours if p.startswith("pkg:maven/")}
    assert maven == {
        "pkg:maven/org.apache.logging.log4j/log4j-core",
        "pkg:maven/org.apache.logging.log4j/log4j-api",
        "pkg:maven/org.apache.commons/commons-lang3",
    }
    # Trivy takes hardbase's SBOM as input and finds the same packages
    assert trivy_sbom_purls(_sbom(layout, tmp_path / "subjects.cdx.json"), tmp_path) == ours


def test_trivy_reads_preset_sbom(tmp_path: Path) -> None:
    spec = tmp_path / "python3.yaml"
    shutil.copy(REPO / "images" / "python3.yaml", spec)
    layout = _build(spec, tmp_path / "image")
    ours = _hardbase_purls(layout)
    assert trivy_sbom_purls(_sbom(layout, tmp_path / "python3.cdx.json"), tmp_path) == ours
