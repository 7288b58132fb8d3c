"""A large .deb member goes to the layer in bounded memory, and stays the same file.

The package is a real .deb (dpkg-deb, gzip) in the signed fixture archive with
one 300 MiB file of zeros, within the default member limit. The build runs in
its own process, whose peak RSS (VmHWM) must stay well below the member's
size: the payload is spooled to a temp file in chunks and streamed to the
layer and its digests, never held whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from isal import igzip

from archive_fixture import FixtureArchive
from hardbase.build.tree import SPOOL_OVER
from hardbase.cli.main import main

SIZE = 300 << 20


def _layer_member(layout: Path, name: str) -> tuple[int, str]:
    """Size and sha256 of member `name` in the image's layers, read as a stream."""
    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_text())
    top = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    manifest = json.loads((blobs / top["manifests"][0]["digest"][7:]).read_text())
    for layer in manifest["layers"]:
        with (
            igzip.open(blobs / layer["digest"][7:]) as raw,
            tarfile.open(fileobj=raw, mode="r|") as tar,
        ):
            for member in tar:
                if member.name == name:
                    fh = tar.extractfile(member)
                    assert fh is not None
                    digest = hashlib.sha256()
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                    return member.size, digest.hexdigest()
    raise AssertionError(f"{name} is in no layer")


@pytest.mark.slow
def test_large_member_is_built_in_bounded_memory(tmp_path: Path) -> None:
    with FixtureArchive(tmp_path / "fixture") as archive:
        stage = archive.workdir / "stage"
        stage.mkdir(parents=True)
        sparse = stage / "zeros"
        with open(sparse, "wb") as fh:
            fh.truncate(SIZE)  # no disk blocks; dpkg-deb reads zeros
        archive.add_package(
            "big",
            "1.0-1",
            files={"/usr/share/big/zeros": sparse.read_bytes(), "/usr/share/big/small": b"x\n"},
            compression="gzip",
        )
        archive.publish("stable")
        source = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
        spec = tmp_path / "big.yaml"
        spec.write_text(yaml.safe_dump({"name": "big", "packages": ["big"], "sources": [source]}))
        out = tmp_path / "out"
        script = (
            "import re, sys\n"
            "from hardbase.cli.main import main\n"
            f"code = main(['-q', 'build', {str(spec)!r}, '--output', {str(out)!r}])\n"
            # VmHWM: this process's peak RSS (ru_maxrss would count the parent's at fork)
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())\n"
            "print(code, hwm.group(1))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "HARDBASE_CACHE": str(tmp_path / "cache")},
        )
    assert proc.returncode == 0, proc.stderr
    code, max_rss_kb = (int(x) for x in proc.stdout.split()[-2:])
    assert code == 0, proc.stderr
    print("peak RSS of the build with a 300 MiB member, kB:", max_rss_kb)
    # About 70 MB of interpreter and libraries plus the 64 MiB a layer may be held in memory
    # (layers.IN_MEMORY); the old code, holding the payload and the tar, peaked at 947 MB.
    assert max_rss_kb < 160 << 10, max_rss_kb
    size, sha = _layer_member(out, "usr/share/big/zeros")
    assert size == SIZE
    assert sha == hashlib.sha256(bytes(SIZE)).hexdigest()


def _build(tmp_path: Path, archive: FixtureArchive, packages: list[str]) -> tuple[int, Path]:
    archive.publish("stable")
    source = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
    tmp_path.mkdir(exist_ok=True)
    spec = tmp_path / "spooled.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "packages": packages, "sources": [source]}))
    out = tmp_path / "out"
    return main(["-q", "build", str(spec), "--output", str(out), "--no-sbom"]), out


def test_spooled_members_hard_links_and_shared_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Members over SPOOL_OVER are spooled: a hard link to one, and the same file in a
    # second package, come out with the right content; a different one is a conflict.
    data = os.urandom(SPOOL_OVER + 4096)
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_crafted_package(
            "big",
            "1.0-1",
            [
                ("./usr/share/big/", "dir", ""),
                ("./usr/share/big/data", "file", data),
                ("./usr/share/big/link", "hardlink", "./usr/share/big/data"),
            ],
        )
        archive.add_package("twin", "1.0-1", files={"/usr/share/big/data": data})
        code, out = _build(tmp_path, archive, ["big", "twin"])
        assert code == 0
        want = (len(data), hashlib.sha256(data).hexdigest())
        assert _layer_member(out, "usr/share/big/data") == want
        assert _layer_member(out, "usr/share/big/link") == want
        archive.add_package("other", "1.0-1", files={"/usr/share/big/data": data[:-1] + b"!"})
        code, _ = _build(tmp_path / "again", archive, ["big", "other"])
    assert code == 2
    assert "other and big both ship /usr/share/big/data with different content" in (
        capsys.readouterr().err
    )
