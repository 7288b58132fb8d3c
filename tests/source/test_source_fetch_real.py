"""`source fetch` on the real Debian mirror: python3's sqlite3 library, trixie.

libsqlite3-0 is in the python3 preset (Python's `sqlite3` module links it); its
source is fetched by the binary's name from the signed trixie Sources indexes,
verified and unpacked with dpkg-source.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hardbase.source.fetch import fetch_source, release_entries


@pytest.mark.archive
@pytest.mark.slow
def test_fetches_sqlite3_of_trixie_from_the_signed_mirror(tmp_path: Path) -> None:
    fetched = fetch_source(
        "libsqlite3-0", tmp_path / "out", entries=release_entries("trixie"),
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert fetched.name == "sqlite3" and fetched.suite.startswith("trixie")
    assert fetched.release.uri.startswith("http://deb.debian.org/")
    changelog = (fetched.tree / "debian" / "changelog").read_text()
    assert changelog.startswith(f"sqlite3 ({fetched.version})")
    assert (fetched.tree / "debian" / "patches" / "series").is_file()
    assert (fetched.tree / "src" / "sqlite.h.in").is_file()
    assert any(f.name.endswith(".orig.tar.xz") for f in fetched.files)
    for file in fetched.files:
        assert hashlib.sha256(fetched.path(file).read_bytes()).hexdigest() == file.sha256
