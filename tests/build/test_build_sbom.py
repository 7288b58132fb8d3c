"""The build's SBOMs come from the listings it recorded, not from reading its layers back,
and are the very documents `hardbase sbom` reads from the image (compared byte for byte).

The fixture archive's packages (real .debs from dpkg-deb; their contents are fixtures)
hold what the inventory and the SBOM look at: a machine-readable copyright file, a
doc directory that is a symlink to another package's, /etc/os-release as a symlink,
Python and npm metadata, an executable and a Java archive.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from archive_fixture import FixtureArchive
from hardbase.build.layers import LayerCache
from hardbase.build.pipeline import BuildResult, build
from hardbase.build.spec import ImageSpec, load_spec
from hardbase.release.image import BuiltImage
from hardbase.release.sboms import release_sboms, sbom_from_build, write_beside
from hardbase.sbom.generate import FORMAT_NAMES, collect, render
from lang_subjects import fixture_jar

SUITE = "stable"
WHEN = datetime(2026, 1, 2, tzinfo=UTC)
DEP5 = (
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
    "Files: *\nCopyright: fixture\nLicense: Apache-2.0\n\n"
    "Files: extra/*\nCopyright: fixture\nLicense: custom-fixture\n fixture licence text\n"
)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    arch = FixtureArchive(tmp_path / "fixture")
    arch.add_package(
        "base-files",
        "13.8",
        files={
            "/usr/lib/os-release": 'ID=debian\nVERSION_ID="13"\nPRETTY_NAME="Debian fixture"\n',
            "/usr/share/doc/base-files/copyright": "public domain fixture\n",
        },
        symlinks={"/etc/os-release": "../usr/lib/os-release"},
    )
    arch.add_package(
        "libfix1",
        "1.0-1",
        source="fix",
        files={
            "/usr/lib/x86_64-linux-gnu/libfix.so.1": b"\x7fELF" + b"\0" * 2048,
            "/usr/share/doc/libfix1/copyright": DEP5,
            "/usr/share/java/fixture-lib.jar": fixture_jar("org.fixture", "fixture-lib", "1.2.3"),
        },
        modes={"/usr/lib/x86_64-linux-gnu/libfix.so.1": 0o755},
    )
    arch.add_package(
        "libfix-dev",
        "1.0-1",
        source="fix",
        depends="libfix1",
        files={"/usr/include/fix.h": "/* fixture */\n"},
        symlinks={"/usr/share/doc/libfix-dev": "libfix1"},
    )
    arch.add_package(
        "python3-fixture",
        "2.0-1",
        files={
            "/usr/lib/python3/dist-packages/fixture-2.0.dist-info/METADATA": (
                "Metadata-Version: 2.1\nName: Fixture\nVersion: 2.0\n"
                "License-Expression: MIT\n\nfixture\n"
            ),
            "/usr/share/doc/python3-fixture/copyright": "MIT fixture\n",
        },
    )
    arch.publish(SUITE)
    try:
        yield arch
    finally:
        arch.close()


def _spec(tmp: Path, archive: FixtureArchive) -> Path:
    data = {
        "name": "fix",
        "packages": ["base-files", "libfix-dev", "python3-fixture"],
        "sources": [{"uris": [archive.url], "suites": [SUITE], "signed-by": str(archive.keyring)}],
        "files": [
            {
                "dst": "/app/node_modules/left-pad/package.json",
                "content": '{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}',
            }
        ],
    }
    spec = tmp / "fix.yaml"
    spec.write_text(yaml.safe_dump(data))
    return spec


def _documents(result: BuildResult) -> dict[str, bytes]:
    """The SBOMs `hardbase sbom` makes of the built image (it reads the layers)."""
    sbom = collect(result.reference, arch="amd64", name="fix")
    return {fmt: render(sbom, fmt, created=WHEN) for fmt in FORMAT_NAMES}


def write_sboms(result: BuildResult, spec: ImageSpec) -> dict[str, Path]:
    """The SBOMs `hardbase build` writes beside the output (`release.sboms`), made at WHEN."""
    image = dataclasses.replace(
        BuiltImage.of_build(result, spec), created=WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return write_beside(release_sboms(image), result.output)


def _corrupt_layers(result: BuildResult) -> None:
    for named in result.layers["amd64"]:
        blob = result.output / "blobs" / "sha256" / named.layer.digest.removeprefix("sha256:")
        blob.unlink()  # the output's blob may be a hard link to the cache's
        blob.write_bytes(b"not the layer")


def test_build_sboms_equal_the_image_read_and_need_no_layer(
    tmp_path: Path, archive: FixtureArchive
) -> None:
    spec = load_spec(_spec(tmp_path, archive))
    result = build(spec, tmp_path / "out", cache=LayerCache(tmp_path / "layers"))
    expected = _documents(result)
    from_build = sbom_from_build(result, "amd64", "fix")
    assert from_build is not None
    names = {s.package.name: s for s in from_build.packages}
    assert {"base-files", "libfix1", "libfix-dev", "python3-fixture", "left-pad"} <= set(names)
    assert names["libfix-dev"].licenses == names["libfix1"].licenses  # via the doc-dir symlink
    assert from_build.os.pretty_name == "Debian fixture"
    for fmt in FORMAT_NAMES:
        assert render(from_build, fmt, created=WHEN) == expected[fmt]
    # the build's SBOMs do not read the layers: they are written with the blobs broken
    _corrupt_layers(result)
    written = write_sboms(result, spec)
    assert written["amd64/spdx-json"].read_bytes() == expected["spdx-json"]
    assert written["amd64/cyclonedx-json"].read_bytes() == expected["cyclonedx-json"]


def test_without_listings_the_image_is_read(
    tmp_path: Path, archive: FixtureArchive, caplog: pytest.LogCaptureFixture
) -> None:
    spec = load_spec(_spec(tmp_path, archive))
    cache = LayerCache(tmp_path / "layers")
    result = build(spec, tmp_path / "out", cache=cache)
    expected = _documents(result)
    shutil.rmtree(cache.root / "listings")  # a cache an older hardbase filled
    assert sbom_from_build(result, "amd64", "fix") is None
    written = write_sboms(result, spec)
    assert written["amd64/spdx-json"].read_bytes() == expected["spdx-json"]
    # a damaged listing is ignored the same way
    rebuilt = build(spec, tmp_path / "again", cache=LayerCache(tmp_path / "fresh"))
    assert rebuilt.layer_cache is not None
    listing = rebuilt.layer_cache.listing_path(rebuilt.layers["amd64"][1].layer.diff_id)
    listing.write_bytes(listing.read_bytes()[:-1] + b"x")
    caplog.clear()
    assert sbom_from_build(rebuilt, "amd64", "fix") is None
    assert any(
        r.getMessage().startswith(f"ignoring the layer listing cache entry {listing}: checksum")
        for r in caplog.records
    )


def test_warm_build_into_a_new_directory_uses_the_listings(
    tmp_path: Path, archive: FixtureArchive
) -> None:
    """The second build takes every layer from the cache; its SBOMs still come from listings."""
    spec = load_spec(_spec(tmp_path, archive))
    cache = LayerCache(tmp_path / "layers")
    build(spec, tmp_path / "first", cache=cache)
    second = build(spec, tmp_path / "second", cache=cache)
    sbom = sbom_from_build(second, "amd64", "fix")
    assert sbom is not None
    assert render(sbom, "spdx-json", created=WHEN) == _documents(second)["spdx-json"]
    assert (
        json.loads(render(sbom, "cyclonedx-json", created=WHEN))["metadata"]["component"]["name"]
        == "fix"
    )


@pytest.mark.archive
@pytest.mark.slow
@pytest.mark.parametrize("name", ["python3", "java"])
def test_real_image_sboms_equal_the_image_read(tmp_path: Path, name: str) -> None:
    """The trixie images from deb.debian.org: Debian, Python and Java packages, their
    copyright files and the JRE's archives; the same documents both ways."""
    shutil.copy(Path(__file__).parents[2] / "images" / f"{name}.yaml", tmp_path)
    spec = load_spec(tmp_path / f"{name}.yaml")
    result = build(spec, tmp_path / name, cache=LayerCache(tmp_path / "layers"))
    from_build = sbom_from_build(result, "amd64", name)
    assert from_build is not None
    sbom = collect(result.reference, arch="amd64", name=name)
    assert len(sbom.packages) > 20
    for fmt in FORMAT_NAMES:
        assert render(from_build, fmt, created=WHEN) == render(sbom, fmt, created=WHEN)
