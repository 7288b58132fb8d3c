"""The built image a release step works on: where it is, its digests, and what built it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hardbase.build.image import created_time
from hardbase.build.layers import source_date_epoch
from hardbase.build.lock import Lock
from hardbase.build.pipeline import BuildResult
from hardbase.build.spec import ImageSpec
from hardbase.errors import ImageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Layout
from hardbase.util.digest import Digest


@dataclass(frozen=True)
class BuiltImage:
    """An image in an OCI layout, with the spec and lock it was built from.

    `identity` is the repository (HOST/REPO) the image is published to, or will
    be: signatures name it, and the attested SBOMs name the image by it and its
    digest. None for an image that names no repository (its layout's name).
    """

    reference: str  # oci:LAYOUT:TAG
    digest: Digest  # the index digest
    manifests: tuple[tuple[str, Digest], ...]  # (arch, manifest digest), in the spec's order
    created: str  # RFC 3339, the image's creation time
    spec: ImageSpec
    lock: Lock
    identity: str | None = None
    build: BuildResult | None = field(default=None, compare=False, repr=False)  # its listings

    @classmethod
    def of_build(
        cls, result: BuildResult, spec: ImageSpec, identity: str | None = None
    ) -> BuiltImage:
        if result.lock is None:
            raise ImageError(f"the build of {result.reference} has no lock to attest")
        return cls(
            result.reference, Digest(result.index_digest), tuple(result.manifests.items()),
            result.created, spec, result.lock, identity, result,
        )  # fmt: skip

    @classmethod
    def in_layout(
        cls, layout: Path, tag: str, spec: ImageSpec, lock: Lock, identity: str | None = None
    ) -> BuiltImage:
        """The image a layout holds under `tag` (an index hardbase wrote, one manifest a arch)."""
        opened = Layout.open(layout)
        index = opened.find(tag)
        if index.media_type != mt.OCI_INDEX:
            raise ImageError(f"oci:{layout}:{tag} is not an image index hardbase built")
        doc = json.loads(opened.read_blob(index.digest))
        where = f"(a manifest of oci:{layout}:{tag})"
        manifests = tuple(
            (str(m.get("platform", {}).get("architecture", "")), Digest(m["digest"], where))
            for m in doc.get("manifests", [])
        )
        created = created_time([r.date for r in lock.releases], source_date_epoch())
        return cls(f"oci:{layout}:{tag}", index.digest, manifests, created, spec, lock, identity)

    @property
    def archs(self) -> tuple[str, ...]:
        return tuple(arch for arch, _ in self.manifests)

    @property
    def subject(self) -> str:
        """How the SBOMs name the image: by its repository and digest when it has one."""
        if self.identity:
            return f"docker://{self.identity}@{self.digest}"
        return self.reference
