"""Matching an inventory against the database: version orderings, ranges, statuses, merging.

Debian packages match by source package and dpkg ordering in the image's
release (`debian:12`, `debian:13`); PyPI packages by PEP 503 name and PEP 440;
npm and crates.io packages by semver; Go modules (and `stdlib`, the toolchain)
by module path and semver without the `v`; Maven artifacts by `group:artifact`
and Maven's own ordering. When several sources describe the same vulnerability
of the same package (same id or alias), their findings merge into one.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease
from hardbase.vuln.records import (
    FIXED,
    NOT_AFFECTED,
    OPEN,
    WONT_FIX,
    Advisory,
    Affected,
    FindingStatus,
    VulnReader,
)
from hardbase.vuln.severity import Severity, from_changelog_urgency, from_urgency

if TYPE_CHECKING:
    from packaging.version import Version

log = logging.getLogger(__name__)

# finding statuses
FIXABLE: Final = FindingStatus.FIXABLE
NO_FIX: Final = FindingStatus.NO_FIX
WONT_FIX_STATUS: Final = FindingStatus.WONT_FIX
NOT_AFFECTED_STATUS: Final = FindingStatus.NOT_AFFECTED
FINDING_STATUSES: Final = tuple(FindingStatus)

# which source decides when sources disagree about a fix (lower wins)
SOURCE_RANK: Final = {"vex": 0, "debian-tracker": 1, "debian-changelog": 2, "osv": 3}


@dataclass(frozen=True)
class Finding:
    """One vulnerability of one installed package."""

    id: str
    aliases: tuple[str, ...]
    package: InstalledPackage
    fixed_version: str | None
    status: FindingStatus
    severity: Severity
    data_source: str  # the sources that contributed, the deciding one first
    summary: str = ""
    cvss_score: float | None = None
    cvss_vector: str = ""
    note: str = ""
    # where `severity` came from: "debian-tracker-urgency", "osv-cvss", "osv-severity",
    # "debian-changelog-urgency", ...; "" when it is unknown
    severity_source: str = ""

    @property
    def ids(self) -> frozenset[str]:
        return frozenset((self.id, *self.aliases))


# -- version orderings --------------------------------------------------------------------


class VersionError(ValueError):
    """A version string does not parse in its ecosystem's scheme."""


Comparator = Callable[[str, str], int]


@functools.cache  # resolved once: compare_debian runs millions of times in a fleet
def _debian_compare() -> Comparator:
    try:
        from hardbase.debian.version import compare_versions

        return compare_versions
    except ImportError:  # pragma: no cover - the archive engineer's module is optional
        from debian.debian_support import version_compare

        def compare(a: str, b: str) -> int:
            try:
                result: int = version_compare(a, b)
            except ValueError as exc:
                raise VersionError(str(exc)) from None
            return (result > 0) - (result < 0)

        return compare


def compare_debian(a: str, b: str) -> int:
    """dpkg ordering: negative, zero or positive as `a` is lower, equal or higher than `b`."""
    result = _debian_compare()(a, b)
    return (result > 0) - (result < 0)


@functools.lru_cache(maxsize=65536)
def _pep440(text: str) -> Version:
    # packaging is imported when a PyPI package is compared, not by every scan
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise VersionError(f"{text!r} is not a PEP 440 version") from None


def compare_pep440(a: str, b: str) -> int:
    va, vb = _pep440(a), _pep440(b)
    return (va > vb) - (va < vb)


_SEMVER = re.compile(
    r"^[v=\s]*(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\s*$"
)


@functools.lru_cache(maxsize=65536)
def _semver(text: str) -> tuple[int, int, int, tuple[str, ...]]:
    m = _SEMVER.match(text)
    if m is None:
        raise VersionError(f"{text!r} is not a semantic version")
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre


def _pre_key(ident: str) -> tuple[int, int, str]:
    # numeric identifiers compare numerically and sort before alphanumeric ones
    return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)


