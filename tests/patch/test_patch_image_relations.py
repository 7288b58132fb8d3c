"""patch-image's package relations on the fixture world (tests/patch_image_world.py): new
dependencies met only by a `Provides:` (virtual, versioned), backtracking among `a | b`
alternatives, and the Conflicts/Breaks of the upgraded packages against what the image holds.

Every package is a real .deb built by `dpkg-deb` into the signed FIXTURE archive; the
image is what the host's dpkg (`dpkg --root`) installed, and the patched image's database
is read back by the host's dpkg (`dpkg --root ROOTFS -s`, `--verify`, `--audit`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from hardbase.patch.relations import only_bytecode
from patch_image_world import FIXES, NEW, OLD, make_world
from peers import need, unpack

pytestmark = pytest.mark.archive
ADDED = ("libvirt1", "libapi2", "libplain1", "libplain2", "libldconfig1", "libplain3",
         "python3-fixture")  # fmt: skip
# FIXTURE scripts in the form dh_python3 writes them (debhelper 13, bookworm)
PY3COMPILE = """#!/bin/sh
set -e

# Automatically added by dh_python3
if command -v py3compile >/dev/null 2>&1; then
\tpy3compile -p python3-fixture
fi
if command -v pypy3compile >/dev/null 2>&1; then
\tpypy3compile -p python3-fixture  || true
fi

# End automatically added section
"""
PY3CLEAN = "\n".join([
    "#!/bin/sh", "set -e", "", "# Automatically added by dh_python3",
    "if command -v py3clean >/dev/null 2>&1; then", "\tpy3clean -p python3-fixture", "else",
    "\tdpkg -L python3-fixture | sed -En -e "
    """'/^(.*)\\/(.+)\\.py$/s,,rm "\\1/__pycache__/\\2".*,e'""",
    "\tfind /usr/lib/python3/dist-packages/ -type d -name __pycache__ -empty -print0 | "
    "xargs --null --no-run-if-empty rmdir",
    "fi", "", "# End automatically added section", "",
])  # fmt: skip


def _args(archive: FixtureArchive, db: Path) -> list[str]:
    return ["--db", str(db), "--mirror", archive.url, "--security-mirror", archive.url,
            "--keyring", str(archive.keyring)]  # fmt: skip


def _patch(archive: FixtureArchive, ref: str, db: Path, out: Path, capsys) -> str:  # type: ignore[no-untyped-def]
    assert main(["patch-image", ref, "--output", f"oci:{out}:p", *_args(archive, db)]) == 0
    return str(capsys.readouterr().err)


def _add(archive: FixtureArchive, name: str, **kwargs: Any) -> None:
    """A FIXTURE package NAME 1.0-1 in bookworm-security with one README of its own."""
    files = {f"/usr/share/{name}/README": f"FIXTURE {name}\n"}
    archive.add_package(name, "1.0-1", suite="bookworm-security", files=files, **kwargs)


def _rebuild(name: str, reason: str) -> str:
    return f"{name} needs a rebuild: {reason} ({FIXES[name]} stay open)"


def _dpkg(rootfs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg", f"--root={rootfs}", *args], capture_output=True, text=True)


def _installed(rootfs: Path, name: str) -> str:
    """The version the host's dpkg reads for `name` in the unpacked image ("" when none)."""
    shown = _dpkg(rootfs, "-s", name)
    if shown.returncode != 0:
        return ""
    assert "Status: install ok installed" in shown.stdout, shown.stdout
    return next(ln[9:] for ln in shown.stdout.splitlines() if ln.startswith("Version: "))


def _rootfs(out: Path, bundle: Path) -> Path:
    need("umoci")
    rootfs = unpack(out, "p", bundle)
    verify = _dpkg(rootfs, "--verify")
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
    audit = _dpkg(rootfs, "--audit")
    assert audit.returncode == 0 and audit.stdout == "", audit.stdout
    return rootfs


