"""The policy rules, one small class each, and `rules_for()` which builds them from a policy."""

from __future__ import annotations

import fnmatch
import functools
import logging
from dataclasses import dataclass
from typing import Any

from hardbase.policy.interface import AnyOf, Rule, RuleResult, Subject
from hardbase.policy.model import Filesystem, Policy, Vulnerabilities
from hardbase.vuln.match import FIXABLE, NO_FIX, WONT_FIX_STATUS, Finding
from hardbase.vuln.scan import EMPTY_DB_WARNING
from hardbase.vuln.severity import Severity

log = logging.getLogger(__name__)

_MB = 1_000_000
_SHOW = 5  # items named in a reason before "and N more"


def _names(items: list[str], limit: int = _SHOW) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _finding(f: Finding) -> str:
    fix = f" (fixed in {f.fixed_version})" if f.fixed_version else ""
    return f"{f.id} {f.severity.label} in {f.package.name} {f.package.version}{fix}"


# -- identity and filesystem -------------------------------------------------------------


@dataclass(frozen=True)
class NonRoot:
    name: str = "non-root user"

    def check(self, s: Subject) -> RuleResult:
        user = s.facts.user or "(unset: root)"
        uid = s.facts.uid
        if uid is None:
            return RuleResult(self.name, False, f"user {user} is not in etc/passwd; uid unknown")
        if uid == 0:
            return RuleResult(self.name, False, f"the default user is {user}, which is root")
        return RuleResult(self.name, True, f"the default user is {user} (uid {uid})")


@dataclass(frozen=True)
class NoShell:
    name: str = "no shell"

    def check(self, s: Subject) -> RuleResult:
        found = s.facts.shells()
        if found:
            return RuleResult(
                self.name, False, f"shells present: {_names(found)}", details=tuple(found)
            )
        return RuleResult(self.name, True, "no shell (sh, bash, dash, ash, busybox, zsh)")


@dataclass(frozen=True)
class NoPackageManager:
    name: str = "no package manager"

    def check(self, s: Subject) -> RuleResult:
        found = s.facts.package_managers()
        if found:
            return RuleResult(self.name, False, f"package managers present: {_names(found)}")
        return RuleResult(self.name, True, "no dpkg, apt, apk, rpm, yum, dnf, pip or npm")


@dataclass(frozen=True)
class NoSetuid:
    name: str = "no setuid/setgid files"

    def check(self, s: Subject) -> RuleResult:
        found = s.facts.setuid_files()
        if found:
            return RuleResult(
                self.name,
                False,
                f"{len(found)} setuid/setgid files: {_names(found)}",
                details=tuple(found),
            )
        return RuleResult(self.name, True, "no file has the setuid or setgid bit")


@dataclass(frozen=True)
class NoWorldWritable:
    allowed: tuple[str, ...]
    name: str = "no world-writable paths"

    def check(self, s: Subject) -> RuleResult:
        found = s.facts.world_writable(self.allowed)
        where = ", ".join(self.allowed) or "anywhere"
        if found:
            return RuleResult(
                self.name,
                False,
                f"world-writable outside {where}: {_names(found)}",
                details=tuple(found),
            )
        return RuleResult(self.name, True, f"nothing is world-writable outside {where}")


@dataclass(frozen=True)
class MaxSize:
    limit_mb: float
    name: str = "maximum compressed size"

    def check(self, s: Subject) -> RuleResult:
        size = s.facts.compressed_size / _MB
        ok = size <= self.limit_mb
        verb = "within" if ok else "over"
        return RuleResult(self.name, ok, f"{size:.1f} MB compressed, {verb} {self.limit_mb:g} MB")


# -- vulnerabilities ---------------------------------------------------------------------

_STATUS_NAMES: dict[str, str] = {FIXABLE: "fixable", NO_FIX: "no-fix", WONT_FIX_STATUS: "wont-fix"}


