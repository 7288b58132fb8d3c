"""Hostile .deb members at build time: refused with the package and the member, exit 2.

Each package is a real .deb in the signed fixture archive (dpkg-deb, then its
data.tar replaced by the hostile one where dpkg-deb cannot make it); the
`host_canary` fixture checks that nothing outside the output changed. The
preset package sets of both releases (python3, nodejs, java, their -debug
variants, python3-pip and npm: 529 packages) hold none of these members.
"""

from __future__ import annotations

import subprocess
import sys
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


def bomb(archive: FixtureArchive, size: int) -> None:
    """A real .deb (dpkg-deb, gzip) holding one file of `size` zero bytes, staged sparse."""
    stage = archive.workdir / "bomb-stage"
    stage.mkdir(parents=True, exist_ok=True)
    sparse = stage / "zeros"
    with open(sparse, "wb") as fh:
        fh.truncate(size)  # no disk blocks; dpkg-deb reads zeros
    archive.add_package(
        "bomb", "1.0-1", files={"/usr/share/bomb/zeros": sparse.read_bytes()}, compression="gzip"
    )


@pytest.mark.parametrize("variable", ["HARDBASE_MAX_DEB_MEMBER", "HARDBASE_MAX_DEB_PACKAGE"])
def test_member_or_package_beyond_a_set_limit_is_refused(
    tmp_path: Path,
    host_canary: HostCanary,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    with FixtureArchive(tmp_path / "fixture") as archive:
        bomb(archive, 8 << 20)
        monkeypatch.setenv(variable, str(1 << 20))
        code, out = build(tmp_path, archive, ["bomb"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "bomb is refused" in err and variable in err and "./usr/share/bomb/zeros" in err, err
    assert not out.exists()


def test_bad_limit_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_package("hello", "1.0-1")
        monkeypatch.setenv("HARDBASE_MAX_DEB_MEMBER", "1G")
        code, _ = build(tmp_path, archive, ["hello"])
    assert code == 2
    assert "HARDBASE_MAX_DEB_MEMBER='1G' is not a whole number of bytes" in capsys.readouterr().err


@pytest.mark.slow
def test_bomb_beyond_the_default_limit_is_refused_in_bounded_memory(
    tmp_path: Path, host_canary: HostCanary
) -> None:
    # 600 MiB of zeros gzip to about 600 KB; the member is refused from its tar header,
    # before its data is read, so the build's peak RSS stays far below the member's size.
    with FixtureArchive(tmp_path / "fixture") as archive:
        bomb(archive, 600 << 20)
        archive.publish("stable")
        source = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
        spec = tmp_path / "bomb.yaml"
        spec.write_text(yaml.safe_dump({"name": "b", "packages": ["bomb"], "sources": [source]}))
        script = (
            "import re, sys\n"
            "from hardbase.cli.main import main\n"
            f"code = main(['-q', 'build', {str(spec)!r}, '--output', {str(tmp_path / 'out')!r}])\n"
            # VmHWM: this process's peak RSS (ru_maxrss would count the parent's at fork)
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())\n"
            "print(code, hwm.group(1))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
        )
    code, max_rss_kb = (int(x) for x in proc.stdout.split())
    assert code == 2, proc.stderr
    assert "bomb is refused: its member ./usr/share/bomb/zeros expands to 629145600" in proc.stderr
    print("peak RSS of the refused build, kB:", max_rss_kb)
    assert max_rss_kb < 300 << 10, max_rss_kb  # the member alone would be 600 MiB
    assert not (tmp_path / "out").exists()
