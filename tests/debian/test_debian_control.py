"""The one deb822 paragraph parser: python-debian's Deb822 is the oracle on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from debian.deb822 import Deb822

from hardbase.debian.control import parse_control, parse_fields, split_paragraphs

STATUS = Path("/var/lib/dpkg/status")


def _oracle(text: str) -> list[dict[str, str]]:
    """python-debian's paragraphs, with the continuation lines' marker dropped as dpkg does."""
    out = []
    for paragraph in Deb822.iter_paragraphs(text, use_apt_pkg=False):
        fields = {}
        for key, value in paragraph.items():
            first, *rest = value.split("\n")
            fields[key] = "\n".join([first, *(line[1:] for line in rest)])
        out.append(fields)
    return out


@pytest.mark.skipif(not STATUS.is_file(), reason="no dpkg status file on this machine")
def test_a_real_status_file_reads_as_python_debian_reads_it() -> None:
    text = STATUS.read_text(encoding="utf-8", errors="replace")
    ours = parse_control(text)
    assert ours == _oracle(text)
    assert len(ours) == len(split_paragraphs(text))
    assert [parse_fields(p) for p in split_paragraphs(text)] == ours


def test_fields_continuations_comments_and_malformed_lines() -> None:
    # a fixture paragraph set, written here
    text = (
        "# a comment: not a field\n"
        "Package: a\n"
        "Version: 1.0-1\n"
        "Description: short\n"
        " long line\n"
        " .\n"
        "\tindented by a tab\n"
        "# Comment-Like: skipped\n"
        " still the description\n"
        "a malformed line without a colon\n"
        "Status: install ok installed\n"
        "   \n"
        "Package: b\n"
        "\n\n\n"
    )
    first, second = parse_control(text)
    assert first == {
        "Package": "a",
        "Version": "1.0-1",
        "Description": "short\nlong line\n.\nindented by a tab\nstill the description",
        "Status": "install ok installed",
    }
    assert second == {"Package": "b"}
    raw = split_paragraphs(text)
    assert len(raw) == 2 and raw[1] == "Package: b"
    assert raw[0].startswith("# a comment") and raw[0].endswith("Status: install ok installed")
    assert parse_fields("") == {} and parse_control("") == []
    assert parse_fields("Package: x\n\nPackage: y\n") == {"Package": "x"}


def test_a_continuation_before_any_field_is_ignored() -> None:
    assert parse_control(" orphan\nPackage: a\n") == [{"Package": "a"}]