def compare_semver(a: str, b: str) -> int:
    """Semantic Versioning 2.0.0 precedence (build metadata ignored)."""
    ma, mi_a, pa, pre_a = _semver(a)
    mb, mi_b, pb, pre_b = _semver(b)
    if (ma, mi_a, pa) != (mb, mi_b, pb):
        return -1 if (ma, mi_a, pa) < (mb, mi_b, pb) else 1
    if pre_a == pre_b:
        return 0
    if not pre_a:
        return 1  # a release is higher than its pre-releases
    if not pre_b:
        return -1
    ka = [_pre_key(x) for x in pre_a]
    kb = [_pre_key(x) for x in pre_b]
    return -1 if ka < kb else 1


_GO_SHORT = re.compile(r"^v?(\d+)\.(\d+)((?:[-+].*)?)$")


def compare_go(a: str, b: str) -> int:
    """Go module versions (`v1.2.3`, pseudo-versions, `+incompatible`) and toolchain
    versions (`v1.22` is go1.22.0's old spelling) by semver."""
    return compare_semver(_go_version(a), _go_version(b))


def _go_version(text: str) -> str:
    m = _GO_SHORT.match(text)
    return f"{m.group(1)}.{m.group(2)}.0{m.group(3)}" if m else text


def compare_maven(a: str, b: str) -> int:
    from hardbase.vuln.mavenversion import compare

    result = compare(a, b)
    return (result > 0) - (result < 0)


def comparator_for(ecosystem: str, range_type: str = "ECOSYSTEM") -> Comparator:
    if ecosystem == "go":
        return compare_go
    if range_type == "SEMVER" or ecosystem in ("npm", "crates.io"):
        return compare_semver
    if ecosystem == "maven":
        return compare_maven
    if ecosystem.startswith("debian"):
        return compare_debian
    if ecosystem == "pypi":
        return compare_pep440
    raise VersionError(f"no version ordering for ecosystem {ecosystem!r}")


# -- ranges ------------------------------------------------------------------------------


def _is_zero(version: str) -> bool:
    return version == "0"


def in_range(version: str, events: Sequence[tuple[str, str]], compare: Comparator) -> bool:
    """Whether `version` is affected by one OSV range (the OSV spec's evaluation)."""
    limits = [v for k, v in events if k == "limit" and v != "*"]
    if limits and not any(compare(version, lim) < 0 for lim in limits):
        return False

    def cmp_events(x: tuple[str, str], y: tuple[str, str]) -> int:
        # "0" means "before every version"
        zx, zy = _is_zero(x[1]), _is_zero(y[1])
        if zx or zy:
            return zy - zx
        return compare(x[1], y[1])

    keyed = sorted((e for e in events if e[0] != "limit"), key=functools.cmp_to_key(cmp_events))
    affected = False
    for kind, ref in keyed:
        if kind == "introduced":
            if _is_zero(ref) or compare(version, ref) >= 0:
                affected = True
        elif kind == "fixed":
            if compare(version, ref) >= 0:
                affected = False
        elif kind == "last_affected" and compare(version, ref) > 0:
            affected = False
    return affected


def _next_fix(version: str, events: Sequence[tuple[str, str]], compare: Comparator) -> str | None:
    fixes = [v for k, v in events if k == "fixed" and compare(v, version) > 0]
    if not fixes:
        return None
    return min(fixes, key=functools.cmp_to_key(compare))


# -- evidence from one row ---------------------------------------------------------------

_CLEAN = "clean"  # this source says the installed version is not (or no longer) affected


@dataclass(frozen=True)
class _Evidence:
    row: Affected
    verdict: str  # _CLEAN | FIXABLE | NO_FIX | WONT_FIX_STATUS | NOT_AFFECTED_STATUS
    fixed_version: str | None = None


