"""What the controller could patch from source: the CVEs Debian leaves open in an image.

For a managed image's lock, the Debian security tracker's rows (the
`debian-tracker` feed) for its source packages and release that are still
`open`, `no-dsa` or `postponed`, each with its severity (the tracker's urgency)
and whether a candidate fix is known without fetching anything: a file of the
fleet's `patches:` directory whose DEP-3 header names the CVE. A newer Debian
suite's patch (`newer-debian`) needs the sources fetched (`hardbase patch
find`); that search is the patch job's first step, not the planner's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from hardbase.build.lock import Lock
from hardbase.lifecycle.fleet import PatchSettings, UserPatch
from hardbase.vuln.db import OPEN, VulnDB
from hardbase.vuln.importers.debian_tracker import DebianTrackerImporter, ecosystem_for_codename
from hardbase.vuln.severity import Severity, from_urgency

log = logging.getLogger(__name__)

OPEN_STATUS = "open"
NO_DSA = "no-dsa"
POSTPONED = "postponed"


@dataclass(frozen=True)
class OpenCVE:
    """A CVE the tracker leaves open for a source package the image contains."""

    cve: str
    source: str  # the Debian source package
    version: str  # the source version the image has
    release: str
    status: str  # OPEN_STATUS, NO_DSA or POSTPONED
    severity: Severity
    packages: tuple[str, ...]  # the image's binary packages built from `source`
    patches: tuple[UserPatch, ...] = ()  # the `patches:` files that name it

    @property
    def has_candidate(self) -> bool:
        """Whether a fix is known without fetching (a `patches:` file names the CVE)."""
        return bool(self.patches)


def tracker_status(note: str) -> str:
    """The tracker's status of an open row from the importer's note (nodsa_reason / nodsa)."""
    if note.startswith(POSTPONED):
        return POSTPONED
    if note:
        return NO_DSA
    return OPEN_STATUS


def open_cves(lock: Lock, db: VulnDB, settings: PatchSettings | None = None) -> list[OpenCVE]:
    """The tracker's open, no-dsa and postponed CVEs of `lock`'s source packages, by CVE id.

    Ignored issues (the tracker's `nodsa_reason: ignored`) are not open: Debian
    decided not to fix them. With `settings`, each names the `patches:` files
    whose headers name the CVE.
    """
    eco = ecosystem_for_codename(lock.release)
    if eco is None:
        return []
    by_source: dict[str, dict[str, set[str]]] = {}
    for pkg in lock.all_packages():
        by_source.setdefault(pkg.source, {}).setdefault(pkg.source_version, set()).add(pkg.name)
    rows = [
        r
        for r in db.affected_for({eco: by_source})
        if r.source == DebianTrackerImporter.name and r.status == OPEN
    ]
    user: Sequence[UserPatch] = (
        settings.patches if settings is not None and "patches-dir" in settings.sources else ()
    )
    out = []
    for row in rows:
        for version, binaries in sorted(by_source.get(row.package, {}).items()):
            out.append(
                OpenCVE(
                    cve=row.advisory_id,
                    source=row.package,
                    version=version,
                    release=lock.release,
                    status=tracker_status(row.note),
                    severity=from_urgency(row.urgency),
                    packages=tuple(sorted(binaries)),
                    patches=tuple(p for p in user if row.advisory_id.upper() in p.cves),
                )
            )
    return sorted(out, key=lambda o: (o.cve, o.source, o.version))


def to_patch(found: Sequence[OpenCVE], settings: PatchSettings) -> list[OpenCVE]:
    """The open CVEs at or above the fleet's `min_severity`."""
    return [o for o in found if o.severity >= settings.min_severity]
