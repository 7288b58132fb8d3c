"""Scanning: an inventory against the database, VEX applied, support notes, and the gate."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hardbase.vuln.match import (
    FINDING_STATUSES,
    FIXABLE,
    NO_FIX,
    NOT_AFFECTED_STATUS,
    WONT_FIX_STATUS,
    Finding,
    debian_ecosystem,
    match_inventory,
)
from hardbase.vuln.model import InstalledPackage, Inventory
from hardbase.vuln.records import FIXED, OPEN, WONT_FIX, SourceInfo, SupportNote, VulnReader
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
class Coverage:
    """Whether the database holds one class of data for the packages an image contains."""

    name: str  # "debian-fixed" | "debian-open" | "pypi" | "npm" | "go" | "maven" | "crates.io"
    title: str
    packages: int | None  # installed packages of the class; None: hardbase does not inventory it
    records: int  # database rows of the class (for the image's release)
    sources: tuple[str, ...] = ()

    @property
    def missing(self) -> bool:
        """Packages of this class are in the image, and nothing can check them."""
        return self.packages is None or (self.packages > 0 and self.records == 0)


# class -> (title, how to get the data)
COVERAGE_CLASSES: dict[str, tuple[str, str]] = {
    "debian-fixed": ("Debian fixed", "`hardbase db update --source debian-changelog`"),
    "debian-open": ("Debian open/no-dsa (tracker)", "`hardbase db update --source debian-tracker`"),
    "pypi": ("PyPI", "`hardbase db update --source osv`"),
    "npm": ("npm", "`hardbase db update --source osv`"),
    "go": ("Go", "`hardbase db update --source osv`"),
    "maven": ("Maven", "`hardbase db update --source osv`"),
    "crates.io": ("crates.io", "`hardbase db update --source osv`"),
}


def coverage_warning(c: Coverage) -> str:
    if c.packages is None:
        return (
            f"{c.title} packages are not checked: hardbase does not inventory them, so any in "
            "this image have no findings"
        )
    return (
        f"no {c.title} vulnerability data in the database for this image's {c.packages} "
        f"packages; get it with {COVERAGE_CLASSES[c.name][1]}"
    )


LANGUAGE_ECOSYSTEMS = ("pypi", "npm", "go", "maven", "crates.io")


def coverage_ecosystems(inventory: Inventory) -> list[str]:
    """The ecosystems whose counts `coverage` reads (a scan counts only these rows)."""
    eco = debian_ecosystem(inventory.os)
    return [*([eco] if eco is not None else []), *LANGUAGE_ECOSYSTEMS]


def coverage(inventory: Inventory, counts: dict[tuple[str, str, str], int]) -> tuple[Coverage, ...]:
    """The data classes the database holds for this image (from `VulnDB.ecosystem_counts`)."""
    eco = debian_ecosystem(inventory.os)
    types = Counter(p.type for p in inventory.packages)
    debs = types.get("deb", 0) if eco is not None else 0

    def rows(
        ecosystem: str | None, statuses: tuple[str, ...] | None = None
    ) -> tuple[int, list[str]]:
        n, names = 0, set()
        for (source, e, status), count in counts.items():
            if e == ecosystem and (statuses is None or status in statuses):
                n += count
                names.add(source)
        return n, sorted(names)

    out: list[Coverage] = []
    for name, packages, (records, sources) in (
        ("debian-fixed", debs, rows(eco, (FIXED,))),
        ("debian-open", debs, rows(eco, (OPEN, WONT_FIX))),
        ("pypi", types.get("pypi", 0), rows("pypi")),
        ("npm", types.get("npm", 0), rows("npm")),
        ("go", types.get("golang", 0), rows("go")),
        ("maven", types.get("maven", 0), rows("maven")),
        ("crates.io", types.get("cargo", 0), rows("crates.io")),
    ):
        out.append(Coverage(name, COVERAGE_CLASSES[name][0], packages, records, tuple(sources)))
    return tuple(out)


@dataclass(frozen=True)
class ScanResult:
    """Everything one scan found, ready for a report format."""

    inventory: Inventory
    findings: tuple[Finding, ...]
    support: tuple[SupportNotice, ...] = ()
    warnings: tuple[str, ...] = ()
    sources: tuple[SourceInfo, ...] = ()
    coverage: tuple[Coverage, ...] = ()

    @property
    def unknown_severity(self) -> int:
        """Open findings no source gives a severity for (never shown as zero when present)."""
        return sum(
            1
            for f in self.findings
            if f.status != NOT_AFFECTED_STATUS and f.severity is Severity.UNKNOWN
        )

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


def scan(inventory: Inventory, db: VulnReader, *, vex: Sequence[VexStatement] = ()) -> ScanResult:
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
    covered = coverage(inventory, db.ecosystem_counts(coverage_ecosystems(inventory)))
    warnings.extend(coverage_warning(c) for c in covered if c.missing and c.packages)
    return ScanResult(
        inventory=inventory,
        findings=tuple(findings),
        support=support,
        warnings=tuple(warnings),
        sources=tuple(db.sources()),
        coverage=covered,
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


@dataclass(frozen=True)
class Gate:
    """Which findings fail a scan: `--fail-on`, `--include-unfixed`, `--fail-on-unknown`,
    `--severity`.

    A finding fails when it is open (fixable; any open status with `include_unfixed`)
    and at or above `threshold`, or, with `fail_on_unknown`, of unknown severity: a
    finding nobody rated is not taken to be harmless. `severities` narrows the gate
    to those buckets, but never hides an unknown finding while `fail_on_unknown` holds.
    `threshold` None with `any_finding` fails on every open finding (`--exit-code`
    without `--fail-on`).
    """

    threshold: Severity | None = None
    include_unfixed: bool = False
    fail_on_unknown: bool = True
    severities: frozenset[Severity] | None = None
    any_finding: bool = False

    @property
    def active(self) -> bool:
        return self.threshold is not None or self.any_finding

    def failing(self, result: ScanResult) -> list[Finding]:
        if not self.active:
            return []
        open_statuses = (FIXABLE, NO_FIX, WONT_FIX_STATUS)
        out = []
        for f in result.findings:
            if f.status not in open_statuses:
                continue
            if self.threshold is not None and f.status != FIXABLE and not self.include_unfixed:
                continue
            unknown = f.severity is Severity.UNKNOWN
            if unknown and self.fail_on_unknown:
                out.append(f)
                continue
            if self.severities is not None and f.severity not in self.severities:
                continue
            if self.threshold is None or f.severity >= self.threshold:
                out.append(f)
        return out


def failing(
    result: ScanResult,
    fail_on: Severity | None,
    *,
    include_unfixed: bool = False,
    fail_on_unknown: bool = True,
) -> list[Finding]:
    """The findings that fail a `--fail-on` gate (see `Gate`)."""
    return Gate(fail_on, include_unfixed, fail_on_unknown).failing(result)
