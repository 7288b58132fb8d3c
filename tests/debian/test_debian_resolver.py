"""The resolver on hand-built indexes (offline) and on the fixture archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_fixture import FixtureArchive
from hardbase.debian.archive import Archive
from hardbase.debian.drops import DEFAULT_DROPS, Drop
from hardbase.debian.index import PackageIndex
from hardbase.debian.model import BinaryPackage
from hardbase.debian.resolver import resolve
from hardbase.errors import ResolveError


def pkg(
    name: str,
    version: str = "1.0",
    *,
    arch: str = "amd64",
    depends: str = "",
    pre_depends: str = "",
    provides: str = "",
    essential: bool = False,
    suite: str = "trixie",
) -> BinaryPackage:
    return BinaryPackage(
        name=name, version=version, arch=arch, source=name, source_version=version,
        filename=f"pool/main/{name[0]}/{name}/{name}_{version}_{arch}.deb", sha256="0" * 64,
        size=1, base_uri="http://mirror.invalid/debian", suite=suite, depends=depends,
        pre_depends=pre_depends, provides=provides, essential=essential,
    )  # fmt: skip


def names(packages: tuple[BinaryPackage, ...]) -> list[str]:
    return [p.name for p in packages]


def test_follows_depends_and_pre_depends_and_explains_why() -> None:
    index = PackageIndex([
        pkg("app", depends="libfoo (>= 1.0)", pre_depends="libc6"),
        pkg("libfoo", "1.2", depends="libc6 (>= 2.36)"),
        pkg("libc6", "2.41"),
        pkg("unrelated"),
    ])  # fmt: skip
    result = resolve(index, ["app"], "amd64")
    assert names(result.packages) == ["app", "libc6", "libfoo"]
    assert result.why["app"] == ("app",)
    assert result.why["libfoo"] == ("app", "libfoo")
    assert result.why["libc6"] == ("app", "libc6")
    assert result.dropped == ()


def test_does_not_pull_essential_packages() -> None:
    index = PackageIndex([
        pkg("app", depends="libc6"), pkg("libc6"),
        pkg("bash", essential=True), pkg("dpkg", essential=True), pkg("perl-base", essential=True),
    ])  # fmt: skip
    assert names(resolve(index, ["app"], "amd64").packages) == ["app", "libc6"]


def test_picks_the_highest_version_across_suites() -> None:
    index = PackageIndex([
        pkg("libssl3", "3.0.15-1~deb12u1", suite="bookworm"),
        pkg("libssl3", "3.0.17-1~deb12u2", suite="bookworm-security"),
        pkg("libssl3", "3.0.16-1~deb12u1", suite="bookworm-updates"),
    ])  # fmt: skip
    (chosen,) = resolve(index, ["libssl3"], "amd64").packages
    assert (chosen.version, chosen.suite) == ("3.0.17-1~deb12u2", "bookworm-security")


def test_version_constraints_choose_the_highest_that_fits() -> None:
    index = PackageIndex([
        pkg("app", depends="libfoo (<< 2)"), pkg("libfoo", "1.5"), pkg("libfoo", "2.0"),
    ])  # fmt: skip
    chosen = {p.name: p.version for p in resolve(index, ["app"], "amd64").packages}
    assert chosen["libfoo"] == "1.5"


def test_a_chosen_version_that_a_later_constraint_rules_out_fails() -> None:
    index = PackageIndex([
        pkg("a", depends="libfoo, b"), pkg("b", depends="libfoo (<< 2)"),
        pkg("libfoo", "1.5"), pkg("libfoo", "2.0"),
    ])  # fmt: skip
    with pytest.raises(ResolveError) as caught:
        resolve(index, ["a"], "amd64")
    message = caught.value.diagnostics()
    assert "cannot satisfy 'libfoo (<< 2)' needed by a -> b" in message
    assert "libfoo 2.0 already chosen (via a -> libfoo)" in message


def test_unsatisfiable_dependency_names_the_chain_and_what_is_available() -> None:
    index = PackageIndex([
        pkg("python3", depends="libpython3.13"),
        pkg("libpython3.13", depends="libfoo (>= 2)"),
        pkg("libfoo", "1.0"),
    ])  # fmt: skip
    with pytest.raises(ResolveError) as caught:
        resolve(index, ["python3"], "amd64")
    assert caught.value.diagnostics() == (
        "cannot satisfy 'libfoo (>= 2)' needed by python3 -> libpython3.13: "
        "available libfoo 1.0 (trixie)"
    )


def test_missing_dependency_says_none_available() -> None:
    index = PackageIndex([pkg("app", depends="ghost")])
    with pytest.raises(ResolveError, match="'ghost' needed by app: available none"):
        resolve(index, ["app"], "amd64")


def test_unknown_root() -> None:
    index = PackageIndex([pkg("app")])
    with pytest.raises(ResolveError, match=r"unknown package 'foo': .* for amd64 in trixie;"):
        resolve(index, ["foo"], "amd64")
    with pytest.raises(ResolveError, match=r"unknown package 'ap' \(did you mean 'app'\?\)"):
        resolve(index, ["ap"], "amd64")


def test_root_with_an_exact_version() -> None:
    index = PackageIndex([pkg("app", "1.0"), pkg("app", "2.0")])
    assert resolve(index, ["app=1.0"], "amd64").packages[0].version == "1.0"
    with pytest.raises(ResolveError, match="no version 3.0 .*available: 2.0 \\(trixie\\), 1.0"):
        resolve(index, ["app=3.0"], "amd64")


def test_alternatives_prefer_what_is_already_chosen() -> None:
    index = PackageIndex([
        pkg("app", depends="mawk | gawk, tool"), pkg("tool", depends="gawk"),
        pkg("mawk"), pkg("gawk"),
    ])  # fmt: skip
    # The alternative waits until the plain dependencies are in, so gawk is reused.
    assert names(resolve(index, ["app"], "amd64").packages) == ["app", "gawk", "tool"]


def test_alternatives_otherwise_take_the_first_satisfiable() -> None:
    index = PackageIndex([
        pkg("app", depends="missing | libfoo (>= 3) | libfoo-compat | other"),
        pkg("libfoo", "2"), pkg("libfoo-compat"), pkg("other"),
    ])  # fmt: skip
    assert names(resolve(index, ["app"], "amd64").packages) == ["app", "libfoo-compat"]


def test_alternatives_prefer_preselected_packages() -> None:
    index = PackageIndex([pkg("app", depends="mawk | gawk"), pkg("mawk"), pkg("gawk")])
    result = resolve(index, ["app"], "amd64", preselected={"gawk": pkg("gawk")})
    assert names(result.packages) == ["app"]


def test_preselected_packages_satisfy_but_are_not_returned() -> None:
    index = PackageIndex([pkg("app", depends="libc6 (>= 2.36)"), pkg("libc6", "2.41")])
    base = {"libc6": pkg("libc6", "2.41")}
    assert names(resolve(index, ["app", "libc6"], "amd64", preselected=base).packages) == ["app"]
    with pytest.raises(ResolveError, match="libc6 2.30 already chosen"):
        resolve(index, ["app"], "amd64", preselected={"libc6": pkg("libc6", "2.30")})


def test_virtual_packages() -> None:
    index = PackageIndex([
        pkg("app", depends="awk"),
        pkg("mawk", provides="awk"), pkg("gawk", provides="awk"),
        pkg("original-awk", provides="awk"),
    ])  # fmt: skip
    # No real awk and several providers: the first by name, deterministically.
    assert names(resolve(index, ["app"], "amd64").packages) == ["app", "gawk"]
    # An already-chosen provider wins.
    assert names(resolve(index, ["mawk", "app"], "amd64").packages) == ["app", "mawk"]


def test_virtual_prefers_a_real_package_of_that_name() -> None:
    index = PackageIndex([
        pkg("app", depends="mail-transport-agent"),
        pkg("mail-transport-agent", "1"), pkg("exim4", provides="mail-transport-agent"),
    ])  # fmt: skip
    assert names(resolve(index, ["app"], "amd64").packages) == ["app", "mail-transport-agent"]


def test_versioned_provides() -> None:
    index = PackageIndex([
        pkg("app", depends="python3-supported-max (>= 3.13)"),
        pkg("python3", "3.11.2-1", provides="python3-supported-max (= 3.11)"),
        pkg("python3-new", "3.13.5-1", provides="python3-supported-max (= 3.13)"),
        pkg("unversioned", provides="python3-supported-max"),
    ])  # fmt: skip
    assert names(resolve(index, ["app"], "amd64").packages) == ["app", "python3-new"]


def test_architecture_qualifiers_and_arch_all() -> None:
    index = PackageIndex([
        pkg("app", depends="perl:any, libc6:native, libfoo:amd64, data"),
        pkg("perl"), pkg("libc6"), pkg("libfoo"), pkg("data", arch="all"),
        pkg("armonly", arch="arm64"),
    ])  # fmt: skip
    assert names(resolve(index, ["app"], "amd64").packages) == [
        "app", "data", "libc6", "libfoo", "perl",
    ]  # fmt: skip
    foreign = PackageIndex([pkg("app", depends="libfoo:arm64"), pkg("libfoo")])
    with pytest.raises(ResolveError, match="libfoo:arm64"):
        resolve(foreign, ["app"], "amd64")
    with pytest.raises(ResolveError, match="unknown package 'armonly'"):
        resolve(index, ["armonly"], "amd64")


def test_drops_are_applied_and_recorded() -> None:
    index = PackageIndex([
        pkg("tzdata", depends="debconf (>= 0.5) | debconf-2.0"),
        pkg("ca-certificates", depends="openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0"),
        pkg("base-files", pre_depends="awk"),
        pkg("debconf"), pkg("openssl", "3.0"), pkg("mawk", provides="awk"),
    ])  # fmt: skip
    result = resolve(index, ["tzdata", "ca-certificates", "base-files"], "amd64")
    assert names(result.packages) == ["base-files", "ca-certificates", "tzdata"]
    assert {(d.package, d.dependency) for d in result.dropped} == {
        ("tzdata", "debconf"), ("ca-certificates", "openssl"),
        ("ca-certificates", "debconf"), ("base-files", "awk"),
    }  # fmt: skip
    strict = resolve(index, ["tzdata", "ca-certificates", "base-files"], "amd64", drops=())
    assert names(strict.packages) == [
        "base-files", "ca-certificates", "debconf", "mawk", "openssl", "tzdata",
    ]  # fmt: skip
    assert strict.dropped == ()


def test_a_drop_does_not_count_when_something_else_needs_the_dependency() -> None:
    index = PackageIndex([
        pkg("ca-certificates", depends="openssl (>= 1.1.1)"), pkg("openssl", "3.0"),
        pkg("tool", depends="openssl"),
    ])  # fmt: skip
    result = resolve(index, ["ca-certificates", "tool"], "amd64")
    assert names(result.packages) == ["ca-certificates", "openssl", "tool"]
    assert result.dropped == ()


def test_custom_drop() -> None:
    index = PackageIndex([pkg("app", depends="helper"), pkg("helper")])
    drop = Drop("app", "helper", "only for tests")
    result = resolve(index, ["app"], "amd64", drops=[drop])
    assert names(result.packages) == ["app"] and result.dropped == (drop,)


def test_output_does_not_depend_on_input_order() -> None:
    packages = [
        pkg("app", depends="awk, libfoo | libbar, libz"),
        pkg("mawk", provides="awk", depends="libz"), pkg("gawk", provides="awk"),
        pkg("libfoo", "1"), pkg("libfoo", "2"), pkg("libbar"), pkg("libz"),
    ]  # fmt: skip
    forward = resolve(PackageIndex(packages), ["app"], "amd64")
    backward = resolve(PackageIndex(reversed(packages)), ["app"], "amd64")
    assert forward == backward
    assert [(p.name, p.version) for p in forward.packages] == [
        ("app", "1.0"), ("gawk", "1.0"), ("libfoo", "2"), ("libz", "1.0"),
    ]  # fmt: skip


def test_default_drops_are_documented() -> None:
    doc = Path(__file__).parents[2] / "docs" / "drops.md"
    text = doc.read_text()
    for drop in DEFAULT_DROPS:
        assert f"`{drop.package}`" in text and drop.dependency in text


def test_resolves_against_the_fixture_archive(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    fixture_archive.add_package("app", "1.0", depends="libfoo1 (>= 1.0), awk")
    fixture_archive.add_package("libfoo1", "1.0-1")
    fixture_archive.add_package("mawk", "1.3", provides="awk")
    fixture_archive.add_package("libfoo1", "1.0-2", suite="stable-security")
    fixture_archive.publish("stable")
    fixture_archive.publish("stable-security")
    index, _ = Archive(
        [fixture_archive.entry("stable", "stable-security")], cache_dir=tmp_path / "c"
    ).load(["amd64"])
    result = resolve(index, ["app"], "amd64")
    assert [(p.name, p.version, p.suite) for p in result.packages] == [
        ("app", "1.0", "stable"), ("libfoo1", "1.0-2", "stable-security"),
        ("mawk", "1.3", "stable"),
    ]  # fmt: skip
