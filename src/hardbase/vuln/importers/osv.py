"""The `osv` importer: OSV schema 1.x records from a directory, a .zip, a file or a URL.

Keeps the ecosystems hardbase matches (Debian:12, Debian:13, PyPI, npm, Go,
Maven, crates.io), their
ECOSYSTEM and SEMVER ranges and `versions` lists; skips withdrawn records and
other ecosystems, and counts what it skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_name

from hardbase.util import jsondoc
from hardbase.util.progress import Progress
from hardbase.vuln.db import FIXED, OPEN, Advisory, Affected, Range, SourceInfo, VulnDB
from hardbase.vuln.importers.interface import FeedError, Importer, ImportStats, iter_documents
from hardbase.vuln.severity import Severity, from_score, score_vector

log = logging.getLogger(__name__)

_OSV_BASE = "https://osv-vulnerabilities.storage.googleapis.com"
_RANGE_TYPES = ("ECOSYSTEM", "SEMVER")
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
# OSV severity types, most preferred first
_CVSS_TYPES = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


def ecosystem_key(osv_ecosystem: str) -> str | None:
    """hardbase's ecosystem key for an OSV ecosystem string, None when not matched."""
    name, _, release = osv_ecosystem.partition(":")
    if name == "Debian" and release.isdigit():
        return f"debian:{release}"
    if name == "PyPI" and not release:
        return "pypi"
    if name in ("npm", "Maven", "crates.io") and not release:
        return name.lower()
    if name == "Go" and not release:
        return "go"
    return None


def package_key(ecosystem: str, name: str) -> str:
    """How a package name is stored and looked up for an ecosystem."""
    if ecosystem == "pypi":
        return str(canonicalize_name(name))
    return name.strip()


class OSVImporter(Importer):
    """Imports OSV records."""

    name = "osv"
    default_locations = (
        f"{_OSV_BASE}/Debian/all.zip",
        f"{_OSV_BASE}/PyPI/all.zip",
        f"{_OSV_BASE}/npm/all.zip",
        f"{_OSV_BASE}/Go/all.zip",
        f"{_OSV_BASE}/Maven/all.zip",
        f"{_OSV_BASE}/crates.io/all.zip",
    )

    def run(self, db: VulnDB, locations: Sequence[str], progress: Progress) -> ImportStats:
        locations = tuple(locations) or self.default_locations
        advisories: list[Advisory] = []
        affected: list[Affected] = []
        details = {"records": 0, "withdrawn": 0, "other_ecosystem": 0, "malformed": 0}
        skipped = 0
        progress.start("importing OSV records", 0)
        for location in locations:
            for name, data in iter_documents(location):
                progress.advance()
                details["records"] += 1
                try:
                    record = jsondoc.loads(data)
                except (ValueError, UnicodeDecodeError):
                    log.warning("skipping %s in %s: not JSON", name, location)
                    details["malformed"] += 1
                    skipped += 1
                    continue
                try:
                    parsed = parse_record(record)
                except FeedError as exc:
                    log.warning("skipping %s in %s: %s", name, location, exc)
                    details["malformed"] += 1
                    skipped += 1
                    continue
                if parsed is None:
                    details["withdrawn"] += 1
                    skipped += 1
                    continue
                advisory, rows, other = parsed
                details["other_ecosystem"] += other
                if not rows:
                    skipped += 1
                    continue
                advisories.append(advisory)
                affected.extend(rows)
        progress.finish()
        n_adv, n_aff = db.replace(self.name, advisories, affected)
        db.record_source(
            SourceInfo(
                name=self.name,
                location=" ".join(locations),
                imported_at=datetime.now(UTC),
                records=n_adv,
                state={"affected": str(n_aff)},
            )
        )
        log.info("osv: %d advisories, %d affected packages", n_adv, n_aff)
        return ImportStats(self.name, locations, n_adv, n_aff, skipped, 0, details)


