"""dpkg version ordering: a table of tricky pairs and a property test against dpkg itself."""

from __future__ import annotations

import functools
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardbase.debian.version import Version, compare_versions, is_valid_version, satisfies
from hardbase.errors import ResolveError

TRICKY = [
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0+b1", -1),
    ("1.0", "1.0.0", -1),
    ("1.0a", "1.0.", -1),  # letters sort before non-letters
    ("1.0", "1.0a", -1),
    ("2.36-9+deb12u1", "2.36-9+deb12u10", -1),
    ("2.36-9~deb12u1", "2.36-9", -1),
    ("2.36-9~deb12u1", "2.36-9+deb12u1", -1),
    ("3.0.11-1~deb12u2", "3.0.11-1", -1),
    ("1:1.0", "2.0", 1),
    ("0:1.0", "1.0", 0),
    ("1:0.1", "0:9.9", 1),
    ("1.0", "1.0-0", 0),
    ("1.00", "1.0", 0),
    ("1.0-1", "1.0-1.1", -1),
    ("1.0-1", "1.0-1~bpo1", 1),
    ("7.4.052", "7.4.52", 0),
    ("1.2-3-4", "1.2-3-5", -1),  # the revision is after the last hyphen
    ("1:2.3.4-5ubuntu1", "1:2.3.4-5", 1),
    ("2.0.0+dfsg-1", "2.0.0-1", 1),
    ("10", "9", 1),
    ("1.0+r", "1.0+~", 1),
    ("a", "B", 1),
]


@pytest.mark.parametrize(("a", "b", "expected"), TRICKY)
def test_tricky_pairs(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected
    if shutil.which("dpkg") and is_valid_version(a) and is_valid_version(b):
        assert _dpkg_compare([(a, b)]) == [expected]


def test_version_objects_sort_and_hash_like_dpkg() -> None:
    versions = ["1.0", "1.0~rc1", "1:0.1", "1.0-0", "1.0+b1", "0.9"]
    ordered = [str(v) for v in sorted(map(Version, versions))]
    assert ordered == ["0.9", "1.0~rc1", "1.0", "1.0-0", "1.0+b1", "1:0.1"]
    assert Version("1.0") == Version("1.0-0")
    assert hash(Version("1.0")) == hash(Version("1.0-0"))
    assert len({Version("1.00"), Version("1.0"), Version("0:1.0")}) == 1


@pytest.mark.parametrize(
    ("version", "op", "ref", "expected"),
    [
        ("1.0", "<<", "1.1", True),
        ("1.1", "<<", "1.1", False),
        ("1.1", "<=", "1.1", True),
        ("1.1", "=", "1.1-0", True),
        ("1.1~1", ">=", "1.1", False),
        ("1.2", ">>", "1.1", True),
        ("1.1", ">>", "1.1", False),
        ("1.1", "<", "1.1", True),  # deprecated form of <=
        ("1.1", ">", "1.1", True),  # deprecated form of >=
    ],
)
def test_satisfies(version: str, op: str, ref: str, expected: bool) -> None:
    assert satisfies(version, op, ref) is expected


def test_satisfies_rejects_an_unknown_operator() -> None:
    with pytest.raises(ResolveError, match="unknown version operator"):
        satisfies("1.0", "!=", "1.0")


def test_is_valid_version() -> None:
    assert is_valid_version("1:2.3-4")
    assert is_valid_version("2.36-9+deb12u1")
    assert not is_valid_version("a1.0")
    assert not is_valid_version("x:1.0")
    assert not is_valid_version("1.0 2")
    assert not is_valid_version("")


# --- property test against dpkg -------------------------------------------------

_TOKENS = [
    "0",
    "1",
    "2",
    "9",
    "00",
    "10",
    "123",
    "a",
    "b",
    "z",
    "A",
    "Z",
    ".",
    "+",
    "~",
    "~~",
    "rc",
    "deb12u",
    "dfsg",
    "+b",
    "~bpo",
]


def _part(first_digit: bool) -> st.SearchStrategy[str]:
    tokens = st.lists(st.sampled_from(_TOKENS), max_size=6).map("".join)
    if first_digit:
        return st.tuples(st.sampled_from("0123456789"), tokens).map("".join)
    return tokens.filter(lambda t: bool(t) and "-" not in t)


_version = st.builds(
    lambda epoch, upstream, revision: f"{epoch}{upstream}{revision}",
    st.sampled_from(["", "", "", "0:", "1:", "2:", "10:"]),
    _part(first_digit=True),
    st.one_of(st.just(""), _part(first_digit=False).map(lambda r: f"-{r}")),
)


@st.composite
def _pair(draw: st.DrawFn) -> tuple[str, str]:
    a = draw(_version)
    how = draw(st.sampled_from(["independent", "suffix", "same"]))
    if how == "suffix":
        # Near-equal versions are where orderings disagree, so make many of them.
        suffix = draw(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=3).map("".join))
        return a, a + suffix
    if how == "same":
        return a, a
    return a, draw(_version)


def _dpkg_compare(pairs: list[tuple[str, str]]) -> list[int]:
    """Ask dpkg for each pair's ordering, in one shell so thousands stay fast."""
    lines = [
        f"if dpkg --compare-versions '{a}' lt '{b}'; then echo -1; "
        f"elif dpkg --compare-versions '{a}' eq '{b}'; then echo 0; else echo 1; fi"
        for a, b in pairs
    ]
    out = subprocess.run(
        ["sh", "-s"], input="\n".join(lines), capture_output=True, text=True, check=True
    ).stdout
    return [int(x) for x in out.split()]


@functools.cache
def _have_dpkg() -> bool:
    return shutil.which("dpkg") is not None


@pytest.mark.skipif(not _have_dpkg(), reason="needs dpkg")
@settings(max_examples=25, deadline=None)
@given(st.lists(_pair(), min_size=150, max_size=150))
def test_agrees_with_dpkg(pairs: list[tuple[str, str]]) -> None:
    assert all(is_valid_version(a) and is_valid_version(b) for a, b in pairs)
    ours = [compare_versions(a, b) for a, b in pairs]
    theirs = _dpkg_compare(pairs)
    mismatches = [(a, b, o, t) for (a, b), o, t in zip(pairs, ours, theirs, strict=True) if o != t]
    assert not mismatches
