"""Scanning: an inventory against the database, VEX applied, support notes, and the gate."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hardbase.vuln.db import SourceInfo, SupportNote, VulnDB
from hardbase.vuln.match import (
    FINDING_STATUSES,
    FIXABLE,
    NOT_AFFECTED_STATUS,
    Finding,
    debian_ecosystem,
    match_inventory,
)
from hardbase.vuln.model import InstalledPackage, Inventory
from hardbase.vuln.severity import Severity
from hardbase.vuln.vex import VexStatement, apply_vex

log = logging.getLogger(__name__)

EMPTY_DB_WARNING = "the vulnerability database is empty; run `hardbase db update`"


@dataclass(frozen=True)
class SupportNotice:
    """An installed package whose security support in its release ended or is limited."""

    package: InstalledPackage
    kind: str  # "ended" | "limited"
    last_version: str = ""
    date: str = ""
    note: str = ""


@dataclass(frozen=True)
class ScanResult:
    """Everything one scan found, ready for a report format."""

    inventory: Inventory
    findings: tuple[Finding, ...]
    support: tuple[SupportNotice, ...] = ()
    warnings: tuple[str, ...] = ()
    sources: tuple[SourceInfo, ...] = ()

    def by_severity(self, *, include_not_affected: bool = False) -> dict[str, int]:
        counts = Counter(
            f.severity.label
            for f in self.findings
            if include_not_affected or f.status != NOT_AFFECTED_STATUS
        )
        return {s.label: counts.get(s.label, 0) for s in sorted(Severity, reverse=True)}

    def by_status(self) -> dict[str, int]:
        counts = Counter(f.status for f in self.findings)
        return {s: counts.get(s, 0) for s in FINDING_STATUSES}


def scan(inventory: Inventory, db: VulnDB, *, vex: Sequence[VexStatement] = ()) -> ScanResult:
    """Match an inventory, apply VEX statements, and collect support notes and warnings."""
    warnings: list[str] = []
    if db.is_empty():
        warnings.append(EMPTY_DB_WARNING)
    has_deb = any(p.type == "deb" for p in inventory.packages)
    eco = debian_ecosystem(inventory.os)
    if has_deb and eco is None:
        name = inventory.os.pretty_name or inventory.os.id or "an unknown distribution"
        warnings.append(
            f"the image's Debian packages were not matched: {name} is not a numbered "
            "Debian release with vulnerability data"
        )
    findings = match_inventory(inventory, db)
    if vex:
        findings = apply_vex(findings, vex, inventory)
    support: tuple[SupportNotice, ...] = ()
    if eco is not None:
        support = support_notices(inventory.packages, db.support_notes([eco]))
    return ScanResult(
        inventory=inventory,
        findings=tuple(findings),
        support=support,
        warnings=tuple(warnings),
        sources=tuple(db.sources()),
    )


def support_notices(
    packages: Iterable[InstalledPackage], notes: Sequence[SupportNote]
) -> tuple[SupportNotice, ...]:
    """Support notes that name an installed Debian package's source (names may be regexes)."""
    compiled: list[tuple[re.Pattern[str] | None, SupportNote]] = []
    for n in notes:
        try:
            compiled.append((re.compile(n.package), n))
        except re.error:
            compiled.append((None, n))
    out: dict[tuple[str, str, str], SupportNotice] = {}
    for pkg in packages:
        if pkg.type != "deb":
            continue
        source = pkg.source_name or pkg.name
        for pattern, n in compiled:
            hit = pattern.fullmatch(source) if pattern is not None else n.package == source
            if hit:
                key = (pkg.name, pkg.version, n.kind)
                out.setdefault(key, SupportNotice(pkg, n.kind, n.last_version, n.date, n.note))
    return tuple(sorted(out.values(), key=lambda s: (s.package.name, s.package.version, s.kind)))


def failing(
    result: ScanResult, fail_on: Severity | None, *, include_unfixed: bool = False
) -> list[Finding]:
    """The findings that fail a `--fail-on` gate: fixable (any open status with
    include_unfixed) at or above the severity."""
    if fail_on is None:
        return []
    out = []
    for f in result.findings:
        if f.status == NOT_AFFECTED_STATUS:
            continue
        if f.status != FIXABLE and not include_unfixed:
            continue
        if f.severity >= fail_on:
            out.append(f)
    return out
