"""The `debian-security-support` importer: packages whose security support ended or is limited.

Reads the lists of Debian's `debian-security-support` package
(`security-support-ended.debNN`, `security-support-limited[.debNN]`) from a
directory (by default where the package installs them) or a URL prefix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from hardbase.util.progress import Progress
from hardbase.vuln.db import SourceInfo, SupportNote, VulnDB
from hardbase.vuln.importers.interface import (
    FeedError,
    FeedNotFound,
    Importer,
    ImportStats,
    is_url,
    read_location,
)

log = logging.getLogger(__name__)

_FILE = re.compile(r"^security-support-(ended|limited)(?:\.deb(\d+))?$")
_URL_FILES = tuple(f"security-support-ended.deb{n}" for n in (11, 12, 13, 14)) + tuple(
    f"security-support-limited{s}" for s in ("", ".deb12", ".deb13", ".deb14")
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SecuritySupportImporter(Importer):
    """Imports debian-security-support's lists."""

    name = "debian-security-support"
    default_locations = ("/usr/share/debian-security-support",)

    def run(self, db: VulnDB, locations: Sequence[str], progress: Progress) -> ImportStats:
        locations = tuple(locations) or self.default_locations
        notes: list[SupportNote] = []
        files = 0
        for location in locations:
            for name, text in _files(location):
                m = _FILE.match(name)
                if m is None:
                    continue
                kind, number = m.group(1), m.group(2)
                if kind == "ended" and number is None:
                    continue  # a copy of the running release's list; the .debNN files say which
                eco = f"debian:{number}" if number else "debian"
                files += 1
                notes.extend(parse_list(text, kind, eco))
        if files == 0:
            raise FeedError(
                f"no security-support-ended/limited lists found in {', '.join(locations)}; "
                "install debian-security-support or pass its directory or URL"
            )
        progress.start("importing security support lists", 0)
        count = db.replace_support(self.name, notes)
        progress.finish()
        db.record_source(
            SourceInfo(
                name=self.name,
                location=" ".join(locations),
                imported_at=datetime.now(UTC),
                records=count,
                state={"files": str(files)},
            )
        )
        return ImportStats(self.name, locations, 0, count, 0, 0, {"files": files})


def _files(location: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if is_url(location):
        base = location.rstrip("/")
        for name in _URL_FILES:
            try:
                out.append((name, read_location(f"{base}/{name}", max_size=4 << 20).decode()))
            except FeedNotFound:
                continue
        return out
    root = Path(location).expanduser()
    if not root.is_dir():
        raise FeedError(f"{root} is not a directory of debian-security-support lists")
    for path in sorted(root.iterdir()):
        if _FILE.match(path.name) and path.is_file():
            data = read_location(str(path), max_size=4 << 20)
            out.append((path.name, data.decode("utf-8", errors="replace")))
    return out


def parse_list(text: str, kind: str, ecosystem: str) -> list[SupportNote]:
    """Parse one list: `ended` lines are `source last-version date [note]`, `limited` ones
    `source [note]`."""
    notes: list[SupportNote] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 3 if kind == "ended" else 1)
        package = fields[0]
        if kind == "ended":
            last = fields[1] if len(fields) > 1 else ""
            date = fields[2] if len(fields) > 2 and _DATE.match(fields[2]) else ""
            note = fields[3].strip() if len(fields) > 3 else ""
            if not date and len(fields) > 2:
                note = " ".join(fields[2:]).strip()
            notes.append(
                SupportNote(
                    ecosystem, package, kind, SecuritySupportImporter.name, last, date, note
                )
            )
        else:
            note = fields[1].strip() if len(fields) > 1 else ""
            notes.append(
                SupportNote(ecosystem, package, kind, SecuritySupportImporter.name, "", "", note)
            )
    return notes
