"""The release steps of `hardbase build`: SBOMs beside the output, signature, policy gate.

The same steps as a controller job (`release.sboms`, `release.sign`,
`release.gates`), for an image built into a local layout or archive; pushing
is `hardbase push`'s job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from hardbase.build.pipeline import BuildResult
from hardbase.build.spec import ImageSpec
from hardbase.errors import UsageError
from hardbase.release.gates import GateReport, policy_gate
from hardbase.release.image import BuiltImage
from hardbase.release.sboms import attach_sboms, release_sboms, write_beside
from hardbase.release.sign import SignedRelease, sign_release
from hardbase.util.progress import NullProgress, Progress


@dataclass(frozen=True)
class ReleaseOptions:
    sboms: bool = True  # write SBOMs beside the output
    sign_key: Path | None = None
    password: bytes | None = None  # the key's password (default: from the environment)
    identity: str | None = None  # HOST/REPO the signature and SBOMs name
    policy: Path | None = None
    db: str | None = None  # the vulnerability database for the policy gate


@dataclass(frozen=True)
class LocalRelease:
    image: BuiltImage
    sboms: dict[str, Path]  # ARCH/FORMAT -> the file beside the output
    signed: SignedRelease | None
    gate: GateReport | None  # the policy gate's verdict (check it: it does not raise)


def release_build(
    result: BuildResult,
    spec: ImageSpec,
    options: ReleaseOptions,
    *,
    started: dt.datetime,
    finished: dt.datetime,
    progress: Progress | None = None,
) -> LocalRelease:
    """SBOMs, signature and attestations, then the policy gate, of one built image."""
    progress = progress or NullProgress()
    if options.sign_key is not None and result.format != "oci":
        raise UsageError(
            f"--sign-key needs --format oci (a layout holds the signature); "
            f"build as oci, then `hardbase push` it to {result.format}"
        )
    image = BuiltImage.of_build(result, spec, options.identity)
    paths: dict[str, Path] = {}
    signed = None
    if options.sboms or options.sign_key is not None:
        progress.start("writing SBOMs (SPDX, CycloneDX)", 0)
        sboms = release_sboms(image)
        paths = write_beside(sboms, result.output, result.sbom_stem)
        if result.format == "oci":
            attach_sboms(image, sboms, {key: path.name for key, path in paths.items()})
        progress.finish()
        if options.sign_key is not None:
            from hardbase.attest.names import password_from_env

            password = password_from_env() if options.password is None else options.password
            signed = sign_release(
                image, sboms, options.sign_key, password, started=started,
                finished=finished,
            )  # fmt: skip
    gate = None
    if options.policy is not None:
        from hardbase.vuln.db import VulnDB

        with VulnDB.open(options.db) as db:
            gate = policy_gate(
                result.reference, options.policy, db,
                subject=f"the built image {result.reference}",
            )  # fmt: skip
    return LocalRelease(image, paths, signed, gate)
