"""What every app backend (python, node) provides, its value types and its error.

A backend names the Debian packages its tool needs in the build root, pins
the app's packages at lock time (`lock`), and installs exactly the pinned
files at build time (`install`), offline, returning the tree to put in a layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hardbase.build.lock import LockedPackage
from hardbase.errors import BuildError, SpecError
from hardbase.util import names

if TYPE_CHECKING:
    from hardbase.build.app.sandbox import BuildRoot

LOCK_KIND_PYTHON = "python"
LOCK_KIND_NODE = "node"


class AppError(BuildError):
    """The app's dependencies could not be pinned or installed (bad input: exit 2)."""


@dataclass(frozen=True)
class AppPackage:
    """One pinned distribution file of the app: a wheel or an npm tarball."""

    name: str
    version: str
    url: str
    sha256: str
    filename: str
    size: int = 0
    integrity: str = ""  # npm's SRI string from package-lock.json
    path: str = ""  # npm: where it goes, e.g. node_modules/a/node_modules/b


@dataclass(frozen=True)
class ArchAppLock:
    build: tuple[LockedPackage, ...]  # Debian packages of the build root besides the image's
    packages: tuple[AppPackage, ...]


@dataclass(frozen=True)
class AppLock:
    """The lock file's `app` section."""

    kind: str
    inputs: str  # sha256 of the app's dependency inputs (requirements, lockfile, options)
    archs: dict[str, ArchAppLock] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": self.inputs,
            "archs": {
                arch: {
                    "build": [asdict(p) for p in body.build],
                    "packages": [asdict(p) for p in body.packages],
                }
                for arch, body in self.archs.items()
            },
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> AppLock:
        """The section with every path-like field checked.

        Raises SpecError for a field that breaks its rule (util/names.py), and
        KeyError, TypeError or ValueError on a malformed section.
        """
        kind = data["kind"]
        if kind not in (LOCK_KIND_PYTHON, LOCK_KIND_NODE):
            raise ValueError(f"unknown app kind {kind!r}")
        return cls(
            kind=str(kind),
            inputs=names.check(data["inputs"], names.SHA256, "app inputs", where),
            archs={
                names.check(arch, names.DEB_ARCH, "app architecture", where): ArchAppLock(
                    build=tuple(
                        LockedPackage.from_json(p, f"{where} (app {arch} build package {i + 1})")
                        for i, p in enumerate(body["build"])
                    ),
                    packages=tuple(
                        app_package(kind, p, f"{where} (app {arch} package {i + 1})")
                        for i, p in enumerate(body["packages"])
                    ),
                )
                for arch, body in data["archs"].items()
            },
        )


_APP_RULES = {  # kind -> name rule, version rule, file suffix
    LOCK_KIND_PYTHON: (names.PYPI_NAME, names.PYPI_VERSION, ".whl"),
    LOCK_KIND_NODE: (names.NPM_NAME, names.NPM_VERSION, ".tgz"),
}


def app_package(kind: str, data: Any, where: str) -> AppPackage:
    """An app lock entry whose fields are checked: the filename is one path component."""
    pkg = AppPackage(**data)
    name_rule, version_rule, suffix = _APP_RULES[kind]
    names.check(pkg.name, name_rule, "name", where)
    names.check(pkg.version, version_rule, "version", where)
    names.check(pkg.url, names.HTTP_URL, "url", where)
    names.check(pkg.sha256, names.SHA256, "sha256", where)
    names.check(pkg.filename, names.FILE_NAME, "filename", where)
    if not pkg.filename.endswith(suffix):
        raise SpecError(f"{where}: filename {pkg.filename!r} does not end in {suffix}; relock")
    names.check_size(pkg.size, "size", where)
    if kind == LOCK_KIND_NODE:
        names.check(pkg.integrity, names.NPM_INTEGRITY, "integrity", where)
        names.check_npm_path(pkg.path, "path", where)
    elif pkg.integrity or pkg.path:
        raise SpecError(f"{where}: a Python package has no integrity or path; relock")
    return pkg


class Backend(Protocol):
    """An ecosystem's installer, run inside a build root."""

    kind: str
    lock_needs_root: bool  # False when the input already pins every file (package-lock.json)

    def build_roots(self) -> tuple[str, ...]:
        """Debian packages the tool needs besides the runtime image's (e.g. python3-pip)."""
        ...

    def inputs(self) -> dict[str, str]:
        """What decides the pinned set: file hashes and options (hashed into the lock)."""
        ...

    def lock(self, root: BuildRoot | None, arch: str) -> list[AppPackage]:
        """Pin the app's packages; the download step may use the network."""
        ...

    def install(self, root: BuildRoot, packages: list[AppPackage], files: dict[str, Path]) -> Path:
        """Install the pinned files (sha256 -> local path) offline, as the image root.

        Returns a directory whose contents are laid over the image root by the layer.
        """
        ...