def parse_record(record: Any) -> tuple[Advisory, list[Affected], int] | None:
    """One OSV record as (advisory, affected rows, affected entries skipped); None if withdrawn."""
    if not isinstance(record, dict):
        raise FeedError("an OSV record is not a JSON object")
    vuln_id = record.get("id")
    if not isinstance(vuln_id, str) or not vuln_id:
        raise FeedError("an OSV record has no id")
    if record.get("withdrawn"):
        return None
    aliases = _strings(record.get("aliases"))
    upstream = _strings(record.get("upstream"))
    vector, score, severity = _severity(record)
    advisory = Advisory(
        id=vuln_id,
        source="osv",
        aliases=aliases,
        upstream=upstream,
        summary=str(record.get("summary") or record.get("details") or "").strip()[:1000],
        severity=severity.label if severity is not Severity.UNKNOWN else "",
        cvss_vector=vector,
        cvss_score=score,
        published=str(record.get("published") or ""),
        modified=str(record.get("modified") or ""),
    )
    rows: list[Affected] = []
    other = 0
    affected = record.get("affected") or []
    if not isinstance(affected, list):
        raise FeedError(f"{vuln_id}: 'affected' is not a list")
    for entry in affected:
        row = _affected(vuln_id, entry)
        if row is None:
            other += 1
        else:
            rows.append(row)
    return advisory, rows, other


def _affected(vuln_id: str, entry: Any) -> Affected | None:
    if not isinstance(entry, dict):
        raise FeedError(f"{vuln_id}: an 'affected' entry is not an object")
    package = entry.get("package") or {}
    if not isinstance(package, dict):
        raise FeedError(f"{vuln_id}: 'package' is not an object")
    eco = ecosystem_key(str(package.get("ecosystem") or ""))
    name = package.get("name")
    if eco is None or not isinstance(name, str) or not name:
        return None
    ranges: list[Range] = []
    fixed: list[str] = []
    for r in entry.get("ranges") or []:
        if not isinstance(r, dict) or r.get("type") not in _RANGE_TYPES:
            continue
        events: list[tuple[str, str]] = []
        for event in r.get("events") or []:
            if not isinstance(event, dict):
                raise FeedError(f"{vuln_id}: a range event is not an object")
            for kind in _EVENT_KINDS:
                if kind in event:
                    events.append((kind, str(event[kind])))
                    if kind == "fixed":
                        fixed.append(str(event[kind]))
        if events:
            ranges.append(Range(type=str(r["type"]), events=tuple(events)))
    versions = _strings(entry.get("versions"))
    if not ranges and not versions:
        return None
    specific = entry.get("ecosystem_specific")
    urgency = ""
    if isinstance(specific, dict) and isinstance(specific.get("urgency"), str):
        urgency = specific["urgency"]
    db_specific = entry.get("database_specific")
    if (
        not urgency
        and isinstance(db_specific, dict)
        and isinstance(db_specific.get("severity"), str)
    ):
        urgency = db_specific["severity"]
    return Affected(
        advisory_id=vuln_id,
        source="osv",
        ecosystem=eco,
        package=package_key(eco, name),
        status=FIXED if fixed else OPEN,
        fixed_version=fixed[0] if len(set(fixed)) == 1 else ", ".join(dict.fromkeys(fixed)),
        ranges=tuple(ranges),
        versions=versions,
        urgency=urgency,
    )


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str | int | float) and str(v))


def _severity(record: dict[str, Any]) -> tuple[str, float | None, Severity]:
    """(vector, score, bucket) from `severity`, else `database_specific.severity`."""
    entries = record.get("severity") or []
    by_type: dict[str, str] = {}
    if isinstance(entries, list):
        for s in entries:
            if isinstance(s, dict) and isinstance(s.get("score"), str):
                by_type.setdefault(str(s.get("type")), s["score"])
    for kind in _CVSS_TYPES:
        vector = by_type.get(kind)
        if vector:
            score = score_vector(vector)
            if score is not None:
                return vector, score, from_score(score)
    specific = record.get("database_specific")
    if isinstance(specific, dict) and isinstance(specific.get("severity"), str):
        return "", None, Severity.parse(specific["severity"])
    return "", None, Severity.UNKNOWN
