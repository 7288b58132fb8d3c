"""Lock files: the exact package set of a spec, per architecture.

`<spec>.lock.json` pins every package (version, sha256, size, URL, source),
the InRelease files it was resolved from, and a hash of the spec's
resolution inputs. `build` uses the lock and never re-resolves.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.build.spec import ImageSpec
from hardbase.errors import SpecError
from hardbase.util import jsondoc, names
from hardbase.util.fs import write_atomic
from hardbase.util.paths import cache_dir
from hardbase.util.progress import Progress

if TYPE_CHECKING:
    from hardbase.build.app.interface import AppLock

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hardbase.debian.index import PackageIndex
    from hardbase.debian.model import ReleaseInfo

log = logging.getLogger(__name__)

LOCK_VERSION = 1


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    arch: str
    source: str
    source_version: str
    url: str
    sha256: str
    size: int
    tier: str
    suite: str

    @classmethod
    def from_json(cls, data: Any, where: str) -> LockedPackage:
        """A lock entry whose path-like fields are checked (raises SpecError, TypeError)."""
        pkg = cls(**data)
        for field, rule in _PACKAGE_RULES:
            names.check(getattr(pkg, field), rule, field, where)
        names.check_size(pkg.size, "size", where)
        return pkg


_PACKAGE_RULES = (
    ("name", names.DEB_NAME),
    ("version", names.DEB_VERSION),
    ("arch", names.DEB_ARCH),
    ("source", names.DEB_NAME),
    ("source_version", names.DEB_VERSION),
    ("url", names.HTTP_URL),
    ("sha256", names.SHA256),
    ("tier", names.TIER),
)


@dataclass(frozen=True)
class LockedRelease:
    uri: str
    suite: str
    codename: str
    date: str
    sha256: str
    valid_until: str | None = None


@dataclass(frozen=True)
class DroppedDependency:
    package: str
    dependency: str
    reason: str


@dataclass(frozen=True)
class Lock:
    spec_name: str
    spec_hash: str
    release: str
    releases: tuple[LockedRelease, ...]
    packages: dict[str, tuple[LockedPackage, ...]]  # arch -> packages, tier order
    dropped: dict[str, tuple[DroppedDependency, ...]]
    app: AppLock | None = None  # application images: see hardbase.build.app

    def tiers(self, arch: str) -> list[tuple[str, list[LockedPackage]]]:
        """Packages grouped by tier, in layer order."""
        groups: dict[str, list[LockedPackage]] = {}
        for pkg in self.packages[arch]:
            groups.setdefault(pkg.tier, []).append(pkg)
        return list(groups.items())

    def all_packages(self) -> list[LockedPackage]:
        return [p for pkgs in self.packages.values() for p in pkgs]

    def to_json(self) -> dict[str, Any]:
        doc = {
            "lockVersion": LOCK_VERSION,
            "spec": {"name": self.spec_name, "sha256": self.spec_hash},
            "release": self.release,
            "inRelease": [asdict(r) for r in self.releases],
            "archs": {
                arch: {
                    "packages": [asdict(p) for p in pkgs],
                    "dropped": [asdict(d) for d in self.dropped.get(arch, ())],
                }
                for arch, pkgs in self.packages.items()
            },
        }
        if self.app is not None:  # app section
            doc["app"] = self.app.to_json()
        return doc

    @classmethod
    def from_json(cls, data: Any, where: str) -> Lock:
        try:
            if data["lockVersion"] != LOCK_VERSION:
                raise SpecError(
                    f"{where} has lock version {data['lockVersion']}; "
                    f"this hardbase reads version {LOCK_VERSION}: relock with --relock"
                )
            return cls(
                spec_name=data["spec"]["name"],
                spec_hash=data["spec"]["sha256"],
                release=data["release"],
                releases=tuple(_release(r, where) for r in data["inRelease"]),
                packages={
                    names.check(arch, names.DEB_ARCH, "architecture", where): tuple(
                        LockedPackage.from_json(p, f"{where} ({arch} package {i + 1})")
                        for i, p in enumerate(body["packages"])
                    )
                    for arch, body in data["archs"].items()
                },
                dropped={
                    arch: tuple(DroppedDependency(**d) for d in body.get("dropped", []))
                    for arch, body in data["archs"].items()
                },
                app=_app_from_json(data.get("app"), where),  # app section
            )
        except SpecError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"{where} is not a valid hardbase lock file ({exc!r})") from None


def _release(data: Any, where: str) -> LockedRelease:
    release = LockedRelease(**data)
    names.check(release.sha256, names.SHA256, "inRelease sha256", where)
    return release


def _app_from_json(data: Any, where: str) -> AppLock | None:
    from hardbase.build.app.interface import AppLock

    return None if data is None else AppLock.from_json(data, where)


def read_lock(path: Path) -> Lock:
    try:
        data = jsondoc.loads(path.read_bytes())
    except FileNotFoundError:
        raise SpecError(f"lock file {path} does not exist; run `hardbase lock`") from None
    except ValueError:
        raise SpecError(f"lock file {path} is not valid JSON; run `hardbase lock`") from None
    return Lock.from_json(data, str(path))


def write_lock(lock: Lock, path: Path) -> None:
    text = json.dumps(lock.to_json(), indent=2, sort_keys=False) + "\n"
    write_atomic(path, text.encode())


def check_current(lock: Lock, spec: ImageSpec, path: Path) -> None:
    """Refuse a lock made for other resolution inputs than the spec's."""
    if lock.spec_hash != spec.resolution_hash():
        raise SpecError(
            f"{path} was made for a different package set than {spec.path.name} "
            "(packages, presets, sources or archs changed); run `hardbase lock` "
            "or `hardbase build --relock`"
        )
    if spec.model.app is not None:  # app section
        from hardbase.build.app.builder import check_app_current

        check_app_current(spec, lock, path)


