"""The fixture world of the patch-image tests: a signed bookworm fixture archive and an image
the host's real dpkg (`dpkg --root`) made from its point-release packages, with a second
layer holding the host's dpkg binaries so that tests can run dpkg inside the image.

The archive's -security suite has the FIXTURE fixes:

- libfoo1: the fix drops /usr/share/libfoo1/dropped.txt, adds added.txt, changes the
  library and its conffile /etc/foo.conf (patchable);
- libbar1: the fix's postinst is new (it would create a user): needs a rebuild;
- libbaz1: the fix depends on libnew1, which is not installed and depends on libnew2, also
  not installed; both are script-free, so both are added as new dependencies.

The vulnerability database holds FIXTURE advisories (made-up ids) on those three.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive_fixture import FixtureArchive
from hardbase.vuln.db import Advisory, Affected, SourceInfo, VulnDB
from registry_fixture import make_image

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' \
    b"VERSION_CODENAME=bookworm\n"  # fmt: skip
OLD, NEW = "1.0-1", "1.0-1+deb12u1"
FIXES = {"libfoo1": "FIXTURE-2026-1001", "libbar1": "FIXTURE-2026-1002",
         "libbaz1": "FIXTURE-2026-1003"}  # fmt: skip


def make_world(
    tmp: Path, installed: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[FixtureArchive, str, Path]:
    """The archive, the image (`oci:DIR:t`) and the FIXTURE database; `installed` are more
    packages (name -> `add_package` arguments) at OLD in bookworm, installed in the image."""
    archive = FixtureArchive(tmp / "world")
    old = [
        archive.add_package(
            "libfoo1", OLD, suite="bookworm",
            files={"/usr/lib/x86_64-linux-gnu/libfoo.so.1": "FIXTURE libfoo 1.0\n",
                   "/usr/share/libfoo1/dropped.txt": "FIXTURE: only in 1.0-1\n",
                   "/etc/foo.conf": "# FIXTURE foo.conf 1.0\n"},
            control_files={"conffiles": "/etc/foo.conf\n"},
        ),
        archive.add_package("libbar1", OLD, suite="bookworm",
                            control_files={"postinst": "#!/bin/sh\nexit 0\n"}),
        archive.add_package("libbaz1", OLD, suite="bookworm"),
        *(archive.add_package(n, OLD, suite="bookworm", **kw)
          for n, kw in (installed or {}).items()),
    ]  # fmt: skip
    archive.add_package(
        "libfoo1", NEW, suite="bookworm-security",
        files={"/usr/lib/x86_64-linux-gnu/libfoo.so.1": "FIXTURE libfoo 1.0, fixed\n",
               "/usr/share/libfoo1/added.txt": "FIXTURE: new in the fix\n",
               "/etc/foo.conf": "# FIXTURE foo.conf 1.0, fixed\n"},
        control_files={"conffiles": "/etc/foo.conf\n"},
    )  # fmt: skip
    archive.add_package(
        "libbar1",
        NEW,
        suite="bookworm-security",
        control_files={"postinst": "#!/bin/sh\nadduser --system fixture\n"},
    )
    archive.add_package("libbaz1", NEW, suite="bookworm-security", depends="libnew1")
    for name, depends, path in (
        ("libnew1", "libnew2", "/usr/lib/x86_64-linux-gnu/libnew.so.1"),
        ("libnew2", "", "/usr/share/libnew2/README"),
    ):
        archive.add_package(name, "1.0-1", suite="bookworm-security", depends=depends,
                            files={path: f"FIXTURE {name}\n"})  # fmt: skip
    for suite in ("bookworm", "bookworm-updates", "bookworm-security"):
        archive.publish(suite)
    root = tmp / "root"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/updates").mkdir()
    (root / "var/lib/dpkg/status").write_text("")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_bytes(OS_RELEASE)
    subprocess.run(
        ["dpkg", f"--root={root}", "--force-script-chrootless", "--force-not-root",
         "--log=/dev/null", "-i", *(str(archive.path_of(d)) for d in old)],
        check=True, capture_output=True,
    )  # fmt: skip
    files = {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "-old" not in p.name
    }
    make_image(tmp / "image", "t", [files, host_dpkg_layer()])
    return archive, f"oci:{tmp / 'image'}:t", fixture_db(tmp / "fixture.db")


def host_dpkg_layer() -> bytes:
    """A layer with the host's own `dpkg` and `dpkg-query` and the libraries they load (as
    `ldd` names them), so that tests run dpkg inside the fixture image with runc or podman.

    Real binaries copied from the host, in no dpkg database of the image; /lib64 is a link
    to usr/lib64 (the image stays merged-/usr).
    """
    members: dict[str, tuple[int, bytes]] = {}
    for tool in ("/usr/bin/dpkg", "/usr/bin/dpkg-query"):
        members[tool.lstrip("/")] = (0o755, Path(tool).read_bytes())
        ldd = subprocess.run(["ldd", tool], capture_output=True, text=True, check=True).stdout
        for line in ldd.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"):
                inside = "usr" + path if not path.startswith("/usr/") else path[1:]
                members[inside] = (0o755, Path(path).resolve().read_bytes())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        link = tarfile.TarInfo("lib64")
        link.type, link.linkname = tarfile.SYMTYPE, "usr/lib64"
        tar.addfile(link)
        for name, (mode, data) in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def fixture_db(path: Path, fixes: dict[str, str] | None = None, version: str = NEW) -> Path:
    """The FIXTURE advisories `fixes` (package -> id, default FIXES), fixed in `version`."""
    with VulnDB.open(path) as db:
        db.replace(
            "fixture",
            [Advisory(i, "fixture", summary=f"FIXTURE {n} flaw", severity="high")
             for n, i in (fixes or FIXES).items()],
            [Affected(i, "fixture", "debian:12", n, "fixed", version)
             for n, i in (fixes or FIXES).items()],
        )  # fmt: skip
        db.record_source(SourceInfo("fixture", "test_patch_image.py", datetime.now(UTC), 3))
    return path
