"""The SBOM interface: what a document is made from, and what every format implements.

`SbomInput` holds one image's packages with their licenses already resolved to
SPDX expressions; each format (`spdx.py`, `cyclonedx.py`) turns it into bytes
without reading anything else, so the same input always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from packageurl import PackageURL

from hardbase import __version__
from hardbase.debian.pedigree import Pedigree
from hardbase.debian.pedigree import read as read_pedigree
from hardbase.errors import HardbaseError
from hardbase.sbom import SbomFormatName
from hardbase.sbom.licenses import combine
from hardbase.util import clock
from hardbase.util.digest import Digest, optional_digest
from hardbase.vuln.model import InstalledPackage, OSRelease

TOOL_NAME = "hardbase"
TOOL_VERSION = __version__
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")


class SbomError(HardbaseError):
    """An SBOM could not be made or written."""


@dataclass(frozen=True)
class SbomPackage:
    """One package of the image with the licenses it declares (SPDX expressions)."""

    package: InstalledPackage
    licenses: tuple[str, ...] = ()
    license_source: str = ""  # "copyright" (Debian), "metadata" (Python, npm) or ""

    @property
    def expression(self) -> str | None:
        """All declared licenses as one expression, or None when nothing is known."""
        return combine(self.licenses)

    @property
    def key(self) -> str:
        """A short stable id, unique within an image even for same-named packages."""
        p = self.package
        text = "\0".join((p.type, p.name, p.version, p.arch, p.path))
        # a path that is not UTF-8 holds its bytes as surrogate escapes: hash those bytes
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]

    @property
    def pedigree(self) -> Pedigree | None:
        """A hardbase rebuild's Debian ancestor and patches, from its control fields."""
        if self.package.type != "deb" or not self.package.extra:
            return None
        return read_pedigree(self.package.extra)

    def ancestor_version(self, pedigree: Pedigree) -> str:
        """The version of Debian's binary package that this rebuild replaces.

        The binary's version is its source's unless the source sets another; the
        rebuild added a suffix (`+hbN`, `+debNNu0+hbN`) to the source version, and the
        same suffix is taken off the binary's.
        """
        pkg = self.package
        rebuilt = pkg.source_version or pkg.version
        suffix = rebuilt[len(pedigree.version) :] if rebuilt.startswith(pedigree.version) else ""
        if pkg.version == rebuilt or not suffix or not pkg.version.endswith(suffix):
            return pedigree.version
        return pkg.version[: -len(suffix)]

    @property
    def location(self) -> DocumentPath | None:
        """Where the package was found, as the documents write it (None when not known)."""
        return document_path(self.package.path) if self.package.path else None


@dataclass(frozen=True)
class DocumentPath:
    """A file path as an SBOM writes it (`document_path`)."""

    text: str
    percent_encoded: bool


def document_path(path: str) -> DocumentPath:
    """A path from a layer as the SBOMs write it, losslessly.

    A path that is valid UTF-8 is written as it is. A path that is not (its
    undecodable bytes arrive as surrogate escapes, U+DC80-U+DCFF) is written
    percent-encoded: each undecodable byte becomes %XX (uppercase hex) and each
    '%' becomes %25, everything else stays, so percent-decoding the text gives
    back the exact bytes. The documents mark such a path (`percent_encoded`).
    """
    if not any("\udc80" <= ch <= "\udcff" for ch in path):
        return DocumentPath(path, False)
    encoded = "".join(
        f"%{ord(ch) - 0xDC00:02X}" if "\udc80" <= ch <= "\udcff" else "%25" if ch == "%" else ch
        for ch in path
    )
    return DocumentPath(encoded, True)


@dataclass(frozen=True)
class SbomInput:
    """Everything an SBOM of one image (one platform) says."""

    reference: str  # as the user gave it, e.g. oci:out/py:latest
    name: str  # the image's name, e.g. "python3"
    digest: str  # manifest digest, "" for dir:
    architecture: str
    os: OSRelease
    packages: tuple[SbomPackage, ...]
    # license text for LicenseRef-* ids, as found in copyright files
    license_texts: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    tag: str = ""  # oci tag or registry tag, when the reference named one
    repository_url: str = ""  # registry HOST/REPO for docker:// references

    def sorted_packages(self) -> list[SbomPackage]:
        """Packages in document order: type, name, version, arch, path."""
        return sorted(
            self.packages,
            key=lambda s: (
                s.package.type,
                s.package.name,
                s.package.version,
                s.package.arch,
                s.package.path,
            ),
        )

    @property
    def image_digest(self) -> Digest | None:
        """The manifest digest, checked; None for dir:."""
        return optional_digest(self.digest)

    @property
    def identity(self) -> Digest:
        """What makes this image unique: its digest, or for dir: a hash of its package list."""
        if self.image_digest:
            return self.image_digest
        listing = "\n".join(
            f"{s.package.type} {s.package.name} {s.package.version} {s.package.arch}"
            for s in self.sorted_packages()
        )
        return Digest.of(listing.encode())

    @property
    def purl(self) -> str:
        """`pkg:oci/NAME@sha256%3A...?arch=...` for the image itself."""
        qualifiers: dict[str, str] = {}
        if self.architecture:
            qualifiers["arch"] = self.architecture
        if self.repository_url:
            qualifiers["repository_url"] = self.repository_url
        if self.tag:
            qualifiers["tag"] = self.tag
        text = PackageURL(
            type="oci", name=self.name, version=self.digest or None, qualifiers=qualifiers
        ).to_string()
        if self.digest:
            # the purl spec percent-encodes the ':' of a digest version
            text = text.replace(f"@{self.digest}", "@" + self.digest.replace(":", "%3A"), 1)
        return text

    def license_ids(self) -> list[str]:
        """Every LicenseRef-* id the packages use, sorted."""
        found: set[str] = set()
        for item in self.packages:
            for expression in item.licenses:
                found.update(_LICENSE_REF.findall(expression))
        return sorted(found)

    def license_text(self, license_id: str) -> str:
        """The text recorded for a LicenseRef, or a sentence saying where it was named."""
        text = self.license_texts.get(license_id)
        if text:
            return text
        users = sorted(
            {
                s.package.name
                for s in self.packages
                if any(license_id in _LICENSE_REF.findall(e) for e in s.licenses)
            }
        )
        where = ", ".join(users[:10]) + (" and others" if len(users) > 10 else "")
        return (
            f"The license '{license_id[len('LicenseRef-') :]}' is named by {where}; "
            "its text is not part of this document."
        )


class SbomFormat(ABC):
    """One SBOM document format."""

    name: SbomFormatName  # the --format value, e.g. "spdx-json"
    filename: str  # the file name beside an image, e.g. "sbom.spdx.json"
    media_type: str

    @abstractmethod
    def render(self, sbom: SbomInput, *, created: datetime | None = None) -> bytes:
        """The document as bytes (UTF-8 JSON ending in a newline)."""


def creation_time(created: datetime | None = None) -> datetime:
    """`created` in UTC to the second; by default SOURCE_DATE_EPOCH when set, else now."""
    return clock.reproducible_now() if created is None else clock.utc(created)