@dataclass(frozen=True)
class MaxSeverity:
    status: str  # FIXABLE | NO_FIX | WONT_FIX_STATUS
    allowed: str  # a severity label, or "none"
    unknown_as: str
    name: str = "maximum severity"

    def check(self, s: Subject) -> RuleResult:
        name = self.name
        if s.scan is None:
            return RuleResult(name, False, "no vulnerability scan was possible")
        if EMPTY_DB_WARNING in s.scan.warnings:
            return RuleResult(name, False, f"cannot judge: {EMPTY_DB_WARNING}")
        unknown = Severity.parse(self.unknown_as)
        limit = None if self.allowed == "none" else Severity.parse(self.allowed)

        def too_high(f: Finding) -> bool:
            if limit is None:
                return True
            sev = f.severity if f.severity is not Severity.UNKNOWN else unknown
            return sev > limit

        bad = [f for f in s.findings if f.status == self.status and too_high(f)]
        note = f" ({len(s.suppressed)} suppressed by VEX or exceptions)" if s.suppressed else ""
        unrated = sum(
            1 for f in s.findings if f.status == self.status and f.severity is Severity.UNKNOWN
        )
        if unrated:
            note += f" ({unrated} of unknown severity, judged as {self.unknown_as})"
        if bad:
            return RuleResult(
                name,
                False,
                f"{len(bad)} {_STATUS_NAMES[self.status]} findings: "
                f"{_names([_finding(f) for f in bad], 3)}{note}",
                details=tuple(_finding(f) for f in bad),
            )
        return RuleResult(
            name, True, f"no {_STATUS_NAMES[self.status]} finding above {self.allowed}{note}"
        )


@dataclass(frozen=True)
class MaxFixAge:
    days: int
    unknown_fails: bool
    name: str = "maximum age of an unapplied fix"

    def check(self, s: Subject) -> RuleResult:
        if s.scan is None:
            return RuleResult(self.name, False, "no vulnerability scan was possible")
        open_ids = {(f.id, f.package) for f in s.findings}
        ages = [a for a in s.fix_ages if (a.finding.id, a.finding.package) in open_ids]
        old = [a for a in ages if a.days is not None and a.days > self.days]
        unknown = [a for a in ages if a.days is None]
        bad = old + (unknown if self.unknown_fails else [])
        if bad:
            items = [
                f"{_finding(a.finding)}, fix known {a.days} days"
                if a.days is not None
                else f"{_finding(a.finding)}, fix date unknown"
                for a in bad
            ]
            return RuleResult(
                self.name,
                False,
                f"{len(bad)} fixes older than {self.days} days (or undated) "
                f"not applied: {_names(items, 3)}",
                details=tuple(items),
            )
        if not ages:
            return RuleResult(self.name, True, "no fixable finding, so no unapplied fix")
        oldest = max((a.days for a in ages if a.days is not None), default=0)
        return RuleResult(self.name, True, f"every available fix is at most {oldest} days old")


@dataclass(frozen=True)
class ExceptionsCurrent:
    """Fails on expired exceptions: they no longer suppress anything and must be renewed."""

    expired: tuple[str, ...]
    total: int
    name: str = "exceptions not expired"

    def check(self, s: Subject) -> RuleResult:
        if self.expired:
            return RuleResult(
                self.name,
                False,
                f"{len(self.expired)} expired: {_names(list(self.expired))}; renew or remove them",
                details=self.expired,
            )
        return RuleResult(self.name, True, f"{self.total} exceptions, none expired")


# -- licences ----------------------------------------------------------------------------


@functools.cache
def _licensing() -> Any:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@functools.lru_cache(maxsize=4096)
def _parse(expression: str) -> Any:
    from license_expression import ExpressionError

    try:
        return _licensing().parse(expression, validate=False)
    except ExpressionError:
        return expression


def symbols(expression: str) -> list[str]:
    """The licence ids in an SPDX expression (`X WITH Y` gives X)."""
    parsed = _parse(expression)
    if parsed is None:
        return []
    if isinstance(parsed, str):
        return [parsed]
    return [str(getattr(sym, "license_symbol", sym).key) for sym in parsed.symbols]


def _matches(license_id: str, patterns: tuple[str, ...]) -> bool:
    lid = license_id.lower()
    return any(fnmatch.fnmatchcase(lid, p.lower()) for p in patterns)


def _expression_allowed(expression: str, allowed: tuple[str, ...]) -> bool:
    """OR: one branch suffices; AND: every part; a bare licence must match a pattern."""
    from license_expression import AND, OR

    parsed = _parse(expression)
    if isinstance(parsed, str):
        return _matches(parsed, allowed)

    def ok(node: Any) -> bool:
        if isinstance(node, OR):
            return any(ok(a) for a in node.args)
        if isinstance(node, AND):
            return all(ok(a) for a in node.args)
        key = getattr(node, "key", None) or str(node)
        exception = getattr(node, "license_symbol", None)
        if exception is not None:  # `X WITH Y`: judged by X
            key = exception.key
        return _matches(str(key), allowed)

    return parsed is None or ok(parsed)


