"""Reading a patch file: its DEP-3 header (https://dep-team.pages.debian.net/deps/dep3/)
and the CVE ids it names.

The header is the text before the diff starts (`---`/`+++`, `diff `, `Index:` or
`===`). Its fields are RFC 822 style (`Origin: upstream, https://...`), possibly
with continuation lines; a `git format-patch` mail header (`From`, `Subject`)
is read the same way. A `From <sha> Mon Sep 17 ...` first line gives the commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hardbase.errors import UsageError

CVE_ID = re.compile(r"(?<![A-Za-z0-9])CVE-\d{4}-\d{4,7}(?![0-9])", re.IGNORECASE)
MAX_PATCH = 16 << 20
_DIFF_START = re.compile(r"^(?:--- |\+\+\+ |diff |Index: |={10,}|@@ )")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):(.*)$")
_MAIL_FROM = re.compile(r"^From ([0-9a-f]{40}) ")


class PatchFileError(UsageError):
    """A patch file cannot be read or lacks what hardbase needs to trust it."""


@dataclass(frozen=True)
class PatchHeader:
    """A patch's DEP-3 (or mail) header fields, lower-cased names, in file order."""

    fields: tuple[tuple[str, str], ...] = ()
    text: str = ""  # the whole header, as written
    commit: str | None = None  # from a `From <sha> ...` line
    cves: tuple[str, ...] = field(default=())  # CVE ids the header names

    def get(self, name: str) -> str | None:
        for key, value in self.fields:
            if key == name.lower():
                return value
        return None

    @property
    def origin(self) -> str | None:
        """`Origin:`, else a `From <sha>` commit, else None."""
        origin = self.get("origin")
        if origin:
            return origin
        return f"commit {self.commit}" if self.commit else None

    @property
    def description(self) -> str:
        return (self.get("description") or self.get("subject") or "").split("\n", 1)[0]


def cve_ids(text: str) -> tuple[str, ...]:
    """The CVE ids in `text`, upper case, in first-seen order, each once."""
    seen: dict[str, None] = {}
    for match in CVE_ID.finditer(text):
        seen.setdefault(match.group(0).upper(), None)
    return tuple(seen)


def parse_header(text: str) -> PatchHeader:
    """The header of the patch `text` (everything before its first diff line)."""
    lines: list[str] = []
    for line in text.splitlines():
        if _DIFF_START.match(line):
            break
        lines.append(line)
    fields: list[tuple[str, str]] = []
    commit = None
    for line in lines:
        mail = _MAIL_FROM.match(line)
        if mail and not fields:
            commit = mail.group(1)
            continue
        match = _FIELD.match(line)
        if match:
            fields.append((match.group(1).lower(), match.group(2).strip()))
        elif line[:1] in (" ", "\t") and fields and line.strip() not in ("", "."):
            key, value = fields[-1]
            fields[-1] = (key, f"{value}\n{line.strip()}" if value else line.strip())
        elif not line.strip() and fields and fields[-1][0] not in ("description", "subject"):
            continue
    header = "\n".join(lines)
    return PatchHeader(fields=tuple(fields), text=header, commit=commit, cves=cve_ids(header))


def read_patch(path: Path) -> tuple[str, PatchHeader]:
    """The text and header of the patch file at `path`; PatchFileError if unreadable."""
    try:
        size = path.stat().st_size
        if size > MAX_PATCH:
            raise PatchFileError(f"{path} is {size} bytes, over the {MAX_PATCH} byte patch limit")
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise PatchFileError(f"cannot read the patch {path}: {exc.strerror}") from None
    if not any(_DIFF_START.match(line) for line in text.splitlines()):
        raise PatchFileError(f"{path} is not a patch: it has no unified diff")
    return text, parse_header(text)


def require_trusted(path: Path, header: PatchHeader, cves: Iterable[str]) -> None:
    """A user's patch must say in its DEP-3 header which CVE it fixes and where it comes from."""
    named = set(header.cves)
    missing = [cve for cve in cves if cve.upper() not in named]
    if missing:
        raise PatchFileError(
            f"{path} does not name {', '.join(missing)} in its DEP-3 header; add a line such "
            f"as 'Description: fix {missing[0]}' (and 'Origin: upstream, URL')"
        )
    if header.origin is None:
        raise PatchFileError(
            f"{path} has no 'Origin:' field in its DEP-3 header; say where the fix comes "
            "from (for example 'Origin: upstream, https://.../commit/SHA')"
        )