def _lowest_fix_above(row: Affected, version: str) -> str | None:
    best: str | None = None
    for r in row.ranges:
        compare = comparator_for(row.ecosystem, r.type)
        candidate = _next_fix(version, r.events, compare)
        if candidate is not None and (best is None or compare(candidate, best) < 0):
            best = candidate
    return best


def evaluate(row: Affected, version: str) -> _Evidence:
    """What one affected row says about an installed version."""
    if row.status == NOT_AFFECTED:
        return _Evidence(row, NOT_AFFECTED_STATUS)
    if row.ranges or row.versions:
        hit = version in row.versions
        fix: str | None = None
        for r in row.ranges:
            compare = comparator_for(row.ecosystem, r.type)
            if in_range(version, r.events, compare):
                hit = True
                candidate = _next_fix(version, r.events, compare)
                if candidate is not None and (
                    fix is None or comparator_for(row.ecosystem, r.type)(candidate, fix) < 0
                ):
                    fix = candidate
        if not hit:
            return _Evidence(row, _CLEAN)
        if fix is None and row.ranges:
            # named only in `versions` (a pre-release below the range's `introduced`, such
            # as django 3.2rc1 for `introduced: 3.2`): the next fix above it fixes it
            fix = _lowest_fix_above(row, version)
        if fix is not None:
            return _Evidence(row, FIXABLE, fix)
        return _Evidence(row, WONT_FIX_STATUS if row.status == WONT_FIX else NO_FIX)
    if row.status == FIXED and row.fixed_version:
        compare = comparator_for(row.ecosystem)
        if compare(version, row.fixed_version) < 0:
            return _Evidence(row, FIXABLE, row.fixed_version)
        return _Evidence(row, _CLEAN)
    if row.status == WONT_FIX:
        return _Evidence(row, WONT_FIX_STATUS)
    if row.status == OPEN:
        return _Evidence(row, NO_FIX)
    return _Evidence(row, _CLEAN)


# -- the image side ----------------------------------------------------------------------


def debian_ecosystem(os: OSRelease) -> str | None:
    """`debian:12` for a Debian 12 image, None when the image is not a numbered Debian release."""
    if os.id != "debian":
        return None
    major = os.version_id.split(".", 1)[0]
    return f"debian:{major}" if major.isdigit() else None


def package_coordinates(
    pkg: InstalledPackage, debian_eco: str | None
) -> tuple[str, str, str] | None:
    """(ecosystem, database package name, version to compare) for an installed package."""
    if pkg.type == "deb":
        if debian_eco is None:
            return None
        return debian_eco, pkg.source_name or pkg.name, pkg.source_version or pkg.version
    if pkg.type == "pypi":
        from packaging.utils import canonicalize_name

        return "pypi", str(canonicalize_name(pkg.name)), pkg.version
    if pkg.type == "npm":
        return "npm", pkg.name, pkg.version
    if pkg.type == "golang" and pkg.version:
        return "go", pkg.name, pkg.version
    if pkg.type == "maven" and ":" in pkg.name:
        return "maven", pkg.name, pkg.version
    if pkg.type == "cargo":
        return "crates.io", pkg.name, pkg.version
    return None


@dataclass
class _Group:
    keys: set[str]
    evidence: list[_Evidence] = field(default_factory=list)


def match_inventory(inventory: Inventory, db: VulnReader) -> list[Finding]:
    """Every finding for the inventory's packages, merged across sources and sorted."""
    return match_inventories([inventory], db)[0]


