"""Ignore files: `.hardbaseignore` (id, package, expiry, reason) and Trivy's `.trivyignore`.

A `.hardbaseignore` line is `ID [PACKAGE] exp:YYYY-MM-DD REASON…`: the expiry and
the reason are required, so that no exception outlives its review silently. A
`.trivyignore` line is `ID [exp:YYYY-MM-DD]`, as Trivy reads it. `#` starts a
comment in both. An entry past its expiry no longer applies, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hardbase.errors import UsageError
from hardbase.vuln.match import Finding

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9-]+$")
_EXP = re.compile(r"^exp:(\d{4}-\d{2}-\d{2})$")
MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class IgnoreEntry:
    id: str
    package: str = ""  # binary, source or PyPI/npm name; "" means any package
    expires: date | None = None
    reason: str = ""
    where: str = ""  # FILE:LINE

    def covers(self, f: Finding) -> bool:
        if self.id not in f.ids:
            return False
        return not self.package or self.package in (f.package.name, f.package.source_name)


def parse_ignore_file(path: Path) -> list[IgnoreEntry]:
    """The entries of one ignore file; the format follows from its name (.trivyignore)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the ignore file {path}; check --ignorefile") from exc
    if len(data) > MAX_BYTES:
        raise UsageError(f"the ignore file {path} is larger than 1 MiB; is it the right file?")
    trivy = path.name.endswith(".trivyignore")
    out: list[IgnoreEntry] = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        where = f"{path}:{number}"
        text, _, comment = raw.partition("#")
        words = text.split()
        if not words:
            continue
        if not _ID.match(words[0]):
            raise UsageError(f"{where}: {words[0]!r} is not a vulnerability id such as CVE-…")
        rest = words[1:]
        package = ""
        if rest and not _EXP.match(rest[0]) and not trivy:
            package, rest = rest[0], rest[1:]
        expires: date | None = None
        m = _EXP.match(rest[0]) if rest else None
        if m is not None:
            try:
                expires = date.fromisoformat(m.group(1))
            except ValueError:
                raise UsageError(f"{where}: {rest[0]!r} is not a date (exp:YYYY-MM-DD)") from None
            rest = rest[1:]
        reason = " ".join([*rest, comment.strip()]).strip() if not trivy else comment.strip()
        if trivy and rest:
            raise UsageError(f"{where}: expected `ID [exp:YYYY-MM-DD]` as in Trivy")
        if not trivy and (expires is None or not reason):
            raise UsageError(
                f"{where}: a .hardbaseignore line is `ID [PACKAGE] exp:YYYY-MM-DD REASON`; "
                "give the expiry and the reason"
            )
        out.append(IgnoreEntry(words[0], package, expires, reason, where))
    return out


def default_ignore_files(directory: Path) -> list[Path]:
    """`.hardbaseignore` and `.trivyignore` in `directory`, those that exist."""
    return [p for p in (directory / ".hardbaseignore", directory / ".trivyignore") if p.is_file()]


def apply_ignores(
    findings: Sequence[Finding], entries: Sequence[IgnoreEntry], today: date
) -> tuple[list[Finding], list[tuple[Finding, IgnoreEntry]], list[IgnoreEntry]]:
    """(kept findings, ignored ones with their entry, expired entries)."""
    current = [e for e in entries if e.expires is None or e.expires >= today]
    expired = [e for e in entries if e.expires is not None and e.expires < today]
    kept: list[Finding] = []
    ignored: list[tuple[Finding, IgnoreEntry]] = []
    for f in findings:
        entry = next((e for e in current if e.covers(f)), None)
        if entry is None:
            kept.append(f)
        else:
            ignored.append((f, entry))
    return kept, ignored, expired
