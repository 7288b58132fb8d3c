"""The version rule of hardbase's own uploads: above Debian's version, below its next one.

Every ordering is checked twice: with hardbase's comparison and with the real
`dpkg --compare-versions`.
"""

from __future__ import annotations

import subprocess

import pytest

from hardbase.debian.version import compare_versions, debian_base, hb_revision, patched_version


def dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


# (Debian's version, release number, hardbase's version, Debian uploads that must sort above)
CASES = [
    ("3.46.1-7+deb13u2", "13", "3.46.1-7+deb13u2+hb1",
     ["3.46.1-7+deb13u3", "3.46.1-8", "3.47.0-1"]),
    ("2.5.0-1+deb12u3", "12", "2.5.0-1+deb12u3+hb1", ["2.5.0-1+deb12u4", "2.5.0-2"]),
    ("3.13.5-2", "13", "3.13.5-2+deb13u0+hb1", ["3.13.5-2+deb13u1", "3.13.5-3", "3.13.6-1"]),
    ("1:1.3.dfsg+really1.3.1-1", "13", "1:1.3.dfsg+really1.3.1-1+deb13u0+hb1",
     ["1:1.3.dfsg+really1.3.1-1+deb13u1", "1:1.3.dfsg+really1.3.1-2"]),
    ("3.0.13-1~deb12u1", "12", "3.0.13-1~deb12u1+hb1", ["3.0.13-1~deb12u2", "3.0.13-1"]),
    ("2026a", None, "2026a+hb1", ["2026b"]),
]  # fmt: skip


@pytest.mark.parametrize(("debian", "release", "ours", "above"), CASES)
def test_sorts_above_debian_and_below_its_next_upload(
    debian: str, release: str | None, ours: str, above: list[str]
) -> None:
    assert patched_version(debian, 1, release_number=release) == ours
    assert compare_versions(debian, ours) < 0 and dpkg_lt(debian, ours)
    for later in above:
        assert compare_versions(ours, later) < 0 and dpkg_lt(ours, later), later
    second = patched_version(ours, 2, release_number=release)
    assert second == ours.removesuffix("+hb1") + "+hb2"
    assert compare_versions(ours, second) < 0 and dpkg_lt(ours, second)
    assert all(compare_versions(second, x) < 0 and dpkg_lt(second, x) for x in above)
    assert hb_revision(ours) == 1 and hb_revision(second) == 2 and hb_revision(debian) is None
    assert debian_base(ours) == debian_base(second) == debian


def test_a_binnmu_of_debian_sorts_below_our_rebuild() -> None:
    # a binNMU rebuilds Debian's source without the fix: it must not win
    ours = patched_version("3.13.5-2", release_number="13")
    assert compare_versions("3.13.5-2+b1", ours) < 0 and dpkg_lt("3.13.5-2+b1", ours)


def test_the_plain_suffix_alone_would_beat_debians_first_stable_update() -> None:
    # why the rule adds +debNNu0: `+hb1` > `+deb13u1` (h > d) for dpkg too
    assert dpkg_lt("3.13.5-2+deb13u1", "3.13.5-2+hb1")
    assert compare_versions("3.13.5-2+hb1", "3.13.5-2+deb13u1") > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        patched_version("1.0-1", 0)
    with pytest.raises(ValueError):
        patched_version("1.0-1", release_number="trixie")
