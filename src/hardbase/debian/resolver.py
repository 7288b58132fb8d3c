"""Dependency resolution: the closure of Pre-Depends and Depends for an image's roots.

The resolver picks the highest version that satisfies every constraint seen so
far, follows alternatives and virtual packages, and never adds a package that
nothing asks for (so Essential packages such as dpkg, perl-base or bash stay
out unless something depends on them). Dependencies that only maintainer
scripts use are dropped (see `drops`). It does not backtrack: when a package
is already chosen at a version a later constraint rules out, resolution fails
with the chain that led there.

Relation groups with a single, real alternative are followed first; groups with
alternatives or virtual packages wait until nothing else is pending, so they
can prefer what the rest of the closure already chose.
"""

from __future__ import annotations

import logging
import types
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hardbase.debian.drops import DEFAULT_DROPS, Drop
from hardbase.debian.index import PackageIndex, Relation, parse_relations
from hardbase.debian.model import BinaryPackage
from hardbase.debian.version import compare_versions, satisfies
from hardbase.errors import ArchiveError, ResolveError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolution:
    """The packages an image needs besides the preselected ones, and why."""

    packages: tuple[BinaryPackage, ...]  # sorted by name
    dropped: tuple[Drop, ...]  # the drops that left something out
    why: Mapping[str, tuple[str, ...]]  # package -> chain of names from a root to it


@dataclass(frozen=True)
class _Pending:
    owner: BinaryPackage
    group: tuple[Relation, ...]
    text: str


def resolve(
    index: PackageIndex,
    roots: Sequence[str],
    arch: str,
    *,
    drops: Sequence[Drop] = DEFAULT_DROPS,
    preselected: Mapping[str, BinaryPackage] | None = None,
) -> Resolution:
    """Resolve `roots` (`name` or `name=version`) for `arch` against `index`."""
    return _Resolver(index, arch, drops, preselected or {}).run(roots)


