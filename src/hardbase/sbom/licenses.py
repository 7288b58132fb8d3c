"""Licenses of installed packages as SPDX license expressions.

Debian packages state their licenses in `usr/share/doc/PKG/copyright`, either
in the machine-readable DEP-5 format (Debian short names such as `GPL-2+` or
`Expat`) or as free text. `parse_copyright()` turns either into SPDX
expressions; `normalize_declared()` does the same for the license strings that
Python and npm metadata carry. Names that are not on the SPDX license list
become `LicenseRef-<name>`, with the text the copyright file gave for them.
Expressions are built, combined and inspected as license_expression trees.

A DEP-5 file's paragraphs are read by the one deb822 parser (`debian.control`), not
by python-debian's `debian.copyright.Copyright`, for two measured reasons (best of 3,
CPU time, 2 shared cores, python-debian 1.1.1). It is 7 to 40 times slower: on the
DEP-5 files of the trixie python3, nodejs and java images (21, 41 and 40 files) it
takes 156, 403 and 547 ms where `parse_control` takes 5, 10 and 75 ms, and the whole
parse of every copyright file of those images takes 100, 75 and 145 ms here, so a cold
`hardbase sbom` would be 0.15 to 0.5 s slower (the licence cache only helps a warm
one). And it refuses 13 of the 533 DEP-5 files on a Debian machine outright (a Files
paragraph without License, a duplicated field, a line that is no field), which would
drop their licences. On the 520 it accepts, and on every DEP-5 file of the three
images, both read the same License synopses (tests/sbom keeps it as the oracle).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from license_expression import (
    ExpressionError,
    LicenseExpression,
    LicenseSymbol,
    Licensing,
    get_license_index,
    get_spdx_licensing,
)

from hardbase.debian.control import parse_control

logger = logging.getLogger(__name__)

NOASSERTION = "NOASSERTION"
DEP5_FORMAT = re.compile(r"^format:\s*\S*copyright-format", re.IGNORECASE)

# Debian short names (lower case) that are not spelled as on the SPDX list.
_ALIASES: dict[str, str] = {
    "expat": "MIT",
    "mit": "MIT",
    "mit/x11": "MIT",
    "mit/x": "MIT",
    "mit-expat": "MIT",
    "x11": "X11",
    "psf": "Python-2.0",
    "psf-2": "Python-2.0",
    "psf-2.0": "Python-2.0",
    "psfl": "Python-2.0",
    "python": "Python-2.0",
    "python-2": "Python-2.0",
    "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "artistic": "Artistic-1.0-Perl",
    "artistic-1": "Artistic-1.0",
    "artistic-2": "Artistic-2.0",
    "apache-2": "Apache-2.0",
    "apache-1": "Apache-1.0",
    "apache-2-llvm-exceptions": "Apache-2.0 WITH LLVM-exception",
    "bsd-0-clause": "0BSD",
    "bsd-2": "BSD-2-Clause",
    "bsd2": "BSD-2-Clause",
    "bsd-3": "BSD-3-Clause",
    "bsd3": "BSD-3-Clause",
    "bsd-4": "BSD-4-Clause",
    "bsl": "BSL-1.0",
    "boost": "BSL-1.0",
    "boost-1.0": "BSL-1.0",
    "cc0": "CC0-1.0",
    "openldap": "OLDAP-2.8",
    "openldap-2.8": "OLDAP-2.8",
    "sil-1.1": "OFL-1.1",
    "ofl": "OFL-1.1",
    "zope": "ZPL-2.1",
    "mpl-2": "MPL-2.0",
    "mpl-1": "MPL-1.0",
    "epl-1": "EPL-1.0",
    "epl-2": "EPL-2.0",
    "edl-1": "BSD-3-Clause",  # the Eclipse Distribution License 1.0 is BSD-3-Clause
    "edl-1.0": "BSD-3-Clause",
    "unicode-dfs-2016": "Unicode-DFS-2016",
    "ftl": "FTL",
    "w3c": "W3C",
    "isc": "ISC",
    "zlib": "Zlib",
}
_PUBLIC_DOMAIN = {"public-domain", "public domain", "pd", "publicdomain"}

# Families whose Debian short name is NAME[-VERSION][+]: SPDX base, then the
# version when none is given ("GPL" alone means any version).
_VERSIONED: dict[str, tuple[str, str]] = {
    "gpl": ("GPL", "1.0"),
    "lgpl": ("LGPL", "2.0"),
    "agpl": ("AGPL", "3.0"),
    "gfdl": ("GFDL", "1.1"),
    "gfdl-niv": ("GFDL", "1.1"),
}
_VERSIONED_RE = re.compile(
    r"^(?P<family>gpl|lgpl|agpl|gfdl-niv|gfdl)[\s-]?v?(?P<version>\d+(?:\.\d+)?)?"
    r"(?P<suffix>\+|[\s-]or[\s-]later|[\s-]only)?$",
    re.IGNORECASE,
)
_PLUS_RE = re.compile(r"^(?P<base>.+?)(?:\+|-or-later)$")

# "X with Y exception": the SPDX exception id for Y, by the base license's version.
_EXCEPTIONS: dict[str, dict[str, str]] = {
    "autoconf": {"2": "Autoconf-exception-2.0", "3": "Autoconf-exception-3.0"},
    "bison": {"": "Bison-exception-2.2"},
    "libtool": {"": "Libtool-exception"},
    "font": {"": "Font-exception-2.0"},
    "gcc": {"2": "GCC-exception-2.0", "3": "GCC-exception-3.1"},
    "gcc-runtime": {"2": "GCC-exception-2.0", "3": "GCC-exception-3.1"},
    "gcc-runtime-3.1": {"": "GCC-exception-3.1"},
    "classpath": {"": "Classpath-exception-2.0"},
    "linux-syscall-note": {"": "Linux-syscall-note"},
    "syscall": {"": "Linux-syscall-note"},
    "llvm": {"": "LLVM-exception"},
    "texinfo": {"": "Texinfo-exception"},
    "qt-gpl": {"": "Qt-GPL-exception-1.0"},
}
_WITH_RE = re.compile(
    r"^(?P<base>.+?)[\s-]+with[\s-]+(?P<exc>.+?)(?:[\s-]+exceptions?)$", re.IGNORECASE
)
_DASH_EXC_RE = re.compile(
    r"^(?P<base>(?:a|l)?gpl-?\d(?:\.\d)?\+?)-(?P<exc>[a-z]+)-exception$", re.IGNORECASE
)

# Free-form copyright files: references to Debian's shared license texts...
_COMMON_LICENSES: dict[str, tuple[str, str]] = {
    # file name -> (SPDX id as published, SPDX id when "any later version" applies)
    "gpl-1": ("GPL-1.0-only", "GPL-1.0-or-later"),
    "gpl-2": ("GPL-2.0-only", "GPL-2.0-or-later"),
    "gpl-3": ("GPL-3.0-only", "GPL-3.0-or-later"),
    "gpl": ("GPL-1.0-or-later", "GPL-1.0-or-later"),
    "lgpl-2": ("LGPL-2.0-only", "LGPL-2.0-or-later"),
    "lgpl-2.1": ("LGPL-2.1-only", "LGPL-2.1-or-later"),
    "lgpl-3": ("LGPL-3.0-only", "LGPL-3.0-or-later"),
    "lgpl": ("LGPL-2.0-or-later", "LGPL-2.0-or-later"),
    "gfdl-1.2": ("GFDL-1.2-only", "GFDL-1.2-or-later"),
    "gfdl-1.3": ("GFDL-1.3-only", "GFDL-1.3-or-later"),
    "gfdl": ("GFDL-1.3-or-later", "GFDL-1.3-or-later"),
    "apache-2.0": ("Apache-2.0", "Apache-2.0"),
    "artistic": ("Artistic-1.0-Perl", "Artistic-1.0-Perl"),
    "bsd": ("BSD-3-Clause", "BSD-3-Clause"),
    "mpl-1.1": ("MPL-1.1", "MPL-1.1"),
    "mpl-2.0": ("MPL-2.0", "MPL-2.0"),
    "cc0-1.0": ("CC0-1.0", "CC0-1.0"),
}
_COMMON_REF = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9.+-]+?)[.,;:)'\"]?(?:\s|$)")
_LATER = re.compile(r"any\s+later\s+version", re.IGNORECASE)
# ...and the well-known sentences of licenses that are usually pasted in full.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), spdx)
    for pattern, spdx in (
        (r"permission\s+is\s+hereby\s+granted,\s+free\s+of\s+charge,\s+to\s+any\s+person", "MIT"),
        (r"licensed\s+under\s+the\s+apache\s+license,\s+version\s+2\.0", "Apache-2.0"),
        (
            r"permission\s+to\s+use,\s+copy,\s+modify,\s+and(?:/or)?\s+distribute\s+this\s+"
            r"software\s+for\s+any\s+purpose\s+with\s+or\s+without\s+fee",
            "ISC",
        ),
        (r"altered\s+source\s+versions\s+must\s+be\s+plainly\s+marked", "Zlib"),
        (r"mozilla\s+public\s+license,?\s+v(?:ersion|\.)\s*2\.0", "MPL-2.0"),
        (r"boost\s+software\s+license\s*-?\s*version\s+1\.0", "BSL-1.0"),
        (
            r"\bis\s+in\s+the\s+public\s+domain\b|\bplaced\s+in(?:to)?\s+the\s+public\s+domain\b",
            "LicenseRef-public-domain",
        ),
    )
)
_BSD_PHRASE = re.compile(r"redistribution\s+and\s+use\s+in\s+source\s+and\s+binary", re.I)
_BSD_ADVERTISING = re.compile(r"all\s+advertising\s+materials\s+mentioning", re.IGNORECASE)
_BSD_ENDORSE = re.compile(r"neither\s+the\s+name|may\s+not\s+be\s+used\s+to\s+endorse", re.I)
_GNU_PHRASE = re.compile(
    r"gnu\s+(?P<kind>general|lesser\s+general|library\s+general|affero\s+general)\s+public\s+"
    r"license[^.]{0,120}?version\s+(?P<version>[123](?:\.[01])?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PackageLicenses:
    """The licenses one package declares."""

    licenses: tuple[str, ...] = ()  # SPDX expressions, deduplicated and sorted
    # text for each LicenseRef-* used in `licenses`, when the copyright file gave one
    texts: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    machine_readable: bool = False

    @property
    def expression(self) -> str | None:
        """All of `licenses` as one expression (they all apply), or None if there are none."""
        return combine(self.licenses)


@functools.cache
def _licensing() -> Licensing:
    """The SPDX licensing of `license-expression` (slow to build, so built once)."""
    return get_spdx_licensing()


@functools.cache
def _trees() -> Licensing:
    """The licensing the expressions built and combined here are parsed with: one that
    knows no ids, so each stays as written. (`get_spdx_licensing()` would also resolve
    ScanCode's aliases, reading `LicenseRef-Apache`, a Debian file's unversioned
    "Apache", as `Apache-2.0`; and loading its index costs a warm SBOM 0.1 s.) The ids
    are chosen from the SPDX list before (`spdx_id`), so WITH is only given exceptions.
    """
    return Licensing()


@functools.cache
def _spdx_ids() -> tuple[dict[str, str], dict[str, str]]:
    """Lower-cased SPDX license ids and exception ids -> their canonical spelling."""
    licenses: dict[str, str] = {}
    exceptions: dict[str, str] = {}
    for entry in get_license_index():
        key = entry.get("spdx_license_key")
        if not key or key.startswith("LicenseRef-"):
            continue
        target = exceptions if entry.get("is_exception") else licenses
        target[key.lower()] = key
        for alias in entry.get("other_spdx_license_keys") or ():
            if not alias.startswith("LicenseRef-"):
                target.setdefault(alias.lower(), key)
    return licenses, exceptions


def license_ref(name: str) -> str:
    """`LicenseRef-<name>` with the characters SPDX allows (letters, digits, '.', '-')."""
    if name.startswith("LicenseRef-"):
        name = name[len("LicenseRef-") :]
    clean = re.sub(r"[^A-Za-z0-9.-]+", "-", name.replace("+", "-plus")).strip("-.")
    return f"LicenseRef-{clean or 'unknown'}"


def is_license_ref(expression: str) -> bool:
    """True when every id in `expression` is a LicenseRef (nothing from the SPDX list)."""
    keys = _keys(expression)
    return bool(keys) and all(key.startswith("LicenseRef-") for key in keys)


def _keys(expression: str) -> list[str]:
    """The license and exception ids of `expression`; none when it is not an expression."""
    try:
        return list(_trees().license_keys(_parsed(expression)))
    except ExpressionError:
        return []


@functools.lru_cache(maxsize=8192)
def _parsed(expression: str) -> LicenseExpression:
    """`expression` as license_expression's syntax tree; ExpressionError when it is none."""
    # ids never hold spaces or parentheses (`license_ref`): the simple tokenizer will do
    parsed = _trees().parse(expression, validate=False, simple=True)
    if parsed is None:
        raise ExpressionError(f"empty license expression {expression!r}")
    return parsed


