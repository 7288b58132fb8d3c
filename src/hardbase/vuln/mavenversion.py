"""Maven's version ordering (`ComparableVersion` of Maven 3), which OSV's Maven ranges use.

A version splits into items at `.` and `-` and at every change between digits
and letters; `-` (and a letter-digit change) opens a sub-list. Numbers compare
numerically and beat qualifiers; known qualifiers order
alpha < beta < milestone < rc < snapshot < "" (ga, final, release) < sp, and
other qualifiers sort after them alphabetically. Trailing zeros and empty
qualifiers do not count: 1.0 == 1 == 1.0.0-ga.
"""

from __future__ import annotations

import functools
from typing import Union

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE = _QUALIFIERS.index("")

Item = Union[int, str, "list[Item]"]
Frozen = Union[int, str, "tuple[Frozen, ...]"]  # an Item as parse() returns it


def _string_key(text: str) -> tuple[int, str]:
    index = _QUALIFIERS.index(text) if text in _QUALIFIERS else len(_QUALIFIERS)
    return (index, "" if index < len(_QUALIFIERS) else text)


def _qualifier(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and len(text) == 1:
        text = {"a": "alpha", "b": "beta", "m": "milestone"}.get(text, text)
    return _ALIASES.get(text, text)


@functools.lru_cache(maxsize=65536)
def parse(version: str) -> tuple[Frozen, ...]:
    root: list[Item] = []
    current = root
    stack = [root]
    token = ""
    digit = False

    def close(next_is_digit: bool) -> None:
        nonlocal token
        if token == "":
            current.append(0)
        elif digit:
            current.append(int(token))
        else:
            current.append(_qualifier(token, next_is_digit))
        token = ""

    def open_sub() -> None:
        nonlocal current
        sub: list[Item] = []
        current.append(sub)
        current = sub
        stack.append(sub)

    text = version.strip().lower()
    for c in text:
        if c == ".":
            close(False)
            digit = False
        elif c == "-":
            close(False)
            open_sub()
            digit = False
        else:
            is_digit = c.isdigit()
            if token and is_digit != digit:
                # a change between digits and letters separates, and opens a sub-list
                close(is_digit)
                open_sub()
            token += c
            digit = is_digit
    if token:
        close(False)
    for items in reversed(stack):
        _normalize(items)
    return _freeze(root)


def _normalize(items: list[Item]) -> None:
    # From the end, "null" items (0, "", empty sub-lists) are dropped, stepping over
    # sub-lists, up to the first other number or qualifier: 1.0-1 is 1-1, as in Maven.
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if item == 0 or item == "" or (isinstance(item, list) and not item):
            del items[i]
        elif not isinstance(item, list):
            break


def _freeze(items: list[Item]) -> tuple[Frozen, ...]:
    return tuple(_freeze(i) if isinstance(i, list) else i for i in items)


def _compare_item(a: Frozen | None, b: Frozen | None) -> int:
    if a is None and b is None:
        return 0
    if a is None:
        return -_compare_item(b, None)
    if isinstance(a, int):
        if b is None:
            return (a > 0) - (a < 0)
        if isinstance(b, int):
            return (a > b) - (a < b)
        return 1  # a number beats a qualifier and a sub-list
    if isinstance(a, str):
        if b is None:
            ka, kb = _string_key(a), (_RELEASE, "")
        elif isinstance(b, str):
            ka, kb = _string_key(a), _string_key(b)
        else:
            return -1  # a qualifier is lower than a number or a sub-list
        return (ka > kb) - (ka < kb)
    if b is None:
        return _compare_item(a[0], None) if a else 0
    if isinstance(b, int):
        return -1
    if isinstance(b, str):
        return 1
    for i in range(max(len(a), len(b))):
        result = _compare_item(a[i] if i < len(a) else None, b[i] if i < len(b) else None)
        if result:
            return result
    return 0


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as Maven version `a` is lower, equal or higher than `b`."""
    return _compare_item(parse(a), parse(b))
