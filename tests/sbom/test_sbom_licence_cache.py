"""The licence cache (sbom/licensecache.py): a copyright file parsed once is answered from
the cache by its sha256; a corrupted, misfiled or malformed entry is ignored and
rewritten from the parse."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from sbom_support import COPYRIGHT

from hardbase.sbom import licensecache
from hardbase.sbom.licenses import PackageLicenses, parse_copyright

FILES = sorted(COPYRIGHT.iterdir())


def _entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


def _same(a: PackageLicenses, b: PackageLicenses) -> bool:
    return (a.licenses, a.texts, a.machine_readable) == (b.licenses, b.texts, b.machine_readable)


def test_a_parsed_file_is_answered_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parse = licensecache.cached_parser(tmp_path)
    expected = {path.name: parse_copyright(path.read_bytes()) for path in FILES}
    for path in FILES:
        assert _same(parse(path.read_bytes()), expected[path.name])
    assert len(_entries(tmp_path)) == len(FILES)
    assert any(e.texts for e in expected.values())  # LicenseRef texts are kept too

    def no_parse(data: bytes | str) -> PackageLicenses:
        raise AssertionError("parsed again")

    monkeypatch.setattr(licensecache, "parse_copyright", no_parse)
    again = licensecache.cached_parser(tmp_path)
    for path in FILES:
        assert _same(again(path.read_bytes()), expected[path.name])


@pytest.mark.parametrize("damage", ["flip", "truncate", "other-file", "malformed"])
def test_a_bad_entry_is_ignored_and_rewritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    first, second = FILES[0].read_bytes(), FILES[1].read_bytes()
    parse = licensecache.cached_parser(tmp_path)
    parse(first)
    parse(second)
    entry = next(e for e in _entries(tmp_path) if e.stem == hashlib.sha256(first).hexdigest())
    good = entry.read_bytes()
    if damage == "flip":
        entry.write_bytes(good.replace(b'"licenses": [', b'"licenses": ["MIT", ', 1))
    elif damage == "truncate":
        entry.write_bytes(good[: len(good) // 2])
    elif damage == "other-file":
        other = next(e for e in _entries(tmp_path) if e != entry)
        entry.write_bytes(other.read_bytes())
    else:
        doc = json.loads(good)
        doc.pop("check")
        doc["licenses"] = [1, 2]
        doc["check"] = licensecache._check(doc)
        entry.write_text(json.dumps(doc))
    caplog.set_level(logging.WARNING)
    assert _same(parse(first), parse_copyright(first))
    assert any("ignoring the licence cache entry" in r.getMessage() for r in caplog.records)
    assert entry.read_bytes() == good
