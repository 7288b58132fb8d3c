"""JSON from outside (image configs, index.json, manifests, package.json, feeds, lock files).

`json.loads` recurses once per level of nesting, so `[[[[…]]]]` a hundred
thousand deep raises RecursionError, which no `except ValueError` catches and
which escapes as a traceback. `loads` turns that into a ValueError, and also
refuses documents nested deeper than `MAX_DEPTH`, so code that later walks or
re-serialises a parsed document cannot hit the recursion limit either. Real
documents of these kinds nest fewer than 20 levels.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 100

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


class TooDeep(ValueError):
    """A JSON document nests deeper than hardbase reads (a ValueError, as bad JSON is)."""


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads(data)`, raising ValueError (never RecursionError) for too deep nesting."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels") from None
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > max_depth and nests_deeper(raw, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return doc


def nests_deeper(raw: bytes, limit: int) -> bool:
    """Whether the (valid) JSON text `raw` nests lists and objects more than `limit` deep.

    Strings are cut out, then only brackets are kept and each pass removes the
    innermost pairs; all in C, about 40 ms per MB, with no recursion.
    """
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    return bool(brackets)
