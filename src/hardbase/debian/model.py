"""Value types shared by the archive client, the resolver and the build."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@dataclass(frozen=True)
class SourceEntry:
    """One deb822-style archive entry: URIs × suites × components, with its keyring."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...] = ("main",)
    signed_by: Path = DEFAULT_KEYRING


@dataclass(frozen=True)
class ReleaseInfo:
    """What was read and verified from one suite's InRelease."""

    uri: str
    suite: str
    codename: str
    date: str  # the Release file's Date field, as written
    sha256: str  # of the InRelease file as downloaded
    valid_until: str | None = None


@dataclass(frozen=True)
class BinaryPackage:
    """A binary package as one Packages index lists it."""

    name: str
    version: str
    arch: str
    source: str
    source_version: str
    filename: str  # relative to base_uri
    sha256: str
    size: int
    base_uri: str
    suite: str
    depends: str = ""
    pre_depends: str = ""
    provides: str = ""
    replaces: str = ""
    multi_arch: str = ""
    essential: bool = False
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def url(self) -> str:
        return f"{self.base_uri.rstrip('/')}/{self.filename}"

    @property
    def key(self) -> str:
        return f"{self.name}:{self.arch}={self.version}"


@dataclass(frozen=True)
class SourceFile:
    """One file of a source package as its Sources paragraph lists it."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class SourcePackage:
    """A source package as one Sources index lists it."""

    name: str
    version: str
    directory: str  # relative to base_uri
    files: tuple[SourceFile, ...]
    binaries: tuple[str, ...]
    base_uri: str
    suite: str

    def url(self, file: SourceFile) -> str:
        return f"{self.base_uri.rstrip('/')}/{self.directory}/{file.name}"

    @property
    def debian_tar(self) -> SourceFile | None:
        """The packaging tarball (`.debian.tar.*`), None for a native or 1.0 source."""
        return next((f for f in self.files if ".debian.tar." in f.name), None)

    @property
    def native_tar(self) -> SourceFile | None:
        """The whole tree of a native source (`NAME_VERSION.tar.*`), else None."""
        if self.debian_tar is not None:
            return None
        return next((f for f in self.files if ".tar." in f.name and ".orig" not in f.name), None)