@dataclass(frozen=True)
class LicensesDenied:
    denied: tuple[str, ...]
    name: str = "no denied licences"

    def check(self, s: Subject) -> RuleResult:
        bad = [
            f"{pkg} ({sym})"
            for pkg, exprs in sorted(s.facts.licenses.items())
            for sym in sorted({sym for e in exprs for sym in symbols(e)})
            if _matches(sym, self.denied)
        ]
        if bad:
            return RuleResult(
                self.name, False, f"denied licences: {_names(bad)}", details=tuple(bad)
            )
        return RuleResult(self.name, True, f"no package declares {', '.join(self.denied)}")


@dataclass(frozen=True)
class LicensesAllowed:
    allowed: tuple[str, ...]
    name: str = "only allowed licences"

    def check(self, s: Subject) -> RuleResult:
        bad = [
            f"{pkg} ({e})"
            for pkg, exprs in sorted(s.facts.licenses.items())
            for e in exprs
            if not _expression_allowed(e, self.allowed)
        ]
        if bad:
            return RuleResult(
                self.name,
                False,
                f"licences outside the allowed list: {_names(bad)}",
                details=tuple(bad),
            )
        return RuleResult(
            self.name, True, f"{len(s.facts.licenses)} packages, all licences allowed"
        )


# -- signature, provenance, SBOM ---------------------------------------------------------


@dataclass(frozen=True)
class SignedWith:
    key: str
    name: str = "signature"

    def check(self, s: Subject) -> RuleResult:
        if s.verify is None:
            return RuleResult(self.name, False, "signatures cannot be checked for this image")
        result: Any = s.verify(self.key)
        if isinstance(result, str):
            return RuleResult(self.name, False, result)
        if any(c.name == "signature" and c.ok for c in result.checks):
            return RuleResult(self.name, True, f"signed, verified with {self.key}")
        return RuleResult(self.name, False, result.reason or f"not signed with {self.key}")


@dataclass(frozen=True)
class ProvenancePresent:
    keys: tuple[str, ...]
    name: str = "provenance"

    def check(self, s: Subject) -> RuleResult:
        from hardbase.evaluate.measure import SLSA_PREFIX

        if s.artifacts.provenance is None:
            return RuleResult(
                self.name, False, s.artifacts.note or "provenance cannot be looked up"
            )
        if not s.artifacts.provenance:
            return RuleResult(self.name, False, "no SLSA provenance attestation beside the image")
        if not self.keys:
            return RuleResult(self.name, True, "a SLSA provenance attestation is attached")
        if s.verify is None:
            return RuleResult(self.name, False, "attestations cannot be verified for this image")
        for key in self.keys:
            result: Any = s.verify(key)
            if isinstance(result, str):
                continue
            if any(kind.startswith(SLSA_PREFIX) for kind in result.attested):
                return RuleResult(self.name, True, f"SLSA provenance verified with {key}")
        return RuleResult(self.name, False, "the provenance does not verify with the given keys")


@dataclass(frozen=True)
class SbomPresent:
    name: str = "SBOM"

    def check(self, s: Subject) -> RuleResult:
        if s.artifacts.sbom:
            return RuleResult(self.name, True, "an SBOM is attached or stored beside the image")
        return RuleResult(
            self.name,
            False,
            "no SBOM attestation, .sbom tag or SBOM file beside the image; "
            "attach one with `hardbase sign` or write it with `hardbase sbom`",
        )


# -- support -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DistroSupported:
    warn_days: int
    name: str = "distribution supported"

    def check(self, s: Subject) -> RuleResult:
        d = s.support
        if d.days_left is None:
            what = d.release or s.facts.inventory.os.pretty_name or "unknown distribution"
            return RuleResult(self.name, False, f"no support dates known for {what}")
        if d.days_left < 0:
            return RuleResult(
                self.name, False, f"Debian {d.version} ({d.release}) support ended on {d.lts_end}"
            )
        if d.days_left <= self.warn_days:
            return RuleResult(
                self.name,
                False,
                f"Debian {d.version} ({d.release}) support ends "
                f"in {d.days_left} days ({d.lts_end})",
                level="warning",
            )
        return RuleResult(
            self.name,
            True,
            f"Debian {d.version} ({d.release}): security support "
            f"to {d.security_end}, LTS to {d.lts_end} ({d.days_left} days)",
        )


