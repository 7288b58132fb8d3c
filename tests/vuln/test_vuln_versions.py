"""Version orderings (dpkg, PEP 440, semver) and OSV range evaluation."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hardbase.vuln.match import (
    VersionError,
    compare_debian,
    compare_pep440,
    compare_semver,
    in_range,
)

DPKG_PAIRS = [
    ("1.0", "1.0~rc1"),
    ("1.0~rc1", "1.0~rc1~1"),
    ("1:0.1", "2.0"),
    ("3.0.11-1~deb12u2", "3.0.11-1"),
    ("3.0.11-1+deb12u1", "3.0.11-1"),
    ("3.0.11-1+deb12u1", "3.0.11-1~deb12u1"),
    ("7.88.1-10+deb12u10", "7.88.1-10+deb12u9"),
    ("2.36-9+deb12u4", "2.36-9+b1"),
    ("1.2.3-1", "1.2.3"),
    ("1.0a", "1.0+"),
    ("1.0", "1.0-0"),
    ("0:1.0", "1.0"),
    ("1.0-1", "1.0-1"),
    ("2.0.0+dfsg-1", "2.0.0-1"),
    ("1.0.0", "1.0.0~"),
]


def _dpkg(a: str, op: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
@pytest.mark.parametrize(("a", "b"), DPKG_PAIRS)
def test_debian_ordering_agrees_with_dpkg(a: str, b: str) -> None:
    expected = -1 if _dpkg(a, "lt", b) else (1 if _dpkg(a, "gt", b) else 0)
    assert compare_debian(a, b) == expected
    assert compare_debian(b, a) == -expected


def test_semver_precedence_follows_the_spec() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        assert compare_semver(lower, higher) == -1, (lower, higher)
        assert compare_semver(higher, lower) == 1
    assert compare_semver("1.0.0+build.1", "1.0.0+build.2") == 0
    assert compare_semver("v1.2.3", "1.2.3") == 0
    with pytest.raises(VersionError):
        compare_semver("1.2", "1.2.0")


def test_pep440() -> None:
    assert compare_pep440("2.31.0", "2.31") == 0
    assert compare_pep440("3.0.0a1", "3.0.0") == -1
    assert compare_pep440("1.0.post1", "1.0") == 1
    with pytest.raises(VersionError):
        compare_pep440("not a version", "1.0")


@pytest.mark.parametrize(
    ("version", "affected"),
    [("0.9", True), ("1.0", True), ("1.4", True), ("1.5", False), ("2.0", True), ("2.3", True),
     ("2.3.1", False), ("3.0", False)],
)  # fmt: skip
def test_ecosystem_range_with_fixed_and_last_affected(version: str, affected: bool) -> None:
    events = [
        ("introduced", "0"),
        ("fixed", "1.5"),
        ("introduced", "2.0"),
        ("last_affected", "2.3"),
    ]
    assert in_range(version, events, compare_pep440) is affected


def test_events_are_evaluated_in_version_order() -> None:
    # OSV does not promise sorted events
    events = [
        ("introduced", "2.0.0"),
        ("fixed", "2.1.0"),
        ("introduced", "1.0.0"),
        ("fixed", "1.1.0"),
    ]
    assert in_range("1.0.5", events, compare_semver)
    assert not in_range("1.5.0", events, compare_semver)
    assert in_range("2.0.1", events, compare_semver)
    assert not in_range("0.9.0", events, compare_semver)


def test_limit_caps_a_range() -> None:
    events = [("introduced", "0"), ("limit", "3.0.0")]
    assert in_range("2.9.9", events, compare_semver)
    assert not in_range("3.0.0", events, compare_semver)


def test_semver_prerelease_range() -> None:
    events = [("introduced", "5.0.0-alpha.1"), ("fixed", "5.0.0-rc.1")]
    assert in_range("5.0.0-beta.3", events, compare_semver)
    assert not in_range("5.0.0", events, compare_semver)
    assert not in_range("4.9.0", events, compare_semver)


def test_debian_range_with_epoch() -> None:
    events = [("introduced", "0"), ("fixed", "1:1.2.13.dfsg-1+deb12u1")]
    assert in_range("1:1.2.13.dfsg-1", events, compare_debian)
    assert not in_range("1:1.2.13.dfsg-1+deb12u1", events, compare_debian)
    assert not in_range("1:1.3-1", events, compare_debian)