def match_inventories(inventories: Sequence[Inventory], db: VulnReader) -> list[list[Finding]]:
    """The findings of many inventories (stored ones, a fleet's), in one database read.

    The rows for every package any inventory holds are loaded once, and each distinct
    (ecosystem, package, version) is evaluated once; the result is in input order.
    """
    per_inventory: list[list[tuple[InstalledPackage, tuple[str, str, str]]]] = []
    wanted: dict[str, set[str]] = {}
    for inventory in inventories:
        debian_eco = debian_ecosystem(inventory.os)
        coords: list[tuple[InstalledPackage, tuple[str, str, str]]] = []
        for pkg in inventory.packages:
            c = package_coordinates(pkg, debian_eco)
            if c is None:
                continue
            coords.append((pkg, c))
            wanted.setdefault(c[0], set()).add(c[1])
        per_inventory.append(coords)
    rows = db.affected_for(wanted) if wanted else []
    by_package: dict[tuple[str, str], list[Affected]] = {}
    for row in rows:
        by_package.setdefault((row.ecosystem, row.package), []).append(row)
    advisories = db.advisories_for({r.advisory_id for r in rows}) if rows else {}
    memo: dict[tuple[str, str, str], list[Finding]] = {}
    out: list[list[Finding]] = []
    for coords in per_inventory:
        findings: list[Finding] = []
        for pkg, (eco, name, version) in coords:
            candidates = by_package.get((eco, name))
            if not candidates:
                continue
            known = memo.get((eco, name, version))
            if known is None:
                known = memo[(eco, name, version)] = match_package(
                    pkg, version, candidates, advisories
                )
                findings.extend(known)
            else:  # the same verdicts, for this image's copy of the package
                findings.extend(dataclasses.replace(f, package=pkg) for f in known)
        out.append(sort_findings(findings))
    return out


def _identity(row: Affected, advisories: dict[str, list[Advisory]]) -> set[str]:
    keys = {row.advisory_id}
    for adv in advisories.get(row.advisory_id, []):
        if adv.source != row.source:
            continue
        keys.update(adv.aliases)
        if len(adv.upstream) == 1:
            keys.update(adv.upstream)
    return keys


def match_package(
    pkg: InstalledPackage,
    version: str,
    rows: Iterable[Affected],
    advisories: dict[str, list[Advisory]],
) -> list[Finding]:
    """Findings for one installed package from its candidate rows."""
    groups: list[_Group] = []
    for row in rows:
        try:
            ev = evaluate(row, version)
        except VersionError as exc:
            log.debug("cannot compare %s %s for %s: %s", pkg.name, version, row.advisory_id, exc)
            continue
        keys = _identity(row, advisories)
        merged = _Group(keys, [ev])
        rest: list[_Group] = []
        for g in groups:
            if g.keys & merged.keys:
                merged.keys |= g.keys
                merged.evidence.extend(g.evidence)
            else:
                rest.append(g)
        groups = [*rest, merged]
    out: list[Finding] = []
    for g in groups:
        finding = _decide(pkg, g, advisories)
        if finding is not None:
            out.append(finding)
    return out


def _rank(source: str) -> int:
    return SOURCE_RANK.get(source, len(SOURCE_RANK))


def _primary_id(keys: set[str]) -> str:
    def order(k: str) -> tuple[int, str]:
        for i, prefix in enumerate(("CVE-", "GHSA-", "PYSEC-")):
            if k.startswith(prefix):
                return i, k
        return 9, k

    return min(keys, key=order)