def test_new_dependencies_met_by_provides_and_backtracking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """libbaz1's newer fix needs a virtual package, a versioned virtual package and two
    `a | b` groups whose first choice cannot be added; libfoo1's needs alternatives that
    all fail, so it is left out naming each."""
    archive, ref, db = make_world(tmp_path)
    try:
        security = "bookworm-security"
        baz = f"{NEW}.1"
        archive.add_package(
            "libbaz1", baz, suite=security,
            depends="fixture-virtual, fixture-api (>= 2), libscript1 | libplain1, "
            "libdeep1 | libplain2, libldconfig1, libinterest1 | libplain3, python3-fixture",
        )  # fmt: skip
        _add(archive, "libvirt1", provides="fixture-virtual")
        # fixture-api: an unversioned provide (never satisfies >= 2), a (= 1) and a (= 2)
        _add(archive, "libapi0", provides="fixture-api")
        _add(archive, "libapi1", provides="fixture-api (= 1)")
        _add(archive, "libapi2", provides="fixture-api (= 2)")
        _add(archive, "libscript1", control_files={"postinst": "#!/bin/sh\nldconfig\n"})
        # libdeep1 is script-free but needs libscript1: backtrack past it to libplain2
        _add(archive, "libdeep1", depends="libscript1")
        _add(archive, "libplain1")
        _add(archive, "libplain2")
        _add(archive, "libplain3")
        # dh_makeshlibs' trigger alone does not need running; an interest trigger does
        _add(archive, "libldconfig1", control_files={"triggers": "activate-noawait ldconfig\n"})
        _add(archive, "libinterest1", control_files={"triggers": "interest /usr/share/x\n"})
        # dh_python3's byte-compiling needs no running either
        _add(archive, "python3-fixture", control_files={"postinst": PY3COMPILE,
                                                        "prerm": PY3CLEAN})  # fmt: skip
        alternatives = "libscript1 | libdeep1 | fixture-nowhere"
        archive.add_package("libfoo1", f"{NEW}.1", suite=security, depends=alternatives)
        archive.publish(security)  # fmt: skip
        out = tmp_path / "out"
        err = _patch(archive, ref, db, out, capsys)
        assert f"libbaz1 {OLD} -> {baz} ({security}): fixes {FIXES['libbaz1']}" in err
        for added in ADDED:
            assert f"{added} 1.0-1 ({security}): added as a new dependency of libbaz1" in err
        script = "libscript1 has a postinst that must run"
        assert _rebuild(
            "libfoo1",
            f"it needs {alternatives}, not installed, and {script}, and libdeep1 needs "
            f"libscript1, not installed, and {script}",
        ) in err  # fmt: skip
        rootfs = _rootfs(out, tmp_path / "bundle")
        assert _installed(rootfs, "libbaz1") == baz
        assert _installed(rootfs, "libfoo1") == OLD
        for added in ADDED:
            assert _installed(rootfs, added) == "1.0-1"
            assert (rootfs / f"usr/share/{added}/README").read_text() == f"FIXTURE {added}\n"
        assert (rootfs / "var/lib/dpkg/info/libldconfig1.triggers").is_file()
        for absent in ("libapi0", "libapi1", "libscript1", "libdeep1", "libinterest1"):
            assert _installed(rootfs, absent) == ""
        # the host's dpkg sees the relations: removing a provider libbaz1 needs is refused
        removal = _dpkg(rootfs, "--dry-run", "--force-not-root", "-r", "libapi2")
        assert removal.returncode != 0 and "libbaz1 depends on fixture-api (>= 2)" in (
            removal.stderr
        ), removal.stderr
    finally:
        archive.close()