@dataclass(frozen=True)
class PackagesSupported:
    warn_days: int
    name: str = "packages supported"

    def check(self, s: Subject) -> RuleResult:
        if s.scan is None:
            return RuleResult(self.name, False, "no vulnerability database to read support from")
        ended = [n for n in s.scan.support if n.kind == "ended"]
        limited = [n for n in s.scan.support if n.kind == "limited"]
        if ended:
            items = [f"{n.package.name} {n.package.version} (ended {n.date or '?'})" for n in ended]
            return RuleResult(
                self.name, False, f"security support ended: {_names(items)}", details=tuple(items)
            )
        if limited:
            items = [f"{n.package.name} ({n.note or 'limited'})" for n in limited]
            return RuleResult(
                self.name,
                False,
                f"limited security support: {_names(items)}",
                level="warning",
                details=tuple(items),
            )
        return RuleResult(self.name, True, "no package with ended or limited security support")


def rules_for(policy: Policy, expired: tuple[str, ...]) -> list[Rule]:
    """The rules a policy asks for, in the order they are reported."""
    m = policy.model
    rules: list[Rule] = []
    if m.non_root:
        rules.append(NonRoot())
    if m.filesystem is not None:
        rules += _filesystem_rules(m.filesystem)
    if m.max_compressed_mb is not None:
        rules.append(MaxSize(m.max_compressed_mb))
    if m.vulnerabilities is not None:
        rules += _vulnerability_rules(m.vulnerabilities)
    if m.exceptions:
        rules.append(ExceptionsCurrent(expired, len(m.exceptions)))
    if m.licenses is not None and m.licenses.denied:
        rules.append(LicensesDenied(m.licenses.denied))
    if m.licenses is not None and m.licenses.allowed:
        rules.append(LicensesAllowed(m.licenses.allowed))
    rules += _attestation_rules(policy)
    if m.support is not None and m.support.distro_not_ended:
        rules.append(DistroSupported(m.support.warn_days))
    if m.support is not None and m.support.packages_not_ended:
        rules.append(PackagesSupported(m.support.warn_days))
    return rules


def _filesystem_rules(fs: Filesystem) -> list[Rule]:
    rules: list[Rule] = []
    if fs.no_shell:
        rules.append(NoShell())
    if fs.no_package_manager:
        rules.append(NoPackageManager())
    if fs.no_setuid:
        rules.append(NoSetuid())
    if fs.no_world_writable:
        rules.append(NoWorldWritable(fs.world_writable_allowed))
    return rules


def _vulnerability_rules(v: Vulnerabilities) -> list[Rule]:
    rules: list[Rule] = []
    if v.max_severity is not None:
        for status, allowed in (
            (FIXABLE, v.max_severity.fixable),
            (NO_FIX, v.max_severity.no_fix),
            (WONT_FIX_STATUS, v.max_severity.wont_fix),
        ):
            if allowed is not None:
                label = f"{_STATUS_NAMES[status]} findings at most {allowed}"
                rules.append(MaxSeverity(status, allowed, v.unknown_as, label))
    if v.max_fix_age_days is not None:
        rules.append(MaxFixAge(v.max_fix_age_days, v.unknown_fix_age_fails))
    return rules


def _attestation_rules(policy: Policy) -> list[Rule]:
    """Signature, provenance and SBOM presence, each only when the policy requires it."""
    m = policy.model
    rules: list[Rule] = []
    if m.signature is not None and m.signature.required:
        keys: list[Rule] = [SignedWith(str(policy.path(k))) for k in m.signature.keys]
        rules.append(AnyOf("signature", keys) if len(keys) > 1 else keys[0])
    if m.provenance is not None and m.provenance.required:
        rules.append(ProvenancePresent(tuple(str(policy.path(k)) for k in m.provenance.keys)))
    if m.sbom is not None and m.sbom.required:
        rules.append(SbomPresent())
    return rules
