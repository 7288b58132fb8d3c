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
from hardbase.errors import BuildError

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
    def from_json(cls, data: Any) -> AppLock:
        """Raises KeyError, TypeError or ValueError on a malformed section."""
        if data["kind"] not in (LOCK_KIND_PYTHON, LOCK_KIND_NODE):
            raise ValueError(f"unknown app kind {data['kind']!r}")
        return cls(
            kind=str(data["kind"]),
            inputs=str(data["inputs"]),
            archs={
                str(arch): ArchAppLock(
                    build=tuple(LockedPackage(**p) for p in body["build"]),
                    packages=tuple(AppPackage(**p) for p in body["packages"]),
                )
                for arch, body in data["archs"].items()
            },
        )


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
