"""The six-dimension scorecard: the measured numbers of each image and a verdict per dimension.

Dimensions: security posture, minimality, operational consistency,
compliance, ecosystem compatibility, long-term maintainability. The JSON
document (`Scorecard.to_json()`, evaluate/model.py) is the source every other format (HTML,
Markdown) renders from, so they always show the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from hardbase import __version__
from hardbase.evaluate.facts import ImageFacts, collect_facts, dpkg_package_count, is_oci
from hardbase.evaluate.measure import (
    Measurements,
    check_reproducible,
    distro_support,
    find_artifacts,
    find_vulnerabilities,
    lock_pinned,
    smoke_run,
)
from hardbase.evaluate.model import (
    CisCheck,
    Compliance,
    Consistency,
    Dimension,
    DimensionKey,
    Ecosystem,
    ImageCard,
    Maintainability,
    Minimality,
    NewestUpdate,
    Recommendation,
    Scorecard,
    Security,
)
from hardbase.util import clock
from hardbase.util.progress import NullProgress, Progress
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import FIXABLE, NO_FIX
from hardbase.vuln.scan import EMPTY_DB_WARNING
from hardbase.vuln.severity import Severity
from hardbase.vuln.vex import VexStatement

log = logging.getLogger(__name__)

DIMENSIONS: tuple[tuple[DimensionKey, str], ...] = (
    ("security", "Security posture"),
    ("minimality", "Minimality"),
    ("consistency", "Operational consistency"),
    ("compliance", "Compliance"),
    ("ecosystem", "Ecosystem compatibility"),
    ("maintainability", "Long-term maintainability"),
)
VERDICTS = ("good", "fair", "poor", "unknown")
# What each verdict means, in general and per dimension (the rules image_card applies).
VERDICT_MEANINGS = {
    "good": "meets the bar for a production base image",
    "fair": "usable, with a caveat to look at",
    "poor": "fails the bar: fix it before relying on the image",
    "unknown": "could not be measured here (no data or no access)",
}
LEGEND = {
    "security": "good: no fixable finding; fair: fixable low or medium findings, or an open "
    "(unfixed) high or critical one; poor: a fixable critical, high or unknown-severity "
    "finding; unknown: not scanned (no database)",
    "minimality": "good: no shell, package manager, compiler or setuid file; fair: one of "
    "those four kinds; poor: two or more",
    "consistency": "good: rebuilt from its lock to the same digest; fair: pinned by a lock, "
    "not rebuilt here; poor: no lock, or the rebuild gave another digest",
    "compliance": "good: SBOM, signature and provenance present and a non-root user; fair: "
    "one of the three or a non-root user; poor: none of them and root",
    "ecosystem": "good: OCI media types, CA bundle, tzdata and libc present (and it runs "
    "when smoke-tested); fair: one of them missing; poor: the smoke run failed",
    "maintainability": "good: more than a year of distribution security support left; fair: "
    "less than a year, or packages with limited support; poor: support ended for the "
    "distribution or a package; unknown: release not recognised",
}
# licences whose terms reach derived or combined works (strong) or modified files (weak)
COPYLEFT_STRONG = ("GPL-", "AGPL-", "SSPL-", "OSL-", "EUPL-")
COPYLEFT_WEAK = ("LGPL-", "MPL-", "EPL-", "CDDL-", "CPL-")


@dataclass(frozen=True)
class CompareOptions:
    db: VulnDB | None = None
    vex: Sequence[VexStatement] = ()
    insecure: bool = False
    smoke: str | None = None  # a command to run in each image under podman
    rebuild: Mapping[str, Path] = field(default_factory=dict)  # reference -> spec
    today: date | None = None
    arch: str | None = None


def measure_image(ref: str, options: CompareOptions) -> Measurements:
    """Every measurement of one image the scorecard needs."""
    facts = collect_facts(ref, insecure=options.insecure, arch=options.arch)
    m = Measurements(facts)
    m.warnings.extend(facts.warnings)
    if options.db is not None:
        m.scan, m.fix_ages = find_vulnerabilities(
            facts, options.db, options.vex, today=options.today
        )
        m.warnings.extend(m.scan.warnings)
    m.artifacts = find_artifacts(facts, insecure=options.insecure)
    spec = options.rebuild.get(ref)
    if spec is not None:
        m.reproducible, m.reproducible_note = check_reproducible(facts, spec)
    elif not lock_pinned(facts):
        m.reproducible_note = "not built from a hardbase lock; nothing to rebuild from"
    if options.smoke:
        m.runs, m.run_note = smoke_run(facts, options.smoke, insecure=options.insecure)
    return m


def _licence_ids(expression: str) -> list[str]:
    from hardbase.policy.rules import symbols

    return symbols(expression)


def _copyleft(license_id: str) -> Literal["weak", "strong", ""]:
    if license_id.startswith(COPYLEFT_WEAK):
        return "weak"
    if license_id.startswith(COPYLEFT_STRONG):
        return "strong"
    return ""


def _cis(facts: ImageFacts) -> list[CisCheck]:
    """CIS Docker benchmark-style checks on the filesystem (section 4 and friends)."""
    tmp = facts.tree.files.get("tmp")
    shadow = facts.tree.files.get("etc/shadow")
    known = set(facts.users.values()) | {0}
    unowned = [p for p, f in facts.tree.files.items() if facts.users and f.uid not in known]
    checks = [
        ("default user is not root", not facts.runs_as_root, facts.user or "(unset: root)"),
        ("no setuid/setgid files", not facts.setuid_files(), f"{len(facts.setuid_files())} found"),
        (
            "nothing world-writable outside /tmp and /var/tmp",
            not facts.world_writable(("tmp", "var/tmp")),
            ", ".join(facts.world_writable(("tmp", "var/tmp"))[:5]) or "none",
        ),
        (
            "/tmp is sticky",
            tmp is None or bool(tmp.mode & 0o1000),
            "absent" if tmp is None else oct(tmp.mode),
        ),
        (
            "/etc/shadow not world-readable",
            shadow is None or not shadow.mode & 0o004,
            "absent" if shadow is None else oct(shadow.mode),
        ),
        ("every file owned by a known user", not unowned, f"{len(unowned)} files"),
    ]
    return [CisCheck(check=c, ok=ok, detail=d) for c, ok, d in checks]


def image_card(m: Measurements, today: date) -> ImageCard:
    """The scorecard entry of one image."""
    f = m.facts
    by_severity: dict[str, int] = {}
    by_status: dict[str, int] = {}
    fixable_by_severity: dict[str, int] = {}
    scanned = m.scan is not None and EMPTY_DB_WARNING not in m.scan.warnings
    if m.scan is not None and scanned:
        by_severity = m.scan.by_severity()
        by_status = m.scan.by_status()
        fixable_by_severity = {s.label: 0 for s in sorted(Severity, reverse=True)}
        for finding in m.scan.findings:
            if finding.status == FIXABLE:
                fixable_by_severity[finding.severity.label] += 1
    dated = [a.days for a in m.fix_ages if a.days is not None]
    fixable = by_status.get(FIXABLE, 0)
    high_fixable = sum(fixable_by_severity.get(s, 0) for s in ("critical", "high", "unknown"))
    open_high = sum(
        1
        for x in (m.scan.findings if m.scan else ())
        if x.status == NO_FIX and x.severity >= Severity.HIGH
    )
    security = Security(
        scanned=scanned,
        findings_total=(
            sum(n for s, n in by_status.items() if s != "not-affected") if scanned else None
        ),
        by_severity=by_severity,
        by_status=by_status,
        fixable_by_severity=fixable_by_severity or None,
        oldest_unapplied_fix_days=max(dated) if dated else None,
        undated_fixes=sum(1 for a in m.fix_ages if a.days is None),
        verdict=(
            "unknown"
            if not scanned
            else "poor"
            if high_fixable
            else "fair"
            if fixable or open_high
            else "good"
        ),
    )
    shells = f.shells()
    managers = f.package_managers()
    compilers = f.compilers()
    setuid = f.setuid_files()
    extras = sum(bool(x) for x in (shells, managers, compilers, setuid))
    minimality = Minimality(
        compressed_bytes=f.compressed_size,
        uncompressed_bytes=f.uncompressed_size,
        layers=f.layer_count,
        packages=len(f.packages_of("deb")),
        dpkg_packages=dpkg_package_count(f.tree),
        python_packages=len(f.packages_of("pypi")),
        npm_packages=len(f.packages_of("npm")),
        go_packages=len(f.packages_of("golang")),
        maven_packages=len(f.packages_of("maven")),
        cargo_packages=len(f.packages_of("cargo")),
        files=f.file_count,
        shell=bool(shells),
        shells=shells,
        package_manager=bool(managers),
        package_managers=managers,
        compilers=compilers,
        setuid_files=setuid,
        verdict="good" if extras == 0 else "fair" if extras <= 1 else "poor",
    )
    pinned = lock_pinned(f)
    consistency = Consistency(
        reproducible=m.reproducible,
        reproducible_note=m.reproducible_note,
        architectures=[str(p) for p in f.platforms],
        lock_pinned=pinned,
        verdict=(
            "good"
            if m.reproducible
            else "poor"
            if m.reproducible is False or not pinned
            else "fair"
        ),
    )
    licences: dict[str, list[str]] = {}
    for pkg, exprs in f.licenses.items():
        for e in exprs:
            for lid in _licence_ids(e):
                licences.setdefault(lid, []).append(pkg)
    copyleft = {lid: kind for lid in sorted(licences) if (kind := _copyleft(lid))}
    cis = _cis(f)
    a = m.artifacts
    present = sum(bool(x) for x in (a.sbom, a.signature, a.provenance))
    compliance = Compliance(
        sbom=a.sbom,
        signature=a.signature,
        provenance=a.provenance,
        artifacts_note=a.note,
        default_user=f.user or "root (unset)",
        runs_as_root=f.runs_as_root,
        packages_with_licence=len(f.licenses),
        licences={lid: sorted(set(p)) for lid, p in sorted(licences.items())},
        copyleft=copyleft,
        cis=cis,
        cis_passed=sum(1 for c in cis if c.ok),
        verdict=(
            "good"
            if present == 3 and not f.runs_as_root
            else "fair"
            if (present >= 1 or not f.runs_as_root)
            else "poor"
        ),
    )
    oci_types = is_oci(f.manifest_media_type) and all(is_oci(t) for t in f.layer_media_types)
    needed: tuple[tuple[Literal["CA bundle", "tzdata", "libc"], object], ...] = (
        ("CA bundle", f.ca_bundle()),
        ("tzdata", f.has_tzdata()),
        ("libc", f.libc()),
    )
    missing = [name for name, ok in needed if not ok]
    ecosystem = Ecosystem(
        manifest_media_type=f.manifest_media_type,
        layer_media_types=sorted(set(f.layer_media_types)),
        oci_media_types=oci_types,
        runs=m.runs,
        run_note=m.run_note,
        ca_bundle=f.ca_bundle(),
        tzdata=f.has_tzdata(),
        libc=f.libc(),
        runtimes=f.runtimes(),
        missing=missing,
        verdict=("poor" if m.runs is False else "good" if not missing and oci_types else "fair"),
    )
    support = distro_support(f, today=today)
    notices = m.scan.support if m.scan else ()
    ended = [f"{n.package.name} {n.package.version}" for n in notices if n.kind == "ended"]
    limited = [f"{n.package.name} {n.package.version}" for n in notices if n.kind == "limited"]
    newest = next((u for u in f.updates if u.date), None)
    newest_age = (today - date.fromisoformat(newest.date)).days if newest is not None else None
    maintainability = Maintainability(
        distro=f.inventory.os.pretty_name or f.inventory.os.id or "unknown",
        release=support.release,
        security_support_end=support.security_end or None,
        lts_end=support.lts_end or None,
        support_days_left=support.days_left,
        packages_support_ended=ended,
        packages_support_limited=limited,
        support_data=m.scan is not None
        and any(s.name == "debian-security-support" for s in m.scan.sources),
        stable_updates_installed=len(f.updates),
        newest_update=(
            NewestUpdate(package=newest.package, version=newest.version, date=newest.date)
            if newest
            else None
        ),
        newest_update_age_days=newest_age,
        verdict=(
            "unknown"
            if support.days_left is None
            else "poor"
            if support.days_left < 0 or ended
            else "fair"
            if support.days_left < 365 or limited
            else "good"
        ),
    )
    parts = (security, minimality, consistency, compliance, ecosystem, maintainability)
    sections: dict[str, dict[str, Any]] = {
        key: part.model_dump() for (key, _), part in zip(DIMENSIONS, parts, strict=True)
    }
    return ImageCard(
        reference=f.reference,
        title=f.annotations.get("org.opencontainers.image.title", "") or f.reference,
        digest=f.digest,
        index_digest=f.index_digest or None,
        architecture=f.architecture,
        security=security,
        minimality=minimality,
        consistency=consistency,
        compliance=compliance,
        ecosystem=ecosystem,
        maintainability=maintainability,
        warnings=list(dict.fromkeys(m.warnings)),
        recommendation=Recommendation.model_validate(recommendation(sections)),
    )


def recommendation(card: Mapping[str, Any]) -> dict[str, str]:
    """One sentence on what to do with the image, from its dimensions (docs/scorecard.md).

    The first rule that applies wins: not scanned, fixable findings, does not
    run, support ended, any other poor dimension; otherwise it is suitable,
    with the fair dimensions named.
    """
    sec = card["security"]
    titles = dict(DIMENSIONS)
    if not sec["scanned"]:
        return {
            "rule": "not-scanned",
            "text": "not assessed: scan it against a vulnerability database first",
        }
    fixable = int(sec["by_status"].get(FIXABLE, 0))
    if fixable:
        by = sec["fixable_by_severity"] or {}
        severe = int(by.get("critical", 0)) + int(by.get("high", 0))
        unknown = int(by.get("unknown", 0))
        return {
            "rule": "fixable",
            "text": f"needs patching: {fixable} fixable ({severe} critical or high, "
            f"{unknown} of unknown severity)",
        }
    if card["ecosystem"]["runs"] is False:
        return {"rule": "does-not-run", "text": "does not run: the smoke test failed"}
    if card["maintainability"]["verdict"] == "poor":
        return {
            "rule": "support-ended",
            "text": "move to a supported base: security support has ended for the "
            "distribution or some of its packages",
        }
    poor = [titles[k].lower() for k, _ in DIMENSIONS if card[k]["verdict"] == "poor"]
    if poor:
        return {"rule": "poor", "text": f"harden before production use: poor {', '.join(poor)}"}
    fair = [titles[k].lower() for k, _ in DIMENSIONS if card[k]["verdict"] == "fair"]
    text = "suitable as a production base"
    return {"rule": "suitable", "text": text + (f" (fair: {', '.join(fair)})" if fair else "")}


def compare(
    refs: Sequence[str], options: CompareOptions | None = None, progress: Progress | None = None
) -> Scorecard:
    """Measure every image and return the scorecard document (`.to_json()` is what
    `compare --json` writes)."""
    options = options or CompareOptions()
    progress = progress or NullProgress()
    today = options.today or datetime.now(UTC).date()
    cards = []
    progress.start(f"scoring {len(refs)} image{'' if len(refs) == 1 else 's'}", len(refs))
    for ref in refs:
        cards.append(image_card(measure_image(ref, options), today))
        progress.advance()
    progress.finish()
    return Scorecard(
        scorecard=1,
        generated=clock.now_rfc3339(),
        date=today.isoformat(),
        hardbase=__version__,
        database=options.db.location if options.db is not None else None,
        dimensions=[Dimension(key=k, title=t) for k, t in DIMENSIONS],
        images=cards,
    )


def summary_rows() -> list[tuple[str, str, str, str]]:
    """The summary table: (label, dimension, key, kind) for each row, in order."""
    return [
        ("Fixable findings", "security", "by_status.fixable", "int"),
        ("Critical + high findings", "security", "by_severity.critical+high", "int"),
        # shown next to critical + high so that unrated findings never read as zero
        ("Unknown-severity findings", "security", "by_severity.unknown", "int"),
        ("All open findings", "security", "findings_total", "int"),
        ("Oldest unapplied fix (days)", "security", "oldest_unapplied_fix_days", "int"),
        ("Compressed size", "minimality", "compressed_bytes", "bytes"),
        ("Uncompressed size", "minimality", "uncompressed_bytes", "bytes"),
        ("Layers", "minimality", "layers", "int"),
        ("Debian packages", "minimality", "packages", "int"),
        ("Files", "minimality", "files", "int"),
        ("Shell", "minimality", "shell", "bool"),
        ("Package manager", "minimality", "package_manager", "bool"),
        ("Setuid/setgid files", "minimality", "setuid_files#", "int"),
        ("Reproducible", "consistency", "reproducible", "bool"),
        ("Pinned lock", "consistency", "lock_pinned", "bool"),
        ("SBOM", "compliance", "sbom", "bool"),
        ("Signature", "compliance", "signature", "bool"),
        ("Provenance", "compliance", "provenance", "bool"),
        ("Runs as root", "compliance", "runs_as_root", "bool"),
        ("OCI media types", "ecosystem", "oci_media_types", "bool"),
        ("Runs (smoke test)", "ecosystem", "runs", "bool"),
        ("Distribution", "maintainability", "distro", "str"),
        ("Support ends", "maintainability", "lts_end", "str"),
    ]


def row_value(card: Mapping[str, Any], dimension: str, key: str) -> Any:
    """The value a summary row shows for one image (the JSON field, or a sum or count of them)."""
    section = card[dimension]
    if key.endswith("#"):
        return len(section[key[:-1]])
    if "." in key:
        head, _, tail = key.partition(".")
        table = section[head]
        if "+" in tail:
            return sum(int(table.get(k, 0)) for k in tail.split("+")) if table else None
        return table.get(tail) if table else None
    return section[key]


def format_value(value: Any, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "bytes":
        return f"{value / 1e6:.1f} MB"
    return str(value)
