"""Debian copyright files and package metadata to SPDX license expressions."""

from __future__ import annotations

import glob
import logging
from pathlib import Path

import pytest
from debian.copyright import Copyright, NotMachineReadableError
from license_expression import get_spdx_licensing
from sbom_support import COPYRIGHT

from hardbase.sbom.licenses import (
    combine,
    dep5_expression,
    is_dep5,
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


def test_a_malformed_dep5_file_is_still_read_as_dep5_and_warns_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = (COPYRIGHT / "dep5-malformed").read_bytes()
    # python-debian's parser refuses the whole file (the line that is no field), so it
    # is not the parser here; the file's licences are read all the same
    with pytest.raises(NotMachineReadableError):
        Copyright(data.decode().splitlines())
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        result = parse_copyright(data)
        assert parse_copyright(data.replace(b"\n", b"\r\n")) == result
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert result.machine_readable
    assert result.licenses == (
        "(LicenseRef-Frobnicate-Custom OR MIT) AND LicenseRef-public-domain",
        "Apache-2.0 WITH LLVM-exception",
        "GPL-2.0-or-later AND LicenseRef-OpenSSL-exception",
        "ISC",
    )
    # the text goes on past the line that is no field; a tab marks a continuation too;
    # "# ..." inside a text is text; ", and X" gives X's text as well
    assert result.texts == {
        "LicenseRef-Frobnicate-Custom": "Permission to frobnicate this software is granted.\n"
        "and this continuation is indented by a tab.\n\n# not a comment: inside the text",
        "LicenseRef-public-domain": "The files are in the public domain.",
    }


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        # ScanCode's alias would make an unversioned "Apache" Apache-2.0: it stays a ref
        ("Apache", "LicenseRef-Apache"),
        ("Apache or MIT", "LicenseRef-Apache OR MIT"),
        ("((( or and with exception", "LicenseRef-unknown OR LicenseRef-and-with-exception"),
        ("MIT or", "LicenseRef-MIT-or"),
        (
            "GPL-2+ with Foo exception or MIT",
            "(GPL-2.0-or-later AND LicenseRef-Foo-exception) OR MIT",
        ),
        ("A and B and C, or D", "(LicenseRef-A AND LicenseRef-B AND LicenseRef-C) OR LicenseRef-D"),
        ("LicenseRef-X with GCC exception", "LicenseRef-X-with-GCC-exception"),
        ("MIT, BSD-3-clause", "MIT AND BSD-3-Clause"),
    ],
)
def test_weird_dep5_expressions(text: str, spdx: str) -> None:
    assert dep5_expression(text) == spdx
    get_spdx_licensing().parse(spdx, validate=False, strict=True)


def test_combine_reads_expressions_as_trees() -> None:
    # (string surgery gave "MIT AND Zlib AND Zlib AND (ISC OR (X11 OR Apache-2.0))")
    nested = "MIT AND (Zlib AND (ISC OR (X11 OR Apache-2.0)))"
    assert combine([nested, "Zlib", "(MIT)"]) == "(ISC OR X11 OR Apache-2.0) AND MIT AND Zlib"
    assert combine(["GPL-2.0-only WITH Linux-syscall-note AND MIT"]) == (
        "GPL-2.0-only WITH Linux-syscall-note AND MIT"
    )
    # not an expression (only a hand-edited cache could give one): a valid ref, not "MIT AND"
    assert combine(["MIT AND"]) == "LicenseRef-MIT-AND"
    assert not is_license_ref("LicenseRef-a AND (")
    assert is_license_ref("LicenseRef-a WITH LicenseRef-b-exception")
    assert not is_license_ref("GPL-2.0-only WITH LicenseRef-b-exception")
    assert is_license_ref("(LicenseRef-a OR LicenseRef-b) AND LicenseRef-c")


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


def _debian_declared(text: str) -> list[str] | None:
    """The License synopses python-debian's Copyright reads from the header and Files
    paragraphs; None when it refuses the file."""
    try:
        parsed = Copyright(text.splitlines(), strict=True)
    except (NotMachineReadableError, ValueError):
        return None
    paragraphs = [parsed.header, *parsed.all_files_paragraphs()]
    return [p.license.synopsis for p in paragraphs if p.license and p.license.synopsis]


def test_dep5_licences_are_those_python_debian_reads(caplog: pytest.LogCaptureFixture) -> None:
    """python-debian's Copyright is the oracle (it is some 25 times slower, see the module):
    on the fixture and the 40 smallest DEP-5 files of this machine, the same synopses."""
    texts = [(COPYRIGHT / "dep5-mixed").read_text()]
    dep5 = []
    for name in SYSTEM_FILES:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if is_dep5(text):
            dep5.append(text)
    texts += sorted(dep5, key=len)[:40]
    compared = 0
    with caplog.at_level(logging.ERROR, logger="debian"):  # its "Fixing Format URL"
        for text in texts:
            declared = _debian_declared(text)
            if declared is None:
                continue
            compared += 1
            ours = parse_copyright(text)
            assert ours.licenses == tuple(sorted({dep5_expression(s) for s in declared}))
    assert compared >= 1
