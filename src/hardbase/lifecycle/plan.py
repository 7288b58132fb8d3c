"""What an image needs: upgrades and fixable findings of its locked packages, and the new lock.

`detect` compares an image's lock with the archive as it is now (a newer
version in a `-security` or `-updates` suite) and with the vulnerability
database (a fixable finding whose fixed version the archive already has).
`relock` makes the new lock: `minimal` resolves against an index where every
locked package that needs no upgrade is pinned to its locked version (so only
what must change changes), falling back to `full` when the pins cannot hold;
`full` resolves everything afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hardbase.build.lock import (
    Lock,
    LockedPackage,
    lock_from_index,
)
from hardbase.build.spec import RELEASES, ImageSpec
from hardbase.debian.index import PackageIndex
from hardbase.debian.model import BinaryPackage, ReleaseInfo
from hardbase.debian.version import compare_versions
from hardbase.errors import ResolveError
from hardbase.util.paths import cache_dir
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import FIXABLE, NOT_AFFECTED_STATUS, Finding, match_inventory
from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease

log = logging.getLogger(__name__)

UPDATE_SUITES = ("-security", "-updates")


@dataclass(frozen=True)
class Upgrade:
    """A locked package with a newer version in a security or updates suite."""

    name: str
    arch: str
    old: str
    new: str
    suite: str

    @property
    def key(self) -> str:
        return f"package:{self.name}:{self.arch}={self.new}"


@dataclass(frozen=True)
class Fix:
    """A fixable finding of a locked package whose fixed version the archive has."""

    id: str
    source: str
    fixed: str
    severity: str

    @property
    def key(self) -> str:
        return f"finding:{self.id}:{self.source}"


@dataclass(frozen=True)
class Plan:
    """Why an image needs a rebuild, and which packages must move."""

    upgrades: tuple[Upgrade, ...] = ()
    fixes: tuple[Fix, ...] = ()
    targets: frozenset[str] = field(default_factory=frozenset)  # binary package names

    @property
    def needed(self) -> bool:
        return bool(self.targets)

    @property
    def keys(self) -> list[str]:
        return [u.key for u in self.upgrades] + [f.key for f in self.fixes]

    def reason(self) -> str:
        parts = [f"{u.name} {u.old} -> {u.new} ({u.suite})" for u in self.upgrades[:5]]
        if len(self.upgrades) > 5:
            parts.append(f"and {len(self.upgrades) - 5} more upgrades")
        if self.fixes:
            ids = sorted({f.id for f in self.fixes})
            parts.append(f"fixes {', '.join(ids[:5])}" + (" …" if len(ids) > 5 else ""))
        return "; ".join(parts)


def load_index(spec: ImageSpec) -> tuple[PackageIndex, list[ReleaseInfo]]:
    """The spec's archive as it is now: every InRelease verified, indexes cached by hash."""
    from hardbase.debian.archive import Archive

    archive = Archive(spec.sources, cache_dir=cache_dir() / "archive")
    return archive.load(spec.archs)


def lock_inventory(lock: Lock, release: str) -> Inventory:
    """The inventory an image built from `lock` has, without building it."""
    os_release = OSRelease(
        id="debian", version_id=RELEASES.get(release, ""), version_codename=release
    )
    packages = tuple(
        InstalledPackage(
            type="deb",
            name=p.name,
            version=p.version,
            source_name=p.source,
            source_version=p.source_version,
            arch=p.arch,
        )  # fmt: skip
        for p in lock.all_packages()
    )
    return Inventory(
        reference=f"lock:{lock.spec_name}", digest="", os=os_release, packages=packages
    )


def lock_findings(lock: Lock, db: VulnDB) -> list[Finding]:
    return match_inventory(lock_inventory(lock, lock.release), db)


def _in_update_suite(pkg: BinaryPackage) -> bool:
    return pkg.suite.endswith(UPDATE_SUITES)


def detect(lock: Lock, index: PackageIndex, findings: Iterable[Finding]) -> Plan:
    """The upgrades and available fixes for the packages in `lock`."""
    upgrades: list[Upgrade] = []
    targets: set[str] = set()
    for pkg in lock.all_packages():
        newer = [
            c for c in index.candidates(pkg.name, pkg.arch)
            if compare_versions(c.version, pkg.version) > 0 and _in_update_suite(c)
        ]  # fmt: skip
        if newer:
            best = newer[0]
            upgrades.append(Upgrade(pkg.name, pkg.arch, pkg.version, best.version, best.suite))
            targets.add(pkg.name)
    by_source: dict[str, list[LockedPackage]] = {}
    for pkg in lock.all_packages():
        by_source.setdefault(pkg.source, []).append(pkg)
    fixes: dict[str, Fix] = {}
    for finding in findings:
        if finding.status != FIXABLE or not finding.fixed_version:
            continue
        source = finding.package.source_name or finding.package.name
        binaries = by_source.get(source, [])
        fixed = finding.fixed_version
        available = [
            b.name
            for b in binaries
            if any(
                c.source == source and compare_versions(c.source_version, fixed) >= 0
                for c in index.candidates(b.name, b.arch)
            )
        ]
        if not available:
            log.info("%s in %s: the fix %s is not in the archive yet", finding.id, source,
                     finding.fixed_version)  # fmt: skip
            continue
        fix = Fix(finding.id, source, finding.fixed_version, finding.severity.label)
        fixes.setdefault(fix.key, fix)
        targets.update(available)
    return Plan(tuple(upgrades), tuple(fixes[k] for k in sorted(fixes)), frozenset(targets))


def relock(
    spec: ImageSpec,
    old: Lock | None,
    index: PackageIndex,
    releases: Sequence[ReleaseInfo],
    *,
    mode: str,
    targets: Iterable[str],
) -> Lock:
    """The new lock: `minimal` moves only `targets` (and what they need), `full` everything."""
    if mode == "full" or old is None:
        return lock_from_index(spec, index, releases)
    move = set(targets)
    pinned = {(p.name, p.arch): p for p in old.all_packages() if p.name not in move}
    filtered = PackageIndex(
        p for p in index.packages()
        if (pin := pinned.get((p.name, p.arch))) is None or p.version == pin.version
    )  # fmt: skip
    try:
        return lock_from_index(spec, filtered, releases)
    except ResolveError as exc:
        log.info("minimal relock of %s impossible (%s); relocking fully", spec.name, exc)
        return lock_from_index(spec, index, releases)


def package_hash(lock: Lock) -> str:
    """Identity of a lock's package set (not of the InRelease dates it was made from)."""
    doc = {
        "spec": lock.spec_hash,
        "archs": {
            arch: [[p.name, p.version, p.arch, p.sha256, p.tier] for p in pkgs]
            for arch, pkgs in sorted(lock.packages.items())
        },
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def lock_changes(old: Lock | None, new: Lock) -> list[dict[str, str]]:
    """Packages whose version differs between two locks (added, removed or moved)."""
    before = {(p.name, p.arch): p.version for p in old.all_packages()} if old else {}
    after = {(p.name, p.arch): p.version for p in new.all_packages()}
    out = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            out.append({
                "package": key[0], "arch": key[1],
                "old": before.get(key, ""), "new": after.get(key, ""),
            })  # fmt: skip
    return out


def open_findings(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.status != NOT_AFFECTED_STATUS]
