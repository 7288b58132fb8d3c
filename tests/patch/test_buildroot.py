"""Hermetic build roots: resolved exactly, cached by their package list, builds without network.

The offline tests resolve a made-up index (fixture packages). The archive test
creates a real bookworm root with mmdebstrap from Debian's signed archive and
builds a **fixture** source package in it (written here, not a Debian upload):
its rules check that the build runs as non-root, with the changelog's
SOURCE_DATE_EPOCH, without `nocheck`, and cannot reach a server listening on the
host's loopback; two builds give byte-identical .debs; a failing build keeps its log.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardbase.build.spec import MIRROR, SECURITY_MIRROR
from hardbase.debian.archive import Archive
from hardbase.debian.index import PackageIndex
from hardbase.debian.model import BinaryPackage, SourceEntry
from hardbase.patch.buildroot import (
    BuildFailed,
    BuildRootError,
    build_in_root,
    ensure_root,
    plan_root,
    without_profiles,
)


def _pkg(name: str, version: str = "1", **fields: object) -> BinaryPackage:
    return BinaryPackage(
        name=name, version=version, arch="amd64", source=name, source_version=version,
        filename=f"pool/{name}.deb", sha256=format(abs(hash(name + version)), "064x")[:64],
        size=1, base_uri="http://fixture.invalid", suite="fixture", **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_build_profiles_are_evaluated_with_none_active() -> None:
    text = "a <!nocheck>, b <nocheck>, c [amd64] | d <!stage1 !nocheck>, e <nocheck> <!cross>"
    assert without_profiles(text) == "a, c [amd64] | d, e"
    assert without_profiles(text, ["nocheck"]) == "b, c [amd64], e"


def test_the_plan_is_the_essential_set_build_essential_and_build_depends() -> None:
    packages = [
        _pkg("dash", essential=True),
        _pkg("libc6"),
        _pkg("build-essential", depends="libc6, make"),
        _pkg("make"),
        _pkg("fakeroot"),
        _pkg("debhelper", "13.11", provides="debhelper-compat (= 13)"),
        _pkg("check-only"),
        _pkg("unused"),
    ]
    plan = plan_root(
        PackageIndex(packages),
        "debhelper-compat (= 13), check-only <!nocheck>, unused <nocheck>",
        arch="amd64",
        release="fixture",
    )
    names = [p.name for p in plan.packages]
    assert names == ["build-essential", "check-only", "dash", "debhelper", "fakeroot", "libc6",
                     "make"]  # fmt: skip
    newer = plan_root(
        PackageIndex([*packages[:3], _pkg("make", "2"), *packages[4:]]),
        "debhelper-compat (= 13)", arch="amd64", release="fixture",
    )  # fmt: skip
    same = plan_root(PackageIndex(packages), "debhelper-compat (= 13), check-only",
                     arch="amd64", release="fixture")  # fmt: skip
    assert same.key == plan.key and newer.key != plan.key
    with pytest.raises(BuildRootError, match="cannot be resolved"):
        plan_root(PackageIndex(packages), "nosuch", arch="amd64", release="fixture")


# -- a real root ---------------------------------------------------------------------------

RULES = """#!/usr/bin/make -f
%:
\tdh $@

override_dh_auto_build:
\ttest "$$(id -u)" != 0
\ttest "$$SOURCE_DATE_EPOCH" = 1767261600
\tcase "$$DEB_BUILD_OPTIONS" in *nocheck*) exit 1;; esac
\tperl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1:{port}", \
Timeout => 5) ? 1 : 0)'
\techo built > hello.txt

override_dh_auto_test:
\t{test}
"""


def _fixture_source(top: Path, port: int, *, test: str = "grep -q built hello.txt") -> Path:
    tree = top / "hb-fixture-1.0"
    (tree / "debian" / "source").mkdir(parents=True)
    (tree / "debian" / "source" / "format").write_text("3.0 (native)\n")
    (tree / "debian" / "changelog").write_text(
        "hb-fixture (1.0) bookworm; urgency=medium\n\n"
        "  * Fixture package written for hardbase's tests, not a Debian upload.\n\n"
        " -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n"
    )
    (tree / "debian" / "control").write_text(
        "Source: hb-fixture\nMaintainer: hardbase tests <tests@hardbase.invalid>\n"
        "Build-Depends: debhelper-compat (= 13)\nRules-Requires-Root: no\n\n"
        "Package: hb-fixture\nArchitecture: any\nDescription: hardbase test fixture\n"
    )
    (tree / "debian" / "install").write_text("hello.txt usr/share/hb-fixture\n")
    rules = tree / "debian" / "rules"
    rules.write_text(RULES.replace("{port}", str(port)).replace("{test}", test))
    rules.chmod(0o755)
    return tree


@pytest.fixture
def listener() -> Iterator[int]:
    """A server on the host's loopback that a build with network could reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.mark.archive
