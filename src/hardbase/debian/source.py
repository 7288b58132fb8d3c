"""Reading `debian/changelog` out of a source package's tarball.

A `3.0 (quilt)` source keeps its packaging in `NAME_VERSION.debian.tar.*`, with
the changelog at `debian/changelog`; a native source has one `NAME_VERSION.tar.*`
whose top directory holds `debian/changelog`. Both are read as checked streams
(hardbase.debian.deb), so a corrupt or hostile tarball gives an ArchiveError.
"""

from __future__ import annotations

from pathlib import Path

from hardbase.debian.deb import open_tarball
from hardbase.errors import ArchiveError

MAX_CHANGELOG = 64 << 20  # uncompressed
MAX_EXPANDED = 4 << 30  # what a source tarball may expand to while it is searched


def changelog_from_tarball(path: Path, *, native: bool) -> bytes | None:
    """The bytes of `debian/changelog` in the tarball at `path`, None when it has none.

    `native` says the tarball is a whole source tree (`TOP/debian/changelog`).
    """
    with open_tarball(path, MAX_EXPANDED) as tar:
        for member in tar:
            parts = member.name.removeprefix("./").split("/")
            if native:
                parts = parts[1:]
            if parts != ["debian", "changelog"]:
                continue
            if not member.isfile():
                raise ArchiveError(f"debian/changelog in {path} is not a regular file")
            if member.size > MAX_CHANGELOG:
                raise ArchiveError(
                    f"debian/changelog in {path} is {member.size} bytes, over the "
                    f"{MAX_CHANGELOG} byte limit"
                )
            extracted = tar.extractfile(member)
            if extracted is None:  # pragma: no cover - isfile() was checked
                return None
            return extracted.read()
    return None
