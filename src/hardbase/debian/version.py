"""Debian version ordering, exactly as `dpkg --compare-versions` orders versions.

A version is `[epoch:]upstream[-revision]`. Epochs compare as integers; upstream
and revision compare by dpkg's `verrevcmp`: alternating runs of non-digits
(character by character, `~` before the end of the string, the end before
letters, letters before everything else) and digits (as integers).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from hardbase.errors import ResolveError

# One run of a version part: the non-digit run as weights (closed by a 0 that
# stands for "end of run"), then the digit run as an integer.
_Run = tuple[tuple[int, ...], int]
_Parsed = tuple[int, tuple[_Run, ...], tuple[_Run, ...]]

# What a part that has run out of characters compares as: an empty non-digit
# run and the number 0.
_END: _Run = ((0,), 0)

_RUN = re.compile(r"([^0-9]*)([0-9]*)")
_VALID = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$")

OPERATORS = ("<<", "<=", "=", ">=", ">>")


def _weight(char: str) -> int:
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


@functools.lru_cache(maxsize=4096)
def _nondigit_weights(text: str) -> tuple[int, ...]:
    return (*(_weight(c) for c in text), 0)


def _runs(part: str) -> tuple[_Run, ...]:
    runs: list[_Run] = []
    for match in _RUN.finditer(part):
        letters, digits = match.group(1), match.group(2)
        if not letters and not digits:
            continue  # the empty match at the end
        runs.append((_nondigit_weights(letters), int(digits) if digits else 0))
    return tuple(runs)


@functools.lru_cache(maxsize=65536)
def _parse(version: str) -> _Parsed:
    epoch = 0
    rest = version.strip()
    head, colon, tail = rest.partition(":")
    if colon and head.isdigit():
        epoch = int(head)
        rest = tail
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return epoch, _runs(upstream), _runs(revision)


def _compare_runs(a: tuple[_Run, ...], b: tuple[_Run, ...]) -> int:
    if a == b:
        return 0
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else _END
        y = b[i] if i < len(b) else _END
        if x != y:
            return -1 if x < y else 1
    return 0


def compare_versions(a: str, b: str) -> int:
    """Return -1, 0 or 1 as version `a` sorts before, equal to, or after `b`."""
    if a == b:
        return 0
    pa, pb = _parse(a), _parse(b)
    if pa[0] != pb[0]:
        return -1 if pa[0] < pb[0] else 1
    return _compare_runs(pa[1], pb[1]) or _compare_runs(pa[2], pb[2])


def is_valid_version(version: str) -> bool:
    """Whether `version` is well formed by dpkg's rules (digit first, allowed characters)."""
    epoch, colon, rest = version.partition(":")
    if colon and not epoch.isdigit():
        return False
    if not colon:
        rest = version
    upstream = rest.rpartition("-")[0] if "-" in rest else rest
    return bool(_VALID.match(version)) and bool(upstream) and upstream[0].isdigit()


class Version:
    """A version that sorts by dpkg ordering: `sorted(versions, key=Version)`."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return compare_versions(self.text, other.text) == 0

    def __lt__(self, other: Version) -> bool:
        return compare_versions(self.text, other.text) < 0

    def __le__(self, other: Version) -> bool:
        return compare_versions(self.text, other.text) <= 0

    def __gt__(self, other: Version) -> bool:
        return compare_versions(self.text, other.text) > 0

    def __ge__(self, other: Version) -> bool:
        return compare_versions(self.text, other.text) >= 0

    def __hash__(self) -> int:
        epoch, upstream, revision = _parse(self.text)
        # Trailing runs equal to _END do not change the ordering, so drop them.
        return hash((epoch, _strip_end(upstream), _strip_end(revision)))

    def __repr__(self) -> str:
        return f"Version({self.text!r})"

    def __str__(self) -> str:
        return self.text


def _strip_end(runs: tuple[_Run, ...]) -> tuple[_Run, ...]:
    end = len(runs)
    while end and runs[end - 1] == _END:
        end -= 1
    return runs[:end]


_OPS: dict[str, Callable[[int], bool]] = {
    "<<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    "=": lambda c: c == 0,
    ">=": lambda c: c >= 0,
    ">>": lambda c: c > 0,
    # The deprecated one-character forms mean "or equal" (Debian Policy 7.1).
    "<": lambda c: c <= 0,
    ">": lambda c: c >= 0,
}


def satisfies(version: str, op: str, ref: str) -> bool:
    """Whether `version OP ref` holds, for the relation operators of Debian Policy 7.1."""
    try:
        check = _OPS[op]
    except KeyError:
        raise ResolveError(
            f"unknown version operator {op!r} in '{version} {op} {ref}'; use <<, <=, =, >= or >>"
        ) from None
    return check(compare_versions(version, ref))


# -- hardbase's own uploads ------------------------------------------------------------

HB_MARK = "+hb"
_HB = re.compile(r"^(?P<base>.+)\+hb(?P<n>[1-9][0-9]*)$")
_STABLE_UPDATE = re.compile(r"[+~]deb[0-9]+u[0-9]+$")


def patched_version(debian_version: str, n: int = 1, *, release_number: str | None = None) -> str:
    """The version of hardbase's N-th rebuild of `debian_version`: `<version>+hb<N>`.

    It sorts above `debian_version` and below Debian's next upload of the same
    source: `1.2-3+deb12u3+hb1` < `1.2-3+deb12u4` (and `~deb12u1+hb1` < `~deb12u2`).
    A version that is not yet a stable update (`1.2-3`) would sort *above*
    Debian's first one (`+hb1` > `+deb12u1`, since h > d), so with the release's
    number (`release_number="12"`) it becomes `1.2-3+deb12u0+hb1`, which sorts
    below `1.2-3+deb12u1` and above a binNMU (`1.2-3+b1`), which rebuilds Debian's
    source without the fix.
    """
    if n < 1:
        raise ValueError(f"the +hb revision must be 1 or more, not {n}")
    base = debian_base(debian_version)
    if release_number is not None and not _STABLE_UPDATE.search(base):
        if not release_number.isdigit():
            raise ValueError(f"the release number {release_number!r} is not a number")
        base = f"{base}+deb{release_number}u0"
    return f"{base}{HB_MARK}{n}"


def hb_revision(version: str) -> int | None:
    """N of a `...+hb<N>` version hardbase built, None for any other version."""
    match = _HB.match(version)
    return int(match["n"]) if match else None


def debian_base(version: str) -> str:
    """`version` without hardbase's `+hb<N>` (and the `+debNNu0` it may have added)."""
    match = _HB.match(version)
    if match is None:
        return version
    base = match["base"]
    return re.sub(r"\+deb[0-9]+u0$", "", base)