@pytest.mark.slow
def test_a_real_root_is_cached_and_builds_hermetically_and_reproducibly(
    tmp_path: Path, listener: int
) -> None:
    entries = [
        SourceEntry((SECURITY_MIRROR,), ("bookworm-security",)),
        SourceEntry((MIRROR,), ("bookworm-updates", "bookworm")),
    ]
    index, _ = Archive(entries, cache_dir=tmp_path / "archive").load(["amd64"])
    plan = plan_root(index, "debhelper-compat (= 13)", arch="amd64", release="bookworm")
    assert {"dpkg", "build-essential", "debhelper", "fakeroot"} <= {p.name for p in plan.packages}
    cache = tmp_path / "cache"
    cold = ensure_root(plan, entries, cache)
    warm = ensure_root(plan, entries, cache)
    assert not cold.cached and warm.cached and warm.tarball == cold.tarball
    assert (cache / "buildroots" / f"{plan.key}.list").read_text().splitlines() == plan.lines()
    # The host's loopback server is not reachable from the build's network namespace.
    with socket.create_connection(("127.0.0.1", listener), timeout=5):
        pass
    tree = _fixture_source(tmp_path / "src", listener)
    first = build_in_root(warm, tree, [], epoch=1767261600, output=tmp_path / "one",
                          log_path=tmp_path / "one.log")  # fmt: skip
    second = build_in_root(warm, tree, [], epoch=1767261600, output=tmp_path / "two",
                           log_path=tmp_path / "two.log")  # fmt: skip
    assert [d.name for d in first.debs] == ["hb-fixture_1.0_amd64.deb"]
    assert first.debs[0].read_bytes() == second.debs[0].read_bytes()
    contents = subprocess.run(["dpkg-deb", "-c", str(first.debs[0])], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    assert "./usr/share/hb-fixture/hello.txt" in contents
    assert "dh_auto_test" in first.log.read_text() or "override_dh_auto_test" in (
        first.log.read_text()
    )
    failing = _fixture_source(tmp_path / "bad", listener, test="echo fixture test fails; exit 3")
    with pytest.raises(BuildFailed) as failed:
        build_in_root(warm, failing, [], epoch=1767261600, output=tmp_path / "three",
                      log_path=tmp_path / "three.log")  # fmt: skip
    assert failed.value.log_path == tmp_path / "three.log"
    assert "fixture test fails" in (tmp_path / "three.log").read_text()
    assert str(tmp_path / "three.log") in failed.value.diagnostics()
    assert not (tmp_path / "three").exists()


def _root_tarball(path: Path, status: str) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        data = status.encode()
        member = tarfile.TarInfo("./var/lib/dpkg/status")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    return path


def test_a_created_root_must_hold_exactly_the_planned_packages(tmp_path: Path) -> None:
    from hardbase.patch.buildroot import RootPlan, _check_installed

    plan = RootPlan((_pkg("libc6", "2.36-9"), _pkg("make", "4.3-4.1")), "amd64", "bookworm")
    # a fixture status file as dpkg writes one, with a removed package's leftover
    status = (
        "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n"
        "Description: GNU C Library\n Contains the standard libraries.\n\n"
        "Package: make\nStatus: install ok installed\nVersion: 4.3-4.1\n\n"
        "Package: old\nStatus: deinstall ok config-files\nVersion: 1\n"
    )
    _check_installed(_root_tarball(tmp_path / "ok.tar", status), plan)
    extra = status + "\nPackage: vim\nStatus: install ok installed\nVersion: 9\n"
    with pytest.raises(BuildRootError, match="extra: vim=9; missing: none"):
        _check_installed(_root_tarball(tmp_path / "extra.tar", extra), plan)
    other = status.replace("Version: 4.3-4.1", "Version: 4.4-1")
    with pytest.raises(BuildRootError, match="extra: make=4.4-1; missing: make=4.3-4.1"):
        _check_installed(_root_tarball(tmp_path / "other.tar", other), plan)
