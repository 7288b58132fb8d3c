"""Shared pieces of the repo tests: real .debs and source packages from the fixture archive."""

from __future__ import annotations

from pathlib import Path

from archive_fixture import FixtureArchive


def changelog(name: str, version: str, suite: str) -> str:
    return (
        f"{name} ({version}) {suite}; urgency=medium\n\n"
        "  * Fixture entry written for hardbase's tests, not a real upload.\n\n"
        " -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n"
    )


def build_deb(archive: FixtureArchive, name: str, version: str, **kwargs: object) -> Path:
    """A real .deb built by the fixture with dpkg-deb (in a suite nobody publishes)."""
    kwargs.setdefault("suite", "unpublished")
    deb = archive.add_package(name, version, **kwargs)  # type: ignore[arg-type]
    return archive.path_of(deb)


def build_dsc(archive: FixtureArchive, name: str, version: str) -> Path:
    """A real source package built by the fixture with dpkg-source; its .dsc."""
    source = archive.add_source(
        name, version, changelog(name, version, "trixie"), suite="unpublished"
    )
    plain = version.partition(":")[2] or version
    return archive.root / source.directory / f"{name}_{plain}.dsc"


def image_file(layout: Path, name: str) -> bytes:
    """The content of `name` in the single image of an OCI layout (the top layer wins)."""
    import gzip
    import io
    import json
    import tarfile

    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_text())
    top = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    manifest = top
    if "manifests" in top:  # an image index: its first manifest
        manifest = json.loads((blobs / top["manifests"][0]["digest"][7:]).read_text())
    found: bytes | None = None
    for layer in manifest["layers"]:
        data = gzip.decompress((blobs / layer["digest"][7:]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                if member.name == name and member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    found = extracted.read()
    if found is None:
        raise KeyError(f"{name} is not in the image at {layout}")
    return found
