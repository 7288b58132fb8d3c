"""Names from documents hardbase did not write, checked before they name a file or a command.

A lock file is input (a pull request can change it), and so is a pip report or
an npm lockfile. Every field of theirs that becomes part of a path is checked
against a rule here when the document is loaded, and checked again where the
path is made (`component`, `sha256_hex`), so `../`, `/`, `%2F`, NUL or a
newline never reach the file system or a requirements file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hardbase.errors import SpecError


@dataclass(frozen=True)
class Rule:
    """A pattern a whole value must match, and how to say it to a user."""

    pattern: re.Pattern[str]
    says: str
    max_length: int = 255

    def allows(self, value: Any) -> bool:
        return (
            isinstance(value, str)
            and len(value) <= self.max_length
            and self.pattern.fullmatch(value) is not None
        )


SHA256 = Rule(re.compile(r"[0-9a-f]{64}"), "64 lowercase hex digits (a sha256)")
# One path component: no '/', no leading '.', so neither '.' nor '..' nor a hidden name.
FILE_NAME = Rule(
    re.compile(r"[A-Za-z0-9_+~!@-][A-Za-z0-9._+~!@-]*"),
    "one file name (letters, digits and . _ + ~ ! @ -, not starting with a dot)",
)
DEB_NAME = Rule(re.compile(r"[a-z0-9][a-z0-9+.-]*"), "a Debian package name")
DEB_VERSION = Rule(re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:-]*"), "a Debian version")
DEB_ARCH = Rule(re.compile(r"[a-z0-9][a-z0-9-]*"), "a Debian architecture", 32)
TIER = Rule(re.compile(r"[a-z0-9][a-z0-9._-]*"), "a layer name (lowercase letters, digits . _ -)")
HTTP_URL = Rule(re.compile(r"https?://[^\s\x00-\x1f\x7f]+"), "an http(s) URL", 4096)
# PEP 508 names and PEP 440 versions (with local versions), for pip requirement lines.
PYPI_NAME = Rule(re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"), "a Python package name")
PYPI_VERSION = Rule(re.compile(r"[A-Za-z0-9][A-Za-z0-9.!+_-]*"), "a Python package version")
# npm names (legacy ones may have capitals); versions are semver with pre-release/build parts.
NPM_NAME = Rule(
    re.compile(r"(?:@[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)?[A-Za-z0-9_~-][A-Za-z0-9._~-]*"),
    "an npm package name",
    214,
)
NPM_VERSION = Rule(re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]*"), "an npm version")
NPM_INTEGRITY = Rule(
    re.compile(r"[A-Za-z0-9]+-[A-Za-z0-9+/=]+(?:\?[!-~]*)?(?: [A-Za-z0-9]+-[A-Za-z0-9+/=]+)*"),
    "an npm integrity string (algorithm-base64)",
    4096,
)
_REFUSED = "refusing it (hostile or hand-edited); relock with `hardbase lock`"
_NPM_DIR = re.compile(r"(?:@[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)?[A-Za-z0-9_~-][A-Za-z0-9._~-]*")


def check(value: Any, rule: Rule, what: str, where: str) -> str:
    """`value` when it follows `rule`; else a SpecError naming the field and the document."""
    if not rule.allows(value):
        shown = repr(value)[:120]
        raise SpecError(f"{where}: {what} {shown} is not {rule.says}; {_REFUSED}")
    return str(value)


def check_size(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"{where}: {what} {value!r} is not a size in bytes; {_REFUSED}")
    return value


def check_npm_path(value: Any, what: str, where: str) -> str:
    """An npm lockfile key: `node_modules/<name>` repeated, nothing else (no `..`, no `/`)."""
    parts = value.split("node_modules/") if isinstance(value, str) else []
    if (
        len(parts) < 2
        or parts[0] != ""
        or len(value) > 4096
        or not all(_NPM_DIR.fullmatch(p.removesuffix("/")) for p in parts[1:])
        or not all(p.endswith("/") for p in parts[1:-1])
        or parts[-1].endswith("/")
    ):
        raise SpecError(
            f"{where}: {what} {repr(value)[:120]} is not an npm install path "
            f"(node_modules/<name>/node_modules/<name>…); {_REFUSED}"
        )
    return str(value)


def component(value: str, what: str) -> str:
    """`value` as one path component, checked again where the path is made."""
    return check(value, FILE_NAME, what, "refusing a path")


def sha256_hex(value: str, what: str) -> str:
    """`value` as a sha256 that may name a cache file, checked again where the path is made."""
    return check(value, SHA256, what, "refusing a path")
