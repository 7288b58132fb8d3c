"""Detection and relocking against a fixture archive (dpkg-deb-built fixture packages, offline)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.build.spec import load_spec
from hardbase.debian.archive import Archive
from hardbase.lifecycle import plan as planning


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "a") as arch:
        arch.add_package("libfoo1", "1.0-1", source="foo")
        arch.add_package("libbar1", "1.0-1", source="bar")
        arch.add_package("app", "1.0", depends="libfoo1 (>= 1.0), libbar1")
        arch.publish("stable")
        arch.publish("stable-security")
        yield arch


def spec_for(tmp_path: Path, archive: FixtureArchive):  # type: ignore[no-untyped-def]
    path = tmp_path / "app.yaml"
    path.write_text(
        "name: app\nrelease: trixie\npackages: [app]\nsources:\n"
        f"  - uris: ['{archive.url}']\n    suites: [stable, stable-security]\n"
        f"    signed-by: {archive.keyring}\n"
    )
    return load_spec(path)


def index_of(archive: FixtureArchive, tmp_path: Path):  # type: ignore[no-untyped-def]
    entry = archive.entry("stable", "stable-security")
    return Archive([entry], cache_dir=tmp_path / "cache").load(["amd64"])


def versions(lock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {p.name: p.version for p in lock.all_packages()}


def test_minimal_moves_only_what_needs_it_full_moves_all(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    spec = spec_for(tmp_path, archive)
    index, releases = index_of(archive, tmp_path)
    old = planning.lock_from_index(spec, index, releases)
    assert versions(old) == {"app": "1.0", "libbar1": "1.0-1", "libfoo1": "1.0-1"}
    # a security fix of libfoo1, and an ordinary new libbar1 in the main suite
    archive.add_package("libfoo1", "1.0-1+deb13u1", source="foo", suite="stable-security")
    archive.add_package("libbar1", "1.1-1", source="bar")
    archive.publish("stable")
    archive.publish("stable-security")
    index, releases = index_of(archive, tmp_path)
    plan = planning.detect(old, index, [])
    assert [(u.name, u.new, u.suite) for u in plan.upgrades] == [
        ("libfoo1", "1.0-1+deb13u1", "stable-security")
    ]
    assert plan.targets == {"libfoo1"} and "libfoo1 1.0-1 -> 1.0-1+deb13u1" in plan.reason()
    minimal = planning.relock(spec, old, index, releases, mode="minimal", targets=plan.targets)
    assert versions(minimal) == {"app": "1.0", "libbar1": "1.0-1", "libfoo1": "1.0-1+deb13u1"}
    full = planning.relock(spec, old, index, releases, mode="full", targets=plan.targets)
    assert versions(full)["libbar1"] == "1.1-1"
    assert planning.lock_changes(old, minimal) == [
        {"package": "libfoo1", "arch": "amd64", "old": "1.0-1", "new": "1.0-1+deb13u1"}
    ]
    assert planning.package_hash(old) != planning.package_hash(minimal)
    assert planning.package_hash(minimal) == planning.package_hash(
        planning.relock(spec, old, index, releases, mode="minimal", targets=plan.targets)
    )


def test_minimal_falls_back_to_full_when_a_pin_cannot_hold(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    spec = spec_for(tmp_path, archive)
    index, releases = index_of(archive, tmp_path)
    old = planning.lock_from_index(spec, index, releases)
    # the fixed libfoo1 needs a newer libbar1 than the pinned one
    archive.add_package(
        "libfoo1", "1.0-1+deb13u1", source="foo", suite="stable-security",
        depends="libbar1 (>= 1.1)",
    )  # fmt: skip
    archive.add_package("libbar1", "1.1-1", source="bar")
    archive.publish("stable")
    archive.publish("stable-security")
    index, releases = index_of(archive, tmp_path)
    lock = planning.relock(spec, old, index, releases, mode="minimal", targets={"libfoo1"})
    assert versions(lock) == {"app": "1.0", "libbar1": "1.1-1", "libfoo1": "1.0-1+deb13u1"}


def test_nothing_to_do_when_the_archive_has_no_update(
    archive: FixtureArchive, tmp_path: Path
) -> None:
    spec = spec_for(tmp_path, archive)
    index, releases = index_of(archive, tmp_path)
    old = planning.lock_from_index(spec, index, releases)
    plan = planning.detect(old, index, [])
    assert not plan.needed and plan.keys == []
