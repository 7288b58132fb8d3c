"""scripts/fetch-peers against a signed fixture archive: verified .debs in, binaries out.

The fixture's cosign and oras packages are small shell scripts built with
dpkg-deb (they stand in for the real Go binaries, which `make setup` fetches
from deb.debian.org with the same script).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fetch-peers"


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()
    with FixtureArchive(tmp_path / "fixture") as fixture:
        for name, version in (("cosign", "2.5.0-2"), ("oras", "1.2.0-1")):
            fixture.add_package(
                name, version, arch, suite="trixie",
                files={f"/usr/bin/{name}": f"#!/bin/sh\necho {name} {version}\n"},
                modes={f"/usr/bin/{name}": 0o755},
            )  # fmt: skip
        newer = {"/usr/bin/cosign": "#!/bin/sh\necho cosign newer\n"}
        fixture.add_package("cosign", "2.5.0-2+b1", arch, suite="trixie-updates", files=newer)
        fixture.publish("trixie", archs=(arch,))
        fixture.publish("trixie-updates", archs=(arch,))
        yield fixture


def run(
    archive: FixtureArchive, dest: Path, tmp_path: Path, keyring: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARDBASE_CACHE": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--mirror", archive.url, "--keyring",
         str(keyring or archive.keyring), "--dest", str(dest)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_installs_the_newest_verified_binaries_and_is_idempotent(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    dest = tmp_path / "tools"
    first = run(archive, dest, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "installed cosign 2.5.0-2+b1 (trixie-updates)" in first.stdout
    assert "installed oras 1.2.0-1 (trixie)" in first.stdout
    oras = subprocess.run([str(dest / "bin" / "oras")], capture_output=True, text=True)
    assert oras.stdout == "oras 1.2.0-1\n"
    cosign = subprocess.run([str(dest / "bin" / "cosign")], capture_output=True, text=True)
    assert cosign.stdout == "cosign newer\n"  # made executable although the .deb has 0644
    assert set(json.loads((dest / "peers.json").read_text())) == {"cosign", "oras"}
    again = run(archive, dest, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "installed" not in again.stdout.replace("is installed", "")


def test_a_deb_that_does_not_match_its_index_installs_nothing(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    deb = next(d for d in archive.debs("trixie") if d.name == "oras")
    path = archive.path_of(deb)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    dest = tmp_path / "tools"
    result = run(archive, dest, tmp_path)
    assert result.returncode == 2
    assert "oras_1.2.0-1" in result.stderr and "does not match its expected sha256" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not dest.exists()


def test_an_archive_signed_by_another_key_installs_nothing(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    dest = tmp_path / "tools"
    result = run(archive, dest, tmp_path, archive.foreign_keyring())
    assert result.returncode == 2
    assert "does not verify" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not dest.exists()


def test_make_setup_installed_cosign_and_oras() -> None:
    from peers import need

    need("cosign", "oras")
    # Debian's build reports GitVersion "devel"; the .deb version is in .tools/peers.json.
    cosign = subprocess.run(["cosign", "--help"], capture_output=True, text=True, check=True)
    assert "verify-attestation" in cosign.stdout
    oras = subprocess.run(["oras", "version"], capture_output=True, text=True, check=True)
    assert "Version:    1.2" in oras.stdout
