"""A signed OCI layout whose signed blob was swapped: `verify` must hash the bytes it trusts.

The layout is real: `hardbase build --sign-key` from the fixture archive. The
attack writes another image's index into the blob file of the signed digest,
copies that image's blobs beside it and fixes only `size` in index.json, so
every reader that trusts the file name sees the other image. The same layout
packed into an `oci-archive:` is checked the same way.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from archive_fixture import FixtureArchive
from data.images.fixture_images import write_oci_archive
from hardbase.cli.main import main

SUITE = "stable"


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "fixture") as fixture:
        fixture.add_package("hello", "2.0-1", files={"usr/bin/hello": b"#!hello\n"})
        fixture.add_package("other", "1.0-1", files={"usr/bin/other": b"#!other\n"})
        fixture.publish(SUITE)
        yield fixture


def build(tmp: Path, archive: FixtureArchive, package: str, *extra: str) -> Path:
    spec = tmp / f"{package}.yaml"
    source = {"uris": [archive.url], "suites": [SUITE], "signed-by": str(archive.keyring)}
    spec.write_text(yaml.safe_dump({"name": package, "packages": [package], "sources": [source]}))
    out = tmp / package
    assert main(["-q", "build", str(spec), "--output", str(out), *extra]) == 0
    return out


def swap_signed_blob(signed: Path, other: Path) -> str:
    """Write `other`'s index into the blob of `signed`'s digest, as the attack does; the digest."""
    index = json.loads((signed / "index.json").read_text())
    entry = next(
        m
        for m in index["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    )
    other_top = json.loads((other / "index.json").read_text())["manifests"][0]["digest"]
    blobs = signed / "blobs" / "sha256"
    for blob in (other / "blobs" / "sha256").iterdir():
        if not (blobs / blob.name).exists():  # shared layers are already there (hard links)
            shutil.copyfile(blob, blobs / blob.name)
    swapped = (other / "blobs" / "sha256" / other_top[7:]).read_bytes()
    target = blobs / entry["digest"][7:]
    target.unlink()  # never write through a hard link into the layer cache
    target.write_bytes(swapped)
    entry["size"] = len(swapped)
    (signed / "index.json").write_text(json.dumps(index))
    return str(entry["digest"])


@pytest.fixture
def images(
    tmp_path: Path, archive: FixtureArchive, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path, Path]:
    """A signed layout (`hello`), an unsigned one (`other`) and the public key."""
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", "pw")
    assert main(["keygen", "--output-prefix", str(tmp_path / "key")]) == 0
    signed = build(tmp_path, archive, "hello", "--sign-key", str(tmp_path / "key.key"))
    return signed, build(tmp_path, archive, "other"), tmp_path / "key.pub"


def refused(ref: str, key: Path, digest: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["verify", ref, "--key", str(key)])
    captured = capsys.readouterr()
    assert code == 1, captured
    assert "FAIL  image" in captured.out and "PASS" not in captured.out
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert digest in err and "does not match its digest" in err
    assert "altered after signing" in err


def test_verify_refuses_a_layout_whose_signed_blob_was_swapped(
    images: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signed, other, key = images
    ref = f"oci:{signed}:latest"
    assert main(["verify", ref, "--key", str(key)]) == 0
    refused(ref, key, swap_signed_blob(signed, other), capsys)


def test_verify_reads_an_oci_archive_and_refuses_a_swapped_one(
    tmp_path: Path, images: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signed, other, key = images
    packed = write_oci_archive(signed, tmp_path / "signed.tar")
    assert main(["verify", f"oci-archive:{packed}:latest", "--key", str(key)]) == 0
    assert "PASS  signature" in capsys.readouterr().out
    digest = swap_signed_blob(signed, other)
    swapped = write_oci_archive(signed, tmp_path / "swapped.tar")
    refused(f"oci-archive:{swapped}:latest", key, digest, capsys)
    # an archive is read-only: signing one is a usage error, not a half-written file
    before = packed.read_bytes()
    assert main(["sign", f"oci-archive:{packed}", "--key", str(tmp_path / "key.key")]) == 2
    assert "read-only" in capsys.readouterr().err and packed.read_bytes() == before