def _decide(
    pkg: InstalledPackage, g: _Group, advisories: dict[str, list[Advisory]]
) -> Finding | None:
    evidence = sorted(g.evidence, key=lambda e: (_rank(e.row.source), e.row.advisory_id))
    verdicts = {e.verdict for e in evidence}
    fixed: str | None = None
    deciding: _Evidence
    if NOT_AFFECTED_STATUS in verdicts:
        deciding = next(e for e in evidence if e.verdict == NOT_AFFECTED_STATUS)
        status = NOT_AFFECTED_STATUS
    elif verdicts & {_CLEAN, FIXABLE}:
        # the best-ranked source that knows about a fix decides; within it, a hit wins
        best = min(_rank(e.row.source) for e in evidence if e.verdict in (_CLEAN, FIXABLE))
        mine = [
            e for e in evidence if _rank(e.row.source) == best and e.verdict in (_CLEAN, FIXABLE)
        ]
        hits = [e for e in mine if e.verdict == FIXABLE]
        if not hits:
            return None
        deciding = hits[0]
        status = FIXABLE
        compare = comparator_for(deciding.row.ecosystem)
        versions = [e.fixed_version for e in hits if e.fixed_version]
        try:
            fixed = max(versions, key=functools.cmp_to_key(compare)) if versions else None
        except VersionError:
            fixed = versions[0] if versions else None
    elif WONT_FIX_STATUS in verdicts:
        deciding = next(e for e in evidence if e.verdict == WONT_FIX_STATUS)
        status = WONT_FIX_STATUS
    else:
        deciding = evidence[0]
        status = NO_FIX
    sources = [deciding.row.source] + sorted(
        {e.row.source for e in evidence} - {deciding.row.source}, key=_rank
    )
    severity, severity_source, score, vector, summary = _describe(g, evidence, advisories)
    primary = _primary_id(g.keys)
    notes = sorted({e.row.note for e in evidence if e.row.note})
    return Finding(
        id=primary,
        aliases=tuple(sorted(g.keys - {primary})),
        package=pkg,
        fixed_version=fixed,
        status=status,
        severity=severity,
        data_source=", ".join(sources),
        summary=summary,
        cvss_score=score,
        cvss_vector=vector,
        note="; ".join(notes),
        severity_source=severity_source,
    )


def _describe(
    g: _Group, evidence: list[_Evidence], advisories: dict[str, list[Advisory]]
) -> tuple[Severity, str, float | None, str, str]:
    """(severity, where it came from, CVSS score, CVSS vector, summary).

    The best source first: the Debian tracker's urgency (Debian's assessment for its
    own build), then the highest CVSS score any record gives, then a record's own
    label (OSV `database_specific.severity`, a feed's urgency), and last the
    `urgency=` of the Debian changelog entry that fixed it.
    """
    advs: list[Advisory] = []
    for key in sorted(g.keys):
        advs.extend(advisories.get(key, []))
    advs.sort(key=lambda a: (_rank(a.source), a.id))
    scored = [a for a in advs if a.cvss_score is not None]
    best = max(scored, key=lambda a: a.cvss_score or 0.0) if scored else None
    severity, origin = _severity_of(evidence, advs, best)
    summary = next((a.summary for a in advs if a.summary), "")
    return (
        severity,
        origin,
        best.cvss_score if best else None,
        best.cvss_vector if best else "",
        summary,
    )


def _severity_of(
    evidence: list[_Evidence], advs: list[Advisory], best: Advisory | None
) -> tuple[Severity, str]:
    for e in evidence:
        if e.row.source == "debian-tracker" and from_urgency(e.row.urgency) is not Severity.UNKNOWN:
            return from_urgency(e.row.urgency), "debian-tracker-urgency"
    if best is not None and Severity.parse(best.severity) is not Severity.UNKNOWN:
        return Severity.parse(best.severity), f"{best.source}-cvss"
    for a in advs:
        if Severity.parse(a.severity) is not Severity.UNKNOWN:
            return Severity.parse(a.severity), f"{a.source}-severity"
    for e in evidence:
        if e.row.source != "debian-changelog" and Severity.parse(e.row.urgency) is not (
            Severity.UNKNOWN
        ):
            return Severity.parse(e.row.urgency), f"{e.row.source}-urgency"
    from_changelog = [
        from_changelog_urgency(e.row.urgency)
        for e in evidence
        if e.row.source == "debian-changelog"
    ]
    if from_changelog and max(from_changelog) is not Severity.UNKNOWN:
        return max(from_changelog), "debian-changelog-urgency"
    return Severity.UNKNOWN, ""


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (
            -int(f.severity),
            f.package.type,
            f.package.name,
            f.package.version,
            f.package.path,
            f.package.layer,
            f.id,
        ),
    )