def test_conflicts_and_breaks_of_the_upgrades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fix that breaks an installed package is left out naming both, as dpkg itself
    refuses it; one that breaks only the old version of a package the same patch upgrades
    is made; an installed package whose Breaks names the fixed version keeps it out."""
    installed = {"libguard1": {"fields": {"Breaks": f"libbaz1 (>= {NEW}.1)"}}}
    archive, ref, db = make_world(tmp_path, installed)
    try:
        security = "bookworm-security"
        # libfoo1's fix breaks libbar1 << 2: libbar1's own fix needs a rebuild, so it stays
        archive.add_package("libfoo1", f"{NEW}.1", suite=security,
                            fields={"Breaks": "libbar1 (<< 2)"})  # fmt: skip
        archive.publish(security)
        err = _patch(archive, ref, db, tmp_path / "o1", capsys)
        assert (
            _rebuild("libfoo1", f"libfoo1 {NEW}.1 breaks libbar1 {OLD}, installed in the image")
            in err
        )
        # the host's dpkg refuses the same unpack, for the same reason
        root = tmp_path / "dpkg-root"
        shutil.copytree(tmp_path / "root", root, symlinks=True)
        deb = next(
            d for d in archive.debs(security) if (d.name, d.version) == ("libfoo1", f"{NEW}.1")
        )
        unpacked = _dpkg(root, "--force-script-chrootless", "--force-not-root",
                         "--log=/dev/null", "--unpack", str(archive.path_of(deb)))  # fmt: skip
        assert unpacked.returncode != 0 and "breaks libbar1" in unpacked.stderr, unpacked.stderr
        rootfs = _rootfs(tmp_path / "o1", tmp_path / "b1")
        assert _installed(rootfs, "libfoo1") == OLD
        assert _installed(rootfs, "libbaz1") == NEW  # libguard1 breaks only >= NEW.1
        # a newer libfoo1 breaking only libbaz1 << NEW, which this patch upgrades: made
        archive.add_package("libfoo1", f"{NEW}.2", suite=security,
                            fields={"Breaks": f"libbaz1 (<< {NEW})"})  # fmt: skip
        archive.publish(security)
        err = _patch(archive, ref, db, tmp_path / "o2", capsys)
        assert f"libfoo1 {OLD} -> {NEW}.2 ({security})" in err
        rootfs = _rootfs(tmp_path / "o2", tmp_path / "b2")
        assert (_installed(rootfs, "libfoo1"), _installed(rootfs, "libbaz1")) == (f"{NEW}.2", NEW)
        # a newer libbaz1 that the installed libguard1 breaks is left out, naming both; then
        # libfoo1's Breaks holds against the libbaz1 kept, so libfoo1 is left out too
        archive.add_package("libbaz1", f"{NEW}.1", suite=security, depends="libnew1")
        archive.publish(security)
        err = _patch(archive, ref, db, tmp_path / "o3", capsys)
        assert _rebuild("libbaz1", f"the installed libguard1 {OLD} breaks libbaz1 {NEW}.1") in err
        assert (
            _rebuild("libfoo1", f"libfoo1 {NEW}.2 breaks libbaz1 {OLD}, installed in the image")
            in err
        )
        assert "nothing to patch; no layer added" in err
    finally:
        archive.close()


def test_installed_packages_an_upgrade_needs_newer_are_upgraded_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As apt does: libfoo1's fix needs libdep1 (>= 2) and breaks libold1 (<< 2), and the
    installed libguard1 breaks libbaz1's fix; newer libdep1, libold1 and libguard1 (without
    that Breaks) are in the archive, script-free, so they are upgraded with it. A newer
    libfoo1 also needs libscripted1 (>= 2), whose 2.0-1 changed its postinst: left out."""
    installed = {
        "libdep1": {},
        "libold1": {},
        "libguard1": {"fields": {"Breaks": f"libbaz1 (>= {NEW})"}},
        "libscripted1": {"control_files": {"postinst": "#!/bin/sh\nexit 0\n"}},
    }
    archive, ref, db = make_world(tmp_path, installed)
    try:
        security = "bookworm-security"
        archive.add_package("libfoo1", f"{NEW}.1", suite=security, depends="libdep1 (>= 2)",
                            fields={"Breaks": "libold1 (<< 2)"})  # fmt: skip
        for name in ("libdep1", "libold1", "libguard1"):
            archive.add_package(name, "2.0-1", suite=security)
        archive.add_package(
            "libscripted1",
            "2.0-1",
            suite=security,
            control_files={"postinst": "#!/bin/sh\nadduser --system x\n"},
        )
        archive.publish(security)  # fmt: skip
        out = tmp_path / "out"
        err = _patch(archive, ref, db, out, capsys)
        assert f"libfoo1 {OLD} -> {NEW}.1 ({security}): fixes {FIXES['libfoo1']}" in err
        assert f"libbaz1 {OLD} -> {NEW} ({security}): fixes {FIXES['libbaz1']}" in err
        for name, needer in (("libdep1", "libfoo1"), ("libold1", "libfoo1"),
                             ("libguard1", "libbaz1")):  # fmt: skip
            assert f"{name} {OLD} -> 2.0-1 ({security}): upgraded too, as {needer} needs it" in err
        assert "5 packages upgraded, 2 added as new dependencies" in err
        rootfs = _rootfs(out, tmp_path / "bundle")
        for name, version in (("libfoo1", f"{NEW}.1"), ("libbaz1", NEW), ("libdep1", "2.0-1"),
                              ("libold1", "2.0-1"), ("libguard1", "2.0-1"),
                              ("libscripted1", OLD)):  # fmt: skip
            assert _installed(rootfs, name) == version
        # the host's dpkg agrees: unpacking the old libguard1 again is refused
        deb = next(d for d in archive.debs("bookworm") if d.name == "libguard1")
        again = _dpkg(rootfs, "--force-script-chrootless", "--force-not-root", "--log=/dev/null",
                      "--dry-run", "--unpack", str(archive.path_of(deb)))  # fmt: skip
        assert again.returncode != 0 and "breaks libbaz1" in again.stderr, again.stderr
        # a newer libfoo1 that also needs libscripted1 >= 2: that upgrade needs a rebuild
        archive.add_package("libfoo1", f"{NEW}.2", suite=security,
                            depends="libdep1 (>= 2), libscripted1 (>= 2)")  # fmt: skip
        archive.publish(security)
        err = _patch(archive, ref, db, tmp_path / "o2", capsys)
        assert _rebuild(
            "libfoo1",
            f"it needs libscripted1 (>= 2), the image has libscripted1 {OLD} (it needs "
            "libscripted1 upgraded to 2.0-1 too, and libscripted1 needs a rebuild: its postinst "
            "changed and must run)",
        ) in err  # fmt: skip
        assert "libdep1" not in err and "libold1" not in err  # only libfoo1 needed them
        assert "libguard1 1.0-1 -> 2.0-1" in err
    finally:
        archive.close()


def test_only_dh_python3_bytecode_scripts_are_left_unrun() -> None:
    assert only_bytecode(PY3COMPILE.encode()) and only_bytecode(PY3CLEAN.encode())
    added = PY3COMPILE.replace("fi\n\n#", "fi\nadduser --system fixture\n\n#", 1)
    assert not only_bytecode(added.encode())  # another command in dh_python3's section
    assert not only_bytecode(PY3COMPILE.encode() + b"ldconfig\n")  # one after it
    assert not only_bytecode(b"#!/bin/sh\nset -e\n")  # no dh_python3 section at all
