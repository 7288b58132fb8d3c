"""`read_cache_entry`: a cache entry that is missing, unreadable, too large or damaged is
no entry (None), with a warning for all but the missing one; a good one is decoded."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hardbase.util.fs import read_cache_entry


def decode(data: bytes) -> dict[str, int]:
    doc = json.loads(data)
    return {"value": doc["value"]}


def read(path: Path, limit: int = 64) -> dict[str, int] | None:
    return read_cache_entry(path, limit, decode, cache="fixture", instead="computing it")


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_good_entry_is_decoded_and_a_missing_one_is_none_in_silence(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = tmp_path / "entry.json"
    entry.write_text('{"value": 7}')
    assert read(entry) == {"value": 7}
    assert read(tmp_path / "absent.json") is None
    assert warnings(caplog) == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"value": 7', "Expecting"),  # truncated: json's own error
        (b'{"other": 1}', "'value'"),  # KeyError: a field is missing
        (b"[1, 2]", "list indices"),  # TypeError: not an object
        (b'{"value": ' + b" " * 80 + b"7}", "larger than 64 bytes"),
    ],
    ids=["truncated", "missing-field", "wrong-type", "too-large"],
)
def test_a_damaged_entry_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, why: str
) -> None:
    entry = tmp_path / "entry.json"
    entry.write_bytes(content)
    assert read(entry) is None
    [message] = warnings(caplog)
    assert message.startswith(f"ignoring the fixture cache entry {entry}: ")
    assert why in message and message.endswith("; computing it again")


def test_an_unreadable_entry_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = tmp_path / "entry.json"
    entry.mkdir()  # a directory where the entry should be: open() fails for real
    assert read(entry) is None
    [message] = warnings(caplog)
    assert message == f"cannot read the fixture cache entry {entry} (Is a directory); computing it"


def test_an_error_the_decoder_does_not_declare_is_not_swallowed(tmp_path: Path) -> None:
    entry = tmp_path / "entry.json"
    entry.write_text('{"value": 7}')

    def broken(data: bytes) -> None:
        raise RuntimeError("a bug in the decoder")

    with pytest.raises(RuntimeError, match="a bug"):
        read_cache_entry(entry, 64, broken, cache="fixture", instead="computing it")