def spdx_id(name: str) -> str:
    """The SPDX expression for one Debian short license name (no `and`/`or`)."""
    name = name.strip().strip(",")
    lower = name.lower()
    if not lower:
        return license_ref("unknown")
    if lower in _PUBLIC_DOMAIN:
        return "LicenseRef-public-domain"
    with_exc = _WITH_RE.match(name) or _DASH_EXC_RE.match(name)
    if with_exc:
        return _with_exception(with_exc["base"], with_exc["exc"], name)
    if lower in _ALIASES:
        return _ALIASES[lower]
    known, _ = _spdx_ids()
    if lower in known:
        return _or_later_form(known[lower])
    versioned = _VERSIONED_RE.match(lower)
    if versioned:
        family, default = _VERSIONED[versioned["family"].lower()]
        version = versioned["version"] or default
        if "." not in version:
            version += ".0"
        suffix = versioned["suffix"] or ("+" if not versioned["version"] else "")
        tail = "-or-later" if suffix and "only" not in suffix else "-only"
        niv = "-no-invariants" if versioned["family"].lower() == "gfdl-niv" else ""
        candidate = f"{family}-{version}{niv}{tail}"
        if candidate.lower() in known:
            return known[candidate.lower()]
    plus = _PLUS_RE.match(lower)
    if plus:
        base = spdx_id(plus["base"])
        later = f"{base}-or-later".lower()
        if later in known:
            return known[later]
        # SPDX allows `ID+`, but common tools (spdx-tools among them) reject it
        return license_ref(name)
    fixed = _fix_spelling(lower, known)
    if fixed:
        return fixed
    return license_ref(name)


