"""What an image contains, as the scanner sees it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InstalledPackage:
    """One package found in an image."""

    type: str  # "deb" | "pypi" | "npm"
    name: str
    version: str
    source_name: str = ""  # deb: source package (defaults to the binary's name)
    source_version: str = ""  # deb: source version (defaults to the binary's version)
    arch: str = ""
    purl: str = ""
    layer: str = ""  # digest of the layer it was found in ("" for dir:)
    path: str = ""  # file that declared it, e.g. var/lib/dpkg/status.d/libc6
    licenses: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class OSRelease:
    """The parts of /etc/os-release that matching needs."""

    id: str = ""
    version_id: str = ""
    version_codename: str = ""
    pretty_name: str = ""


@dataclass(frozen=True)
class Inventory:
    """Everything the scanner found in one image (one platform)."""

    reference: str
    digest: str  # manifest digest, or "" for dir:
    os: OSRelease
    packages: tuple[InstalledPackage, ...]
    architecture: str = ""
