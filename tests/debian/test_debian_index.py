"""Packages parsing and the package index."""

from __future__ import annotations

import pytest

from hardbase.debian.index import PackageIndex, Relation, parse_packages, parse_relations
from hardbase.errors import ArchiveError

PACKAGES = """\
Package: libpython3.13-minimal
Source: python3.13 (3.13.5-2)
Version: 3.13.5-2+b1
Installed-Size: 5200
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.14), libssl3t64 (>= 3.4.0)
Description: Minimal subset of the Python language
Description-md5: 0123
Tag: devel::lang:python,
 role::shared-lib
Filename: pool/main/p/python3.13/libpython3.13-minimal_3.13.5-2+b1_amd64.deb
Size: 123
SHA256: {sha}

Package: mawk
Version: 1.3.4.20250131-1
Architecture: amd64
Provides: awk
Filename: pool/main/m/mawk/mawk_1.3.4.20250131-1_amd64.deb
Size: 10
SHA256: {sha}

Package: base-files
Version: 13.8
Architecture: amd64
Essential: yes
Pre-Depends: awk
Provides: base, usr-is-merged (= 13.8)
Filename: pool/main/b/base-files/base-files_13.8_amd64.deb
Size: 10
SHA256: {sha}
""".format(sha="a" * 64)


def test_parse_packages() -> None:
    packages = list(parse_packages(PACKAGES, base_uri="http://m/debian", suite="trixie"))
    lib, mawk, base = packages
    assert (lib.name, lib.version, lib.source, lib.source_version) == (
        "libpython3.13-minimal", "3.13.5-2+b1", "python3.13", "3.13.5-2",
    )  # fmt: skip
    assert lib.multi_arch == "same" and lib.depends.startswith("libc6 (>= 2.14)")
    assert lib.extra["Installed-Size"] == "5200" and "Tag" not in lib.extra
    assert lib.url == "http://m/debian/pool/main/p/python3.13/" + lib.filename.rsplit("/")[-1]
    assert (mawk.source, mawk.source_version) == ("mawk", "1.3.4.20250131-1")
    assert base.essential and base.pre_depends == "awk"


def test_malformed_paragraphs_are_archive_errors() -> None:
    with pytest.raises(ArchiveError, match="lacks the field"):
        list(parse_packages("Package: x\nVersion: 1\n", base_uri="u", suite="s"))
    unsafe = PACKAGES.replace("pool/main/m/mawk/", "../../etc/")
    with pytest.raises(ArchiveError, match="unsafe Filename"):
        list(parse_packages(unsafe, base_uri="u", suite="s"))


def test_index_candidates_and_providers() -> None:
    index = PackageIndex(parse_packages(PACKAGES, base_uri="u", suite="trixie"))
    index.extend(parse_packages(
        PACKAGES.replace("13.8", "13.8+deb13u1"), base_uri="u", suite="trixie-security"
    ))  # fmt: skip
    assert len(index) == 4  # identical mawk and libpython paragraphs are kept once
    assert index.suites == ("trixie", "trixie-security")
    assert [p.version for p in index.candidates("base-files", "amd64")] == [
        "13.8+deb13u1", "13.8",
    ]  # fmt: skip
    assert index.candidates("base-files", "arm64") == []
    assert [(p.name, v) for p, v in index.providers("awk", "amd64")] == [("mawk", None)]
    assert [(p.version, v) for p, v in index.providers("usr-is-merged", "amd64")] == [
        ("13.8+deb13u1", "13.8+deb13u1"), ("13.8", "13.8"),
    ]  # fmt: skip
    assert [p.name for p in index.packages()] == [
        "base-files", "base-files", "libpython3.13-minimal", "mawk",
    ]  # fmt: skip
    assert "mawk" in index and "gawk" not in index


def test_parse_relations() -> None:
    assert parse_relations("a (>= 1.0) | b:any, c [amd64 !i386] <!nocheck>, d (<< 2~)") == (
        (Relation("a", None, ">=", "1.0"), Relation("b", "any")),
        (Relation("c", restrictions=("amd64", "!i386")),),
        (Relation("d", None, "<<", "2~"),),
    )
    assert str(parse_relations("libc6:amd64 (>= 2.36)")[0][0]) == "libc6:amd64 (>= 2.36)"
    with pytest.raises(ArchiveError, match="cannot parse the relation"):
        parse_relations("a (>= 1.0")