def _or_later_form(key: str) -> str:
    # The list still carries deprecated ids such as GPL-2.0+ and GPL-2.0; use the current ones.
    known, _ = _spdx_ids()
    if key.endswith("+") and f"{key[:-1]}-or-later".lower() in known:
        return known[f"{key[:-1]}-or-later".lower()]
    if re.match(r"^(A|L)?GPL-\d\.\d$|^GFDL-\d\.\d$", key) and f"{key}-only".lower() in known:
        return known[f"{key}-only".lower()]
    return key


def _fix_spelling(lower: str, known: dict[str, str]) -> str | None:
    """Debian spellings such as BSD-3-clause, Apache-2, MPL-2 or CC-BY-SA-3 that differ only
    in case or a missing `.0`."""
    for candidate in (lower, re.sub(r"-(\d+)$", r"-\1.0", lower), f"{lower}.0"):
        if candidate in known:
            return _or_later_form(known[candidate])
    return None


def _with_exception(base: str, exception: str, original: str) -> str:
    license_expr = spdx_id(base)
    try:
        single = _parsed(license_expr)
    except ExpressionError:
        return license_ref(original)
    if not isinstance(single, LicenseSymbol) or single.key.startswith("LicenseRef-"):
        return license_ref(original)  # WITH takes one license from the SPDX list
    _, exceptions = _spdx_ids()
    key = exception.strip().lower().replace(" ", "-")
    version = re.search(r"-(\d)", license_expr)
    major = version.group(1) if version else ""
    by_version = _EXCEPTIONS.get(key)
    exc_id: str | None = None
    if by_version:
        exc_id = by_version.get(major) or by_version.get("")
        if exc_id is None and key == "autoconf":
            exc_id = "Autoconf-exception-generic"
    if exc_id is None:
        exc_id = exceptions.get(key) or exceptions.get(f"{key}-exception")
    if exc_id is None or exc_id.lower() not in exceptions:
        # SPDX 2.3 has no custom exceptions after WITH: keep the license, name the exception.
        return f"{license_expr} AND {license_ref(f'{exception}-exception')}"
    return f"{license_expr} WITH {exceptions[exc_id.lower()]}"


