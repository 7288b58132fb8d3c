"""Content digests (`sha256:<64 hex>`), checked where they enter, and the tags named after them.

A digest reaches hardbase from a command line, a manifest or index, a registry
header, a signature payload, an attestation or a database row; each of those
boundaries makes a `Digest`, so the code behind it never slices strings to get
the algorithm or the hex, and never builds a path or a tag from unchecked text.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from hardbase.errors import ImageError

# The algorithms hardbase reads and writes, with the length of their hex. OCI also
# registers sha512, but layouts here hold only blobs/sha256 and no peer we test
# against writes sha512 manifests, so one is refused rather than half supported.
ALGORITHMS = {"sha256": 64}
_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})")

# cosign's tags beside an image: signature, attestations, SBOM.
CosignSuffix = Literal["sig", "att", "sbom"]


class DigestError(ImageError):
    """Text that should be a content digest is not one."""


class Digest(str):
    """A content digest, `ALGORITHM:HEX`, checked when it is made.

    A `str` subclass rather than a dataclass because its text is its wire form:
    it goes into JSON, SQL rows, URLs and log lines unchanged, so no on-disk or
    wire format changes, while a parameter typed `Digest` cannot be handed
    unchecked text.
    """

    __slots__ = ()

    def __new__(cls, text: str, where: str = "") -> Digest:
        """Check `text`; `where` says where it came from ("in docker://host/repo@...")."""
        if type(text) is cls:
            return text
        if not isinstance(text, str) or not _DIGEST.fullmatch(text):
            shown = repr(text) if len(repr(text)) <= 90 else repr(text)[:80] + "...'"
            place = f" {where}" if where else ""
            raise DigestError(
                f"{shown}{place} is not a sha256 digest (sha256: followed by 64 lowercase "
                "hex digits)"
            )
        return super().__new__(cls, text)

    @classmethod
    def of(cls, data: bytes) -> Digest:
        """The sha256 digest of `data`."""
        return cls.from_hex(hashlib.sha256(data).hexdigest())

    @classmethod
    def from_hex(cls, hexdigest: str, algorithm: str = "sha256") -> Digest:
        """The digest of a hash's hex (as `hashlib`'s `hexdigest()` gives it)."""
        return cls(f"{algorithm}:{hexdigest}")

    @classmethod
    def from_cosign_tag(cls, tag: str) -> tuple[Digest, str] | None:
        """The digest and suffix a cosign tag `sha256-<hex>.sig` names, or None for another tag."""
        head, dot, suffix = tag.partition(".")
        algorithm, dash, hexpart = head.partition("-")
        if not dash or algorithm not in ALGORITHMS:
            return None
        try:
            return cls.from_hex(hexpart, algorithm), suffix if dot else ""
        except DigestError:
            return None

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        return self.partition(":")[2]

    @property
    def short(self) -> str:
        """The first 12 hex digits, as `docker images` shows an ID."""
        return self.hex[:12]

    @property
    def referrers_tag(self) -> str:
        """The OCI referrers tag schema's tag: `sha256-<hex>`."""
        return f"{self.algorithm}-{self.hex}"

    def cosign_tag(self, suffix: CosignSuffix) -> str:
        """cosign's tag for what it attaches to this image: `sha256-<hex>.sig`, `.att`, `.sbom`."""
        return f"{self.referrers_tag}.{suffix}"

    def __repr__(self) -> str:
        return f"Digest({str.__repr__(self)})"


def is_digest(text: object) -> bool:
    """Whether `text` is a digest hardbase takes (for a record that is skipped, not refused)."""
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def optional_digest(text: str | None) -> Digest | None:
    """A digest from text that may be empty (a column or field not yet set)."""
    return Digest(text) if text else None
