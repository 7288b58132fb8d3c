"""Image references in skopeo's transport syntax.

`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`,
`docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`, `dir:ROOTFS`,
`containers-storage:[[STORAGE]]NAME[:TAG|@ID]` (podman's local image store, as
skopeo reads it; STORAGE is skopeo's `driver@root+runroot`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hardbase.errors import UsageError
from hardbase.util.digest import Digest, DigestError

TRANSPORTS = ("oci", "oci-archive", "docker-archive", "docker", "dir", "containers-storage")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference."""

    transport: str
    path: Path | None = None  # oci, oci-archive, docker-archive, dir
    tag: str | None = None
    registry: str | None = None  # docker
    repository: str | None = None  # docker
    digest: Digest | None = None  # docker
    name: str | None = None  # containers-storage: everything after the transport

    def __str__(self) -> str:
        if self.transport == "docker":
            ref = f"docker://{self.registry}/{self.repository}"
            if self.digest:
                return f"{ref}@{self.digest}"
            return f"{ref}:{self.tag or 'latest'}"
        if self.transport == "containers-storage":
            return f"containers-storage:{self.name}"
        text = f"{self.transport}:{self.path}"
        return f"{text}:{self.tag}" if self.tag else text

    @property
    def local_path(self) -> Path:
        """The file or directory of a local reference (oci, oci-archive, docker-archive, dir)."""
        if self.path is None:
            raise UsageError(f"the image reference {self} names no local file or directory")
        return self.path

    @property
    def docker_reference(self) -> str:
        """`HOST/REPO` for registry references (as cosign's identity)."""
        return f"{self.registry}/{self.repository}"


def parse_reference(text: str) -> ImageRef:
    """Parse `text`; raise UsageError naming the accepted forms when it does not fit."""
    transport, sep, rest = text.partition(":")
    if not sep or transport not in TRANSPORTS or not rest:
        raise UsageError(
            f"'{text}' is not an image reference; use oci:DIR[:TAG], oci-archive:FILE[:TAG], "
            "docker-archive:FILE, docker://HOST/REPO[:TAG|@DIGEST], "
            "containers-storage:NAME[:TAG] or dir:ROOTFS"
        )
    if transport == "docker":
        return _parse_docker(text, rest)
    if transport == "containers-storage":
        return _parse_storage(text, rest)
    if transport in ("oci", "oci-archive"):
        path, tag = _split_tag(rest)
        if tag is not None and not _TAG.match(tag):
            raise UsageError(f"'{tag}' in '{text}' is not a valid tag")
        return ImageRef(transport, path=Path(path), tag=tag)
    return ImageRef(transport, path=Path(rest))


def _split_tag(rest: str) -> tuple[str, str | None]:
    # The tag is what follows the last ':' unless that ':' belongs to the path.
    head, sep, tail = rest.rpartition(":")
    if sep and head and "/" not in tail:
        return head, tail
    return rest, None


def _parse_docker(text: str, rest: str) -> ImageRef:
    if not rest.startswith("//"):
        raise UsageError(f"'{text}' must be written docker://HOST[:PORT]/REPO[:TAG|@DIGEST]")
    body = rest[2:]
    host, slash, remainder = body.partition("/")
    if not slash or not remainder or not host:
        raise UsageError(f"'{text}' needs a registry host and a repository (docker://HOST/REPO)")
    digest = None
    tag = None
    if "@" in remainder:
        remainder, _, named = remainder.partition("@")
        try:
            digest = Digest(named, f"in '{text}'")
        except DigestError as exc:
            raise UsageError(str(exc)) from None
    else:
        last = remainder.rsplit("/", 1)[-1]
        if ":" in last:
            remainder, _, tag = remainder.rpartition(":")
            if not _TAG.match(tag):
                raise UsageError(f"'{tag}' in '{text}' is not a valid tag")
    if not re.match(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$", remainder):
        raise UsageError(f"'{remainder}' in '{text}' is not a valid repository name")
    return ImageRef("docker", registry=host, repository=remainder, tag=tag, digest=digest)


_STORAGE_NAME = re.compile(
    r"^(\[[^\]\x00-\x1f]+\])?"  # [driver@root+runroot:options], as skopeo takes it
    r"[A-Za-z0-9][A-Za-z0-9._/:@-]*$"  # NAME[:TAG], NAME@sha256:..., or an image ID
)


def _parse_storage(text: str, rest: str) -> ImageRef:
    if not _STORAGE_NAME.match(rest) or rest.startswith("-"):
        raise UsageError(
            f"'{text}' must be written containers-storage:NAME[:TAG] (for example "
            "containers-storage:localhost/app:1), optionally with a [driver@root+runroot] "
            "store before NAME"
        )
    return ImageRef("containers-storage", name=rest)