@functools.lru_cache(maxsize=4096)
def dep5_expression(text: str) -> str:
    """Translate a DEP-5 `License:` expression ("GPL-2+ or Artistic, and BSD-3-clause")."""
    text = " ".join(text.split())
    # A comma lowers the precedence of the operator after it: "A or B, and C" = (A or B) and C.
    segments = re.split(r",\s*(?=(?:and|or)\s)", text, flags=re.IGNORECASE)
    try:
        result = _dep5_segment(segments[0])
        for segment in segments[1:]:
            op, _, rest = segment.partition(" ")
            result = _joined(op.upper(), [result, _dep5_segment(rest)])
    except ExpressionError:
        logger.debug("could not express license %r as SPDX", text)
        return license_ref(text)
    return str(result)


def _dep5_segment(text: str) -> LicenseExpression:
    alternatives = re.split(r"\s+or\s+", text.strip().strip(","), flags=re.IGNORECASE)
    parts = []
    for alternative in alternatives:
        terms = re.split(r"\s+and\s+|,\s*", alternative, flags=re.IGNORECASE)
        parts.append(_joined("AND", [_parsed(spdx_id(term)) for term in terms if term.strip()]))
    return _joined("OR", parts)


def _joined(op: str, operands: list[LicenseExpression]) -> LicenseExpression:
    """`operands` joined by `op` ("AND" or "OR"), nested operators of the same kind merged
    (rendered, the tree has parentheses only where precedence needs them)."""
    if not operands:
        return _parsed(license_ref("unknown"))
    if len(operands) == 1:
        return operands[0]
    licensing = _trees()
    node: LicenseExpression = (licensing.AND if op == "AND" else licensing.OR)(*operands)
    return _flat(node)


