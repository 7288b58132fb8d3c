"""Debian copyright files and package metadata to SPDX license expressions."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from license_expression import get_spdx_licensing
from sbom_support import COPYRIGHT

from hardbase.sbom.licenses import (
    combine,
    dep5_expression,
    is_license_ref,
    license_ref,
    normalize_declared,
    parse_copyright,
)


@pytest.mark.parametrize(
    ("debian", "spdx"),
    [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-3.0+", "GPL-3.0-or-later"),
        ("GPL", "GPL-1.0-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("LGPL-2.1", "LGPL-2.1-only"),
        ("LGPL-3", "LGPL-3.0-only"),
        ("AGPL-3+", "AGPL-3.0-or-later"),
        ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
        ("BSD-2-clause", "BSD-2-Clause"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("BSD-4-clause", "BSD-4-Clause"),
        ("Expat", "MIT"),
        ("MIT/X11", "MIT"),
        ("Apache-2.0", "Apache-2.0"),
        ("Apache-2", "Apache-2.0"),
        ("MPL-2.0", "MPL-2.0"),
        ("PSF-2", "Python-2.0"),
        ("public-domain", "LicenseRef-public-domain"),
        ("Zlib", "Zlib"),
        ("zlib", "Zlib"),
        ("CC0", "CC0-1.0"),
        ("ISC", "ISC"),
        ("curl", "curl"),
        ("OpenLDAP-2.8", "OLDAP-2.8"),
        ("Artistic", "Artistic-1.0-Perl"),
        ("Artistic-2.0", "Artistic-2.0"),
        ("BSL-1.0", "BSL-1.0"),
        ("Perl", "Artistic-1.0-Perl OR GPL-1.0-or-later"),
        ("GPL-1+ or Artistic", "GPL-1.0-or-later OR Artistic-1.0-Perl"),
        ("LGPL-3+ or GPL-2+", "LGPL-3.0-or-later OR GPL-2.0-or-later"),
        ("Apache-2.0 and MPL-2.0", "Apache-2.0 AND MPL-2.0"),
        ("MIT or GPL-2+ and BSD-2-clause", "MIT OR (GPL-2.0-or-later AND BSD-2-Clause)"),
        ("MIT or GPL-2+, and BSD-2-clause", "(MIT OR GPL-2.0-or-later) AND BSD-2-Clause"),
        ("GPL-2+ with Autoconf exception", "GPL-2.0-or-later WITH Autoconf-exception-2.0"),
        ("GPL-3+ with Autoconf exception", "GPL-3.0-or-later WITH Autoconf-exception-3.0"),
        ("GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"),
        ("GPL-2+ with Libtool exception", "GPL-2.0-or-later WITH Libtool-exception"),
        ("GPL-3+ with GCC-Runtime-3.1 exception", "GPL-3.0-or-later WITH GCC-exception-3.1"),
        ("GPL-2 with Linux-syscall-note exception", "GPL-2.0-only WITH Linux-syscall-note"),
        ("Apache-2.0 with LLVM exception", "Apache-2.0 WITH LLVM-exception"),
        ("GPL-2+ with OpenSSL exception", "GPL-2.0-or-later AND LicenseRef-OpenSSL-exception"),
        ("Frobnicate-Custom", "LicenseRef-Frobnicate-Custom"),
        ("odd name/v2", "LicenseRef-odd-name-v2"),
    ],
)
def test_dep5_short_names(debian: str, spdx: str) -> None:
    assert dep5_expression(debian) == spdx


def test_license_ref_is_sanitised() -> None:
    assert license_ref("foo bar+") == "LicenseRef-foo-bar-plus"
    assert license_ref("LicenseRef-x") == "LicenseRef-x"
    assert license_ref("???") == "LicenseRef-unknown"
    assert is_license_ref("LicenseRef-a AND LicenseRef-b")
    assert not is_license_ref("MIT AND LicenseRef-b")


def test_combine_deduplicates_and_keeps_precedence() -> None:
    combined = combine(["MIT", "GPL-2.0-or-later OR Artistic-1.0-Perl", "MIT AND Zlib"])
    assert combined == "(GPL-2.0-or-later OR Artistic-1.0-Perl) AND MIT AND Zlib"
    assert combine([]) is None
    assert combine(["MIT"]) == "MIT"


def test_parse_dep5_fixture() -> None:
    result = parse_copyright((COPYRIGHT / "dep5-mixed").read_bytes())
    assert result.machine_readable
    assert result.licenses == tuple(sorted(result.licenses))
    assert set(result.licenses) == {
        "GPL-2.0-or-later",
        "LGPL-2.1-or-later",
        "BSD-3-Clause",
        "MIT",
        "Python-2.0",
        "LicenseRef-public-domain",
        "GPL-1.0-or-later OR Artistic-1.0-Perl",
        "GPL-3.0-or-later WITH Autoconf-exception-3.0",
        "Apache-2.0 AND MPL-2.0",
        "(MIT OR GPL-2.0-or-later) AND BSD-2-Clause",
        "LicenseRef-Frobnicate-Custom",
    }
    # stand-alone License paragraphs give texts only; the unused one adds no license
    assert not any("Unused" in e for e in result.licenses)
    assert "frobnicate this software" in result.texts["LicenseRef-Frobnicate-Custom"]
    assert "public domain" in result.texts["LicenseRef-public-domain"]
    assert result.expression is not None
    get_spdx_licensing().parse(result.expression, validate=False, strict=True)


def test_free_form_files() -> None:
    gpl = parse_copyright((COPYRIGHT / "free-form-gpl").read_bytes())
    assert not gpl.machine_readable
    assert gpl.licenses == ("GPL-2.0-or-later", "MIT")
    bsd = parse_copyright((COPYRIGHT / "free-form-bsd").read_text())
    assert bsd.licenses == ("BSD-3-Clause",)
    assert parse_copyright(b"nothing to see here").licenses == ()
    assert parse_copyright(b"").expression is None


def test_hostile_or_broken_input_does_not_raise() -> None:
    broken = (
        b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        b"\xff\xfe garbage line without colon\n\nFiles: *\nLicense:\n\nFiles: a\n"
        b"License: ((( or and with exception\n\n License: orphan continuation\n"
    )
    result = parse_copyright(broken)
    assert result.machine_readable
    for expression in result.licenses:
        get_spdx_licensing().parse(expression, validate=False, strict=True)


def test_normalize_declared_metadata() -> None:
    assert normalize_declared(["MIT"]) == ("MIT",)
    assert normalize_declared(["mit"]) == ("MIT",)
    assert normalize_declared(["(MIT OR Apache-2.0)"]) == ("MIT OR Apache-2.0",)
    assert normalize_declared(["License :: OSI Approved :: MIT License"]) == ("MIT",)
    assert normalize_declared(["License :: OSI Approved :: BSD License"]) == ("LicenseRef-BSD",)
    assert normalize_declared(["License :: OSI Approved"]) == ()
    assert normalize_declared(["Apache License, Version 2.0"]) == ("Apache-2.0",)
    assert normalize_declared(["GPLv2+"]) == ("GPL-2.0-or-later",)
    assert normalize_declared(["new BSD License"]) == ("BSD-3-Clause",)
    assert normalize_declared(["UNKNOWN", ""]) == ()
    assert normalize_declared(["Some Proprietary Terms"]) == ("LicenseRef-Some-Proprietary-Terms",)


SYSTEM_FILES = sorted(glob.glob("/usr/share/doc/*/copyright"))


@pytest.mark.skipif(not SYSTEM_FILES, reason="no /usr/share/doc/*/copyright on this machine")
def test_every_copyright_file_on_this_machine() -> None:
    licensing = get_spdx_licensing()
    dep5 = mapped = 0
    for name in SYSTEM_FILES:
        try:
            data = Path(name).read_bytes()
        except OSError:
            continue
        result = parse_copyright(data)
        for expression in result.licenses:
            licensing.parse(expression, validate=False, strict=True)
        if result.machine_readable:
            dep5 += 1
            mapped += any(not is_license_ref(e) for e in result.licenses)
    if dep5:
        assert mapped / dep5 >= 0.95, f"only {mapped} of {dep5} DEP-5 files map to SPDX ids"
