"""Deb822 paragraphs of dpkg's database and of control files: the one tolerant parser.

The image inventory (`var/lib/dpkg/status`, distroless `status.d/*`), patch-image's
database rewrite, the build root's installed-package check and the DEP-5 copyright
files of the SBOM all read paragraphs through `parse_control`. It is written by hand
because python-debian's parser is about ten times slower on exactly these files.
Measured with `timeit` (best of 7, CPU time, 2 shared cores, Python 3.11, python-debian
1.1.1, both producing a list of dicts): a real `/var/lib/dpkg/status` (680 KiB, 767
paragraphs) in 20 ms here against 194 ms for `Deb822.iter_paragraphs(text,
use_apt_pkg=False)`; the 45 `status.d` files of the trixie java image in 0.9 ms against
10.9 ms. The fields are the same (tests/debian compares them on this machine's status
file) but for one thing: python-debian keeps the leading space of each continuation
line, which dpkg itself drops and so does this parser. (Indexes of the archive, which
must be well-formed, have their own strict parser in `debian.index`.)
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(r"\n[ \t]*\n")


def parse_control(text: str) -> list[dict[str, str]]:
    """The paragraphs of `text` as dicts; field names as written, values stripped.

    A continuation line loses its first character (the space or tab that marks it), so
    a multi-line value reads `first\\nsecond`. Comment lines (`#` in the first column)
    are skipped, as deb822(5) says; other lines that are neither a field nor a
    continuation are malformed: dpkg would refuse them, this parser ignores them.
    """
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, ""
        elif line[0] in " \t":
            if key:
                current[key] += "\n" + line[1:]
        elif line[0] == "#":
            continue
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            current[key] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def parse_fields(paragraph: str) -> dict[str, str]:
    """The fields of one paragraph (the first, if `paragraph` holds several)."""
    found = parse_control(paragraph)
    return found[0] if found else {}


def split_paragraphs(text: str) -> list[str]:
    """The text of each paragraph as written, for a caller that rewrites one in place."""
    return [p for p in _SEPARATOR.split(text.strip("\n")) if p.strip()]