def _flat(node: LicenseExpression) -> LicenseExpression:
    """`node` with `A AND (B AND C)` as `A AND B AND C`, at every depth (boolean.py's
    `flatten` merges only the top level)."""
    licensing = _trees()
    if not isinstance(node, (licensing.AND, licensing.OR)):
        return node
    args: list[LicenseExpression] = []
    for arg in map(_flat, node.args):
        args.extend(arg.args if type(arg) is type(node) else (arg,))
    flat: LicenseExpression = type(node)(*args)
    return flat


def combine(expressions: Iterable[str]) -> str | None:
    """One expression that means all of `expressions` apply: their AND terms, deduplicated
    and sorted (boolean.py's `simplify` would also absorb `MIT AND (MIT OR X)` and reorder
    inside the terms; the documents keep what the copyright files say)."""
    licensing = _trees()
    terms: dict[str, LicenseExpression] = {}
    for expression in expressions:
        try:
            node = _flat(_parsed(expression))
        except ExpressionError:
            logger.debug("not an SPDX expression, kept as a LicenseRef: %r", expression)
            node = _parsed(license_ref(expression))
        for term in node.args if isinstance(node, licensing.AND) else (node,):
            terms.setdefault(str(term), term)
    if not terms:
        return None
    return str(_joined("AND", [terms[key] for key in sorted(terms)]))


