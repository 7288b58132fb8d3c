"""Which repository a signature is for: the simple-signing `docker-reference`.

A signature names the image digest and, in `critical.identity.docker-reference`,
the repository it was signed for (cosign and hardbase write `HOST/REPO`;
skopeo's simple signing writes `HOST/REPO:TAG`). Checking the digest alone
accepts an image and its signature copied into any other repository, so
`verify` also checks the reference, as containers/image's default
`matchRepoDigestOrExact` does: the repository must be the expected one; when
the signature names a tag and the image is verified by tag, the tags must be
equal too; when verified by digest, any tag is accepted.

The limit (documented in README and `verify --help`): a signature that names
no tag, as cosign's and hardbase's do, holds for every tag of its repository
and has no expiry, so an old signed digest moved under a new tag still
verifies. Freshness is what the tag's digest is, not what the signature says.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardbase.errors import UsageError
from hardbase.oci.reference import ImageRef

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class DockerReference:
    """`HOST/REPO[:TAG|@DIGEST]` split into its parts, the repository normalised."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> DockerReference:
        name, at, digest = text.partition("@")
        head, slash, last = name.rpartition("/")
        tag = None
        if ":" in last:
            last, _, tag = last.partition(":")
        return cls(normalize(f"{head}{slash}{last}"), tag or None, digest if at else None)

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}" if self.tag else self.repository


def normalize(repository: str) -> str:
    """Docker Hub's short names in full (`python` → `docker.io/library/python`)."""
    first, slash, rest = repository.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        repository = f"{DOCKER_HUB}/{repository}"
        first, _, rest = repository.partition("/")
    if first == "index.docker.io":
        first = DOCKER_HUB
    if first == DOCKER_HUB and "/" not in rest:
        rest = f"library/{rest}"
    return f"{first}/{rest}"


@dataclass(frozen=True)
class ExpectedIdentity:
    """The repository a signature must name, and the tag the image was verified by."""

    repository: str
    tag: str | None  # None when verifying by digest or in a layout: any tag is accepted

    def accepts(self, signed: str) -> bool:
        ref = DockerReference.parse(signed)
        if ref.repository != self.repository:
            return False
        return ref.tag is None or self.tag is None or ref.tag == self.tag

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else self.repository


def expected_identity(ref: ImageRef, given: str | None) -> ExpectedIdentity | None:
    """What `verify` checks: `--identity` if given, else a docker:// reference's own repository.

    An `oci:` layout has no repository, so without `--identity` its signatures'
    references are not checked.
    """
    tag = (ref.tag or "latest") if ref.transport == "docker" and not ref.digest else None
    if given is not None:
        parsed = DockerReference.parse(given)
        if parsed.tag or parsed.digest or "://" in given or not given:
            raise UsageError(
                f"--identity '{given}' is not a repository; give HOST/REPO without a tag, "
                "e.g. 127.0.0.1:5000/hardbase/python3"
            )
        return ExpectedIdentity(parsed.repository, tag)
    if ref.transport != "docker":
        return None
    return ExpectedIdentity(normalize(ref.docker_reference), tag)
