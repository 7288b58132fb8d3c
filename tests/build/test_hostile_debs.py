"""Hostile .deb members at build time: refused with the package and the member, exit 2.

Each package is a real .deb in the signed fixture archive (dpkg-deb, then its
data.tar replaced by the hostile one where dpkg-deb cannot make it); the
`host_canary` fixture checks that nothing outside the output changed. The
preset package sets of both releases (python3, nodejs, java, their -debug
variants, python3-pip and npm: 529 packages) hold none of these members.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from archive_fixture import FixtureArchive, Member
from canary import HostCanary
from hardbase.cli.main import main


def build(tmp_path: Path, archive: FixtureArchive, packages: list[str]) -> tuple[int, Path]:
    archive.publish("stable")
    source = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
    spec = tmp_path / "hostile.yaml"
    spec.write_text(yaml.safe_dump({"name": "hostile", "packages": packages, "sources": [source]}))
    out = tmp_path / "out"
    return main(["-q", "build", str(spec), "--output", str(out)]), out


def hostile_members(kind: str, canary: Path) -> tuple[list[Member], str]:
    """A hostile data.tar of `kind`, and the member the error must name."""
    copyright: Member = ("./usr/share/doc/hostile/copyright", "file", b"public domain\n")
    if kind == "dotdot":
        name = "./usr/../../../../../../../../.." + str(canary / "dotdot")
        return [copyright, (name, "file", b"pwned\n")], name
    if kind == "absolute":
        name = str(canary / "absolute")
        return [copyright, (name, "file", b"pwned\n")], name
    if kind == "below-absolute-link":
        return [
            copyright,
            ("./usr/share/x", "symlink", str(canary)),
            ("./usr/share/x/pwned", "file", b"pwned\n"),
        ], "./usr/share/x/pwned"
    assert kind == "link-over-written-dir"
    return [
        copyright,
        ("./usr/share/x/", "dir", ""),
        ("./usr/share/x/sub/", "dir", ""),
        ("./usr/share/x/sub/keep", "file", b"keep\n"),
        ("./usr/share/x", "symlink", str(canary)),
    ], "./usr/share/x/sub"


@pytest.mark.parametrize(
    "kind", ["dotdot", "absolute", "below-absolute-link", "link-over-written-dir"]
)
def test_hostile_member_is_refused(
    tmp_path: Path, host_canary: HostCanary, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    members, named = hostile_members(kind, host_canary.root)
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_crafted_package("hostile", "1.0-1", members)
        code, out = build(tmp_path, archive, ["hostile"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "hostile ships" in err and named in err, err
    assert not out.exists()


def test_file_below_another_packages_symlink_is_refused(
    tmp_path: Path, host_canary: HostCanary, capsys: pytest.CaptureFixture[str]
) -> None:
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_package("linker", "1.0-1", symlinks={"/usr/share/x": str(host_canary.root)})
        archive.add_package("writer", "1.0-1", files={"/usr/share/x/pwned": b"pwned\n"})
        code, out = build(tmp_path, archive, ["linker", "writer"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "writer ships /usr/share/x/pwned below linker's symlink /usr/share/x" in err, err
    assert not out.exists()