def is_dep5(text: str) -> bool:
    """True when `text` is a machine-readable (DEP-5) copyright file."""
    first = text.lstrip().split("\n", 1)[0]
    return bool(DEP5_FORMAT.match(first))


def parse_copyright(data: bytes | str) -> PackageLicenses:
    """The licenses a Debian copyright file declares."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = text.replace("\r\n", "\n")
    if is_dep5(text):
        return _parse_dep5(text)
    found = _detect_free_form(text)
    return PackageLicenses(tuple(sorted(set(found))), _free_form_texts(found), False)


def _parse_dep5(text: str) -> PackageLicenses:
    declared: list[str] = []
    bodies: dict[str, str] = {}
    for fields in parse_control(text):
        paragraph = {key.lower(): value for key, value in fields.items()}  # names ignore case
        value = paragraph.get("license")
        if value is None:
            continue
        short, body = _license_field(value)
        if body:
            bodies.setdefault(short.lower(), body)
        # Stand-alone License paragraphs only give texts; Files and header ones declare.
        if ("files" in paragraph or "format" in paragraph) and short:
            declared.append(short)
    expressions = sorted({dep5_expression(short) for short in declared})
    texts: dict[str, str] = {}
    for short in declared:
        for raw in re.split(r",?\s+(?:and|or)\s+|,\s*", short, flags=re.IGNORECASE):
            term = (raw or "").strip()
            license_text = bodies.get(term.lower()) if term else None
            if not license_text:
                continue
            for key in _keys(spdx_id(term)):
                if key.startswith("LicenseRef-"):
                    texts.setdefault(key, license_text)
    return PackageLicenses(tuple(expressions), texts, True)


def _license_field(value: str) -> tuple[str, str]:
    """(short name, text) of a `License:` value; a continuation line of one `.` is empty."""
    first, *rest = value.split("\n")
    body = "\n".join("" if line.strip() == "." else line.strip() for line in rest)
    return first.strip(), body.strip()


def _detect_free_form(text: str) -> list[str]:
    found: list[str] = []
    later = bool(_LATER.search(text))
    for match in _COMMON_REF.finditer(text):
        name = match.group(1).rstrip(".").lower()
        if name in _COMMON_LICENSES:
            only, or_later = _COMMON_LICENSES[name]
            found.append(or_later if later else only)
    if not any(f.startswith(("GPL", "LGPL", "AGPL")) for f in found):
        for match in _GNU_PHRASE.finditer(text):
            kind = match["kind"].split()[0].lower()
            family = {"general": "GPL", "lesser": "LGPL", "library": "LGPL", "affero": "AGPL"}[kind]
            version = match["version"] if "." in match["version"] else match["version"] + ".0"
            candidate = f"{family}-{version}-{'or-later' if later else 'only'}"
            if candidate.lower() in _spdx_ids()[0]:
                found.append(_spdx_ids()[0][candidate.lower()])
    for pattern, spdx in _PHRASES:
        if pattern.search(text):
            found.append(spdx)
    if _BSD_PHRASE.search(text):
        if _BSD_ADVERTISING.search(text):
            found.append("BSD-4-Clause")
        elif _BSD_ENDORSE.search(text):
            found.append("BSD-3-Clause")
        else:
            found.append("BSD-2-Clause")
    return found


def _free_form_texts(found: list[str]) -> dict[str, str]:
    if "LicenseRef-public-domain" in found:
        return {
            "LicenseRef-public-domain": "The copyright file states that (parts of) the "
            "package are in the public domain."
        }
    return {}


_CLASSIFIERS: dict[str, str] = {
    "mit license": "MIT",
    "mit no attribution license (mit-0)": "MIT-0",
    "bsd license": "LicenseRef-BSD",
    "apache software license": "LicenseRef-Apache",
    "isc license (iscl)": "ISC",
    "python software foundation license": "Python-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "mozilla public license 1.1 (mpl 1.1)": "MPL-1.1",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu lesser general public license v3 or later (lgplv3+)": "LGPL-3.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only",
    "gnu affero general public license v3 or later (agplv3+)": "AGPL-3.0-or-later",
    "the unlicense (unlicense)": "Unlicense",
    "zope public license": "ZPL-2.1",
    "public domain": "LicenseRef-public-domain",
    "academic free license (afl)": "LicenseRef-AFL",
    "eclipse public license 2.0 (epl-2.0)": "EPL-2.0",
    "european union public licence 1.2 (eupl 1.2)": "EUPL-1.2",
    "boost software license 1.0 (bsl-1.0)": "BSL-1.0",
    "universal permissive license (upl)": "UPL-1.0",
    "zlib/libpng license": "Zlib",
}


# Spellings found in Python and npm metadata.
_DECLARED_FORMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), spdx)
    for pattern, spdx in (
        (
            r"^(?:the\s+)?apache(?:\s+software)?(?:\s+license)?,?(?:\s+v(?:ersion)?)?\s*2(?:\.0)?$",
            "Apache-2.0",
        ),
        (r"^(?:the\s+)?mit(?:\s+license)?$", "MIT"),
        (r"^(?:new|modified|revised|3-clause)\s+bsd(?:\s+license)?$", "BSD-3-Clause"),
        (r"^(?:simplified|freebsd|2-clause)\s+bsd(?:\s+license)?$", "BSD-2-Clause"),
        (r"^bsd[\s-]+3[\s-]+clause(?:\s+license)?$", "BSD-3-Clause"),
        (r"^bsd[\s-]+2[\s-]+clause(?:\s+license)?$", "BSD-2-Clause"),
        (r"^(?:psf|python\s+software\s+foundation)(?:\s+license)?$", "Python-2.0"),
        (r"^isc(?:\s+license)?$", "ISC"),
        (r"^(?:mpl|mozilla\s+public\s+license)\s*v?\s*2(?:\.0)?$", "MPL-2.0"),
    )
)


def normalize_declared(values: Iterable[str]) -> tuple[str, ...]:
    """SPDX expressions for license strings from package metadata (Python, npm).

    Accepts SPDX expressions (`MIT OR Apache-2.0`), Trove classifiers
    (`License :: OSI Approved :: MIT License`) and common short names.
    """
    out: set[str] = set()
    for raw in values:
        value = " ".join(str(raw).split())
        if not value or value.upper() in ("UNKNOWN", "NONE", NOASSERTION):
            continue
        if value.startswith("License ::"):
            leaf = value.rsplit("::", 1)[-1].strip().lower()
            if leaf in ("osi approved", "other/proprietary license"):
                continue
            out.add(_CLASSIFIERS.get(leaf) or license_ref(leaf))
            continue
        out.add(_declared_expression(value))
    return tuple(sorted(out))


def _declared_expression(value: str) -> str:
    licensing = _licensing()
    if len(value) <= 200:
        try:
            parsed = licensing.parse(value, validate=False, strict=True)
        except ExpressionError:
            parsed = None
        if parsed is not None:
            keys = licensing.license_keys(parsed)
            known, _ = _spdx_ids()
            if keys and all(k.lower() in known or k.startswith("LicenseRef-") for k in keys):
                rendered = str(licensing.parse(value, validate=False))
                return rendered
    for pattern, spdx in _DECLARED_FORMS:
        if pattern.match(value):
            return spdx
    if (
        " " not in value
        or _VERSIONED_RE.match(value)
        or re.fullmatch(r"[^()]+?\s+(?:or|and)\s+[^()]+", value, re.I)
    ):
        mapped = dep5_expression(value)
        if not is_license_ref(mapped):
            return mapped
    return license_ref(value)
