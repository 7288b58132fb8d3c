"""The `debian-tracker` importer: the Debian security tracker's JSON, from a file or URL.

The document maps source package → issue → release codename → status. A
resolved issue with a fixed version is fixed (version "0": never affected);
an open one has no fix yet, or will not be fixed when the security team
ignores it; urgencies become severities.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hardbase.util import jsondoc
from hardbase.util.progress import Progress
from hardbase.vuln.db import (
    FIXED,
    NOT_AFFECTED,
    OPEN,
    WONT_FIX,
    Advisory,
    Affected,
    SourceInfo,
    VulnDB,
)
from hardbase.vuln.importers.interface import FeedError, Importer, ImportStats, read_location

log = logging.getLogger(__name__)

# Debian release codenames -> release number
CODENAMES: dict[str, int] = {
    "buster": 10,
    "bullseye": 11,
    "bookworm": 12,
    "trixie": 13,
    "forky": 14,
    "duke": 15,
}


def ecosystem_for_codename(codename: str) -> str | None:
    number = CODENAMES.get(codename)
    return f"debian:{number}" if number is not None else None


class DebianTrackerImporter(Importer):
    """Imports the Debian security tracker's JSON document."""

    name = "debian-tracker"
    default_locations = ("https://security-tracker.debian.org/tracker/data/json",)

    def run(self, db: VulnDB, locations: Sequence[str], progress: Progress) -> ImportStats:
        locations = tuple(locations) or self.default_locations
        advisories: dict[str, Advisory] = {}
        affected: list[Affected] = []
        details = {"undetermined": 0, "other_release": 0, "malformed": 0}
        for location in locations:
            progress.start(f"reading {location}", 0)
            try:
                document = jsondoc.loads(read_location(location))
            except (ValueError, UnicodeDecodeError) as exc:
                raise FeedError(
                    f"{location} is not the security tracker's JSON; check the location"
                ) from exc
            progress.finish()
            if not isinstance(document, dict):
                raise FeedError(f"{location} is not a JSON object of source packages")
            progress.start("importing Debian security tracker data", len(document))
            for source, issues in document.items():
                progress.advance()
                if not isinstance(issues, dict):
                    details["malformed"] += 1
                    continue
                for issue_id, issue in issues.items():
                    parse_issue(str(source), str(issue_id), issue, advisories, affected, details)
            progress.finish()
        n_adv, n_aff = db.replace(self.name, advisories.values(), affected)
        db.record_source(
            SourceInfo(
                name=self.name,
                location=" ".join(locations),
                imported_at=datetime.now(UTC),
                records=n_aff,
                state={"advisories": str(n_adv)},
            )
        )
        skipped = sum(details.values())
        return ImportStats(self.name, locations, n_adv, n_aff, skipped, 0, details)


def parse_issue(
    source: str,
    issue_id: str,
    issue: Any,
    advisories: dict[str, Advisory],
    affected: list[Affected],
    details: dict[str, int],
) -> None:
    """Add one issue of one source package to `advisories` and `affected`."""
    if not isinstance(issue, dict):
        details["malformed"] += 1
        return
    description = issue.get("description")
    if issue_id not in advisories:
        advisories[issue_id] = Advisory(
            id=issue_id,
            source=DebianTrackerImporter.name,
            summary=str(description or "").strip()[:1000],
        )
    releases = issue.get("releases") or {}
    if not isinstance(releases, dict):
        details["malformed"] += 1
        return
    for codename, info in releases.items():
        eco = ecosystem_for_codename(str(codename))
        if eco is None:
            details["other_release"] += 1
            continue
        if not isinstance(info, dict):
            details["malformed"] += 1
            continue
        row = _release_row(issue_id, source, eco, info)
        if row is None:
            details["undetermined"] += 1
        else:
            affected.append(row)


def _release_row(issue_id: str, source: str, eco: str, info: dict[str, Any]) -> Affected | None:
    status = str(info.get("status") or "")
    urgency = str(info.get("urgency") or "")
    fixed_version = str(info.get("fixed_version") or "")
    nodsa = str(info.get("nodsa") or "")
    reason = str(info.get("nodsa_reason") or "")
    if status == "resolved":
        if not fixed_version:
            return None
        if fixed_version == "0":
            return Affected(issue_id, "debian-tracker", eco, source, NOT_AFFECTED, urgency=urgency)
        return Affected(
            issue_id, "debian-tracker", eco, source, FIXED, fixed_version, urgency=urgency
        )
    if status == "open":
        note = ""
        if reason:
            note = reason
        elif nodsa:
            note = "no-dsa"
        if nodsa and nodsa != reason:
            note = f"{note}: {nodsa}" if note else nodsa
        kind = WONT_FIX if reason == "ignored" else OPEN
        return Affected(issue_id, "debian-tracker", eco, source, kind, urgency=urgency, note=note)
    return None