class _Resolver:
    def __init__(
        self,
        index: PackageIndex,
        arch: str,
        drops: Sequence[Drop],
        preselected: Mapping[str, BinaryPackage],
    ) -> None:
        self.index = index
        self.arch = arch
        self.drops: dict[tuple[str, str], Drop] = {}
        for drop in drops:
            self.drops.setdefault((drop.package, drop.dependency), drop)
        self.preselected = dict(preselected)
        self.selected: dict[str, BinaryPackage] = {}
        self.why: dict[str, tuple[str, ...]] = {}
        # virtual name -> (provider, provided version) among chosen packages
        self.provided: dict[str, list[tuple[BinaryPackage, str | None]]] = {}
        self.simple: deque[_Pending] = deque()
        self.deferred: deque[_Pending] = deque()
        self.dropped: list[tuple[Drop, _Pending]] = []
        for name in sorted(self.preselected):
            self._register_provides(self.preselected[name])

    # -- driving -----------------------------------------------------------------

    def run(self, roots: Sequence[str]) -> Resolution:
        for root in roots:
            self._add_root(root)
        while self.simple or self.deferred:
            pending = self.simple.popleft() if self.simple else self.deferred.popleft()
            self._process(pending)
        dropped: list[Drop] = []
        for drop, pending in self.dropped:
            # A drop only counts when nothing else brought the dependency in.
            if not self._satisfied(pending.group) and drop not in dropped:
                dropped.append(drop)
        packages = tuple(self.selected[name] for name in sorted(self.selected))
        why = {name: self.why[name] for name in sorted(self.why)}
        return Resolution(
            packages=packages, dropped=tuple(dropped), why=types.MappingProxyType(why)
        )

    def _add_root(self, root: str) -> None:
        name, _, version = root.strip().partition("=")
        name, version = name.strip(), version.strip()
        if not name:
            raise ResolveError(f"the package list has an empty name in {root!r}")
        chosen = self._chosen(name)
        if chosen is not None:
            if version and compare_versions(chosen.version, version) != 0:
                raise ResolveError(
                    f"package '{name}' is asked for at {version} but {chosen.version} is "
                    f"already chosen (via {' -> '.join(self.why.get(name, (name,)))})"
                )
            return
        candidates = self.index.candidates(name, self.arch)
        if version:
            exact = [p for p in candidates if compare_versions(p.version, version) == 0]
            if not exact:
                available = ", ".join(f"{p.version} ({p.suite})" for p in candidates) or "none"
                raise ResolveError(
                    f"package '{name}' has no version {version} in {self._suites()} for "
                    f"{self.arch} (available: {available})"
                )
            self._select(exact[0], (name,))
            return
        if candidates:
            self._select(candidates[0], (name,))
            return
        providers = self.index.providers(name, self.arch)
        if providers:
            provider = providers[0][0]
            self._select(provider, (name, provider.name) if provider.name != name else (name,))
            return
        from hardbase.util.validation import did_you_mean

        hint = did_you_mean(name, self.index.names(), cutoff=0.8)
        raise ResolveError(
            f"unknown package '{name}'{hint}: no package or Provides of that name for "
            f"{self.arch} in {self._suites()}; check the name and the archive suites"
        )

    def _suites(self) -> str:
        return ", ".join(self.index.searched or self.index.suites) or "the archive"

    # -- choosing ------------------------------------------------------------------

    def _chosen(self, name: str) -> BinaryPackage | None:
        return self.selected.get(name) or self.preselected.get(name)

    def _select(self, package: BinaryPackage, chain: tuple[str, ...]) -> None:
        self.selected[package.name] = package
        self.why[package.name] = chain
        self._register_provides(package)
        fields = (("Pre-Depends", package.pre_depends), ("Depends", package.depends))
        for field_name, text in fields:
            if not text:
                continue
            try:
                groups = parse_relations(text)
            except ArchiveError as exc:
                raise ResolveError(
                    f"the {field_name} of {package.name} {package.version} cannot be parsed; "
                    "the archive index is malformed"
                ) from exc
            for group in groups:
                applicable = tuple(r for r in group if self._applies(r))
                if not applicable:
                    continue
                pending = _Pending(package, applicable, " | ".join(map(str, group)))
                if len(applicable) == 1 and (
                    self._chosen(applicable[0].name) is not None
                    or self.index.candidates(applicable[0].name, self.arch)
                ):
                    self.simple.append(pending)
                else:
                    self.deferred.append(pending)

    def _register_provides(self, package: BinaryPackage) -> None:
        if not package.provides:
            return
        try:
            groups = parse_relations(package.provides)
        except ArchiveError:
            log.warning("ignoring the malformed Provides of %s", package.name)
            return
        for group in groups:
            for relation in group:
                version = relation.version if relation.op == "=" else None
                self.provided.setdefault(relation.name, []).append((package, version))

    def _applies(self, relation: Relation) -> bool:
        """Whether an alternative's architecture restriction (`[amd64 !i386]`) holds."""
        if not relation.restrictions:
            return True
        negated = [r[1:] for r in relation.restrictions if r.startswith("!")]
        positive = [r for r in relation.restrictions if not r.startswith("!")]
        if positive:
            return self.arch in positive or "any" in positive
        return self.arch not in negated

    def _arch_ok(self, relation: Relation, package: BinaryPackage) -> bool:
        qualifier = relation.arch
        if qualifier in (None, "any", "native"):
            return package.arch in (self.arch, "all")
        return qualifier == self.arch and package.arch in (self.arch, "all")

    def _version_ok(self, relation: Relation, version: str | None) -> bool:
        if relation.op is None:
            return True
        if version is None or relation.version is None:
            return False  # an unversioned Provides never satisfies a versioned relation
        return satisfies(version, relation.op, relation.version)

    def _satisfied_one(self, relation: Relation) -> bool:
        chosen = self._chosen(relation.name)
        if (
            chosen is not None
            and self._arch_ok(relation, chosen)
            and self._version_ok(relation, chosen.version)
        ):
            return True
        return any(
            self._arch_ok(relation, provider) and self._version_ok(relation, version)
            for provider, version in self.provided.get(relation.name, ())
        )

    def _satisfied(self, group: tuple[Relation, ...]) -> bool:
        return any(self._satisfied_one(relation) for relation in group)

    def _pick(self, relation: Relation) -> BinaryPackage | None:
        """The package to add for `relation`, or None when nothing can satisfy it."""
        if relation.arch not in (None, "any", "native", self.arch):
            return None  # hardbase images are single-architecture
        if self._chosen(relation.name) is None:
            for candidate in self.index.candidates(relation.name, self.arch):
                if self._arch_ok(relation, candidate) and self._version_ok(
                    relation, candidate.version
                ):
                    return candidate
        for provider, version in self.index.providers(relation.name, self.arch):
            chosen = self._chosen(provider.name)
            if chosen is not None and chosen is not provider:
                continue  # another version of this provider is already in
            if self._arch_ok(relation, provider) and self._version_ok(relation, version):
                return provider
        return None

    def _process(self, pending: _Pending) -> None:
        owner = pending.owner
        for relation in pending.group:
            drop = self.drops.get((owner.name, relation.name))
            if drop is not None:
                self.dropped.append((drop, pending))
                return
        if self._satisfied(pending.group):
            return
        for relation in pending.group:
            package = self._pick(relation)
            if package is not None:
                self._select(package, (*self.why[owner.name], package.name))
                return
        raise ResolveError(
            f"cannot satisfy '{pending.text}' needed by {' -> '.join(self.why[owner.name])}: "
            f"available {self._available(pending.group)}"
        )

    def _available(self, group: tuple[Relation, ...]) -> str:
        seen: list[str] = []
        for relation in group:
            chosen = self._chosen(relation.name)
            if chosen is not None:
                via = " -> ".join(self.why.get(chosen.name, ("preselected",)))
                seen.append(f"{chosen.name} {chosen.version} already chosen (via {via})")
            for package in self.index.candidates(relation.name, self.arch):
                if package is not chosen:
                    seen.append(f"{package.name} {package.version} ({package.suite})")
            for provider, version in self.index.providers(relation.name, self.arch):
                provided = f" (= {version})" if version else ""
                seen.append(
                    f"{provider.name} {provider.version} providing {relation.name}{provided} "
                    f"({provider.suite})"
                )
        return ", ".join(dict.fromkeys(seen)) or "none"
