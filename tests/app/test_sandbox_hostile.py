"""Hostile .debs unpacked into an app build root (`hardbase lock` of an app spec).

The build root is written on the host, as root, before pip starts, so a
package that plants a symlink must not lead a write out of it. Each package
here is a real .deb (dpkg-deb, then its data.tar replaced by the hostile one)
in the signed fixture archive; the `host_canary` fixture checks that nothing
outside the build root changed. Needs runc (the build root refuses to start
without it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from archive_fixture import FixtureArchive, Member
from canary import HostCanary
from hardbase.cli.main import main

pytestmark = pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc")


def escape_through_ancestor(target: str, below: str) -> list[Member]:
    """The audit's sequence: a symlink over an ancestor of a directory already written."""
    return [
        ("./usr/share/x/", "dir", ""),
        (f"./usr/share/x/{below}/", "dir", ""),
        (f"./usr/share/x/{below}/keep", "file", b"keep\n"),
        ("./usr/share/x", "symlink", target),
        (f"./usr/share/x/{below}/pwned", "file", b"pwned\n"),
    ]


def lock_app(tmp_path: Path, add: Callable[[FixtureArchive], list[str]]) -> tuple[int, Path]:
    """`hardbase lock` of an app spec whose image holds the packages `add` puts in the archive."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    archive = FixtureArchive(tmp_path / "fixture")
    try:
        archive.add_package("python3-pip", "1.0-1")
        packages = add(archive)
        archive.publish("stable")
        (tmp_path / "requirements.txt").write_text("")
        spec = tmp_path / "app.yaml"
        source = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
        spec.write_text(
            yaml.safe_dump(
                {
                    "name": "hostile-app",
                    "packages": packages,
                    "sources": [source],
                    "app": {"python": {"requirements": "requirements.txt"}},
                }
            )
        )
        return main(["-q", "lock", str(spec)]), spec.with_suffix(".lock.json")
    finally:
        archive.close()


def lock_hostile(tmp_path: Path, members: list[Member]) -> tuple[int, Path]:
    """`lock_app` with one package, `hostile`, whose data.tar holds `members`."""
    return lock_app(tmp_path, lambda a: [a.add_crafted_package("hostile", "1.0-1", members).name])


def test_symlink_over_an_ancestor_is_refused(
    tmp_path: Path, host_canary: HostCanary, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lock = lock_hostile(tmp_path, escape_through_ancestor(str(host_canary.root), "sub"))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "hostile" in err and "/usr/share/x" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not lock.exists()


def test_dev_null_is_not_replaced(
    tmp_path: Path, host_canary: HostCanary, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit's worst case: x -> / and a member x/dev/null would replace the host's /dev/null.

    A symlink to the real / is only tried once the same attack aimed at the
    canary was refused, so this test can never clobber /dev/null on code
    without the fix (restore with `rm /dev/null && mknod -m 666 /dev/null c 1 3`).
    """
    code, _ = lock_hostile(
        tmp_path / "canary", escape_through_ancestor(str(host_canary.root), "sub")
    )
    assert code == 2 and not host_canary.changes(), host_canary.changes()
    members = escape_through_ancestor("/", "dev")
    members[-1] = ("./usr/share/x/dev/null", "file", b"pwned\n")
    code, _ = lock_hostile(tmp_path / "root", members)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "/usr/share/x" in err, err


@pytest.mark.parametrize("name", ["etc/resolv.conf", "etc/hosts"])
def test_bind_mount_targets_do_not_follow_planted_links(
    tmp_path: Path, host_canary: HostCanary, name: str
) -> None:
    # touch() on a planted link would bump the canary file's mtime or create a new one
    members: list[Member] = [
        ("./etc/", "dir", ""),
        (f"./{name}", "symlink", str(host_canary.root / "keep")),
        ("./hb/", "dir", ""),
        ("./hb/host-ca.crt", "symlink", str(host_canary.root / "created")),
    ]
    code, _ = lock_hostile(tmp_path, members)
    assert code != 0  # the fixture's build root has no python3 to run pip with


def test_file_below_another_packages_symlink_stays_in_the_root(
    tmp_path: Path, host_canary: HostCanary, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each package alone is fine; only writing them one after the other escapes.
    def add(archive: FixtureArchive) -> list[str]:
        archive.add_package("linker", "1.0-1", symlinks={"/usr/share/x": str(host_canary.root)})
        archive.add_package("writer", "1.0-1", files={"/usr/share/x/pwned": b"pwned\n"})
        return ["linker", "writer"]

    code, _ = lock_app(tmp_path, add)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "writer" in err and "/usr/share/x/pwned" in err and "symlink" in err, err