def resolve_lock(spec: ImageSpec, progress: Progress | None = None) -> Lock:
    """Resolve the spec against its archive and return a new Lock."""
    from hardbase.debian.archive import Archive

    archive = Archive(spec.sources, cache_dir=cache_dir() / "archive", progress=progress)
    index, releases = archive.load(spec.archs)
    lock = lock_from_index(spec, index, releases)
    if spec.model.app is not None:  # app section
        from hardbase.build.app.builder import lock_app

        lock = dataclasses.replace(lock, app=lock_app(spec, lock, index, progress))
    return lock


def lock_from_index(spec: ImageSpec, index: PackageIndex, releases: Sequence[ReleaseInfo]) -> Lock:
    """Resolve the spec's tiers against an already loaded index (no app section)."""
    from hardbase.debian.resolver import resolve

    packages: dict[str, tuple[LockedPackage, ...]] = {}
    dropped: dict[str, tuple[DroppedDependency, ...]] = {}
    for arch in spec.archs:
        chosen: dict[str, Any] = {}
        locked: list[LockedPackage] = []
        drops: dict[tuple[str, str], DroppedDependency] = {}
        for tier in spec.tiers:
            result = resolve(index, tier.roots, arch, preselected=chosen)
            for pkg in result.packages:
                chosen[pkg.name] = pkg
                locked.append(
                    LockedPackage(
                        name=pkg.name,
                        version=pkg.version,
                        arch=pkg.arch,
                        source=pkg.source,
                        source_version=pkg.source_version,
                        url=pkg.url,
                        sha256=pkg.sha256,
                        size=pkg.size,
                        tier=tier.name,
                        suite=pkg.suite,
                    )  # fmt: skip
                )
            for drop in result.dropped:
                drops[(drop.package, drop.dependency)] = DroppedDependency(
                    drop.package, drop.dependency, drop.reason
                )
        packages[arch] = tuple(locked)
        dropped[arch] = tuple(drops[k] for k in sorted(drops))
        log.debug("resolved %d packages for %s", len(locked), arch)
    return Lock(
        spec_name=spec.name,
        spec_hash=spec.resolution_hash(),
        release=spec.release,
        releases=tuple(
            LockedRelease(r.uri, r.suite, r.codename, r.date, r.sha256, r.valid_until)
            for r in releases
        ),
        packages=packages,
        dropped=dropped,
    )
