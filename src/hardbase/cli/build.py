"""Build an OCI image from a spec.

Uses `<spec>.lock.json` when present and never re-resolves it (resolving
first when there is none, or with --relock). Writes an OCI image layout (a
multi-arch index when the spec names several architectures), or an
oci-archive / docker-archive tar, atomically: a failed build leaves nothing.
Writes SPDX and CycloneDX SBOMs beside the output (`NAME.spdx.json`,
`NAME.cdx.json`) and, for --format oci, attaches them to the image as a
cosign-style `sha256-<hex>.sbom` artifact. With --sign-key, signs the image and attaches SLSA
provenance and the SBOMs as attestations (cosign-compatible), and, when the image holds
packages hardbase rebuilt with patches, an OpenVEX document saying `fixed` for their CVEs.
The last line of stdout is the image index digest. With --variants, the spec
(which extends a preset) is built four ways into one layout, as distroless
names them: `latest`, `nonroot`, `debug`, `debug-nonroot`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from hardbase.build import OutputFormat
from hardbase.cli.progress import TerminalProgress

if TYPE_CHECKING:
    from hardbase.build.pipeline import BuildResult
    from hardbase.build.spec import ImageSpec


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="the image spec (YAML)")
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        help="where to write the image: a directory for oci, a file for the archive formats",
    )
    parser.add_argument(
        "--format",
        "-f",
        default="oci",
        choices=get_args(OutputFormat),
        help="output format (default: oci, an OCI image layout directory)",
    )
    parser.add_argument(
        "--tag", "-t", default="latest", help="tag inside the output (default: latest)"
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="build the distroless family into one layout: latest (root), nonroot (65532), "
        "debug and debug-nonroot (with busybox), tagged TAG, TAG-nonroot, … for --tag TAG "
        "(see docs/specs.md); one 'DIGEST TAG' line each on stdout",
    )
    parser.add_argument(
        "--relock",
        action="store_true",
        help="resolve the packages again and rewrite the lock file before building",
    )
    parser.add_argument(
        "--no-sbom",
        dest="sbom",
        action="store_false",
        help="do not write SBOMs beside the output",
    )
    parser.add_argument(
        "--sign-key", type=Path, metavar="KEY",
        help="sign the image with this key (from `hardbase keygen`; password in "
        "HARDBASE_KEY_PASSWORD) and attach provenance and SBOM attestations (and OpenVEX for "
        "packages rebuilt by `hardbase patch build`); needs --format oci",
    )  # fmt: skip
    parser.add_argument(
        "--sign-identity", metavar="HOST/REPO",
        help="the repository the signature names (its docker-reference): where the image "
        "will be pushed, so `verify docker://HOST/REPO` accepts it (default: the output "
        "directory's name)",
    )  # fmt: skip
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="check the built image against this policy (see policies/README.md); "
        "exit 1, with every failed rule on stderr, when it fails",
    )
    parser.add_argument("--db", metavar="PATH|URL", help="vulnerability database for --policy")


def run(args: argparse.Namespace) -> int:
    from hardbase.build.pipeline import build
    from hardbase.build.spec import load_spec
    from hardbase.errors import UsageError

    if args.sign_key is not None:
        if args.format != "oci":
            raise UsageError("--sign-key needs --format oci, where the signature is stored")
        if not args.sign_key.is_file():
            raise UsageError(f"signing key {args.sign_key} does not exist; run `hardbase keygen`")
    progress = TerminalProgress(enabled=not args.quiet)
    started = datetime.now(UTC)
    if args.variants:
        from hardbase.build.variants import build_variants

        if args.format != "oci":
            raise UsageError("--variants needs --format oci: one layout holds the four tags")
        built = build_variants(
            args.spec, args.output, tag=args.tag, relock=args.relock, progress=progress
        )
        finished = datetime.now(UTC)
        for _, spec, result in built:
            _finish(args, spec, result, progress, started, finished)
        for _, _, result in built:
            print(f"{result.index_digest} {result.tag}")
        return 0
    spec = load_spec(args.spec)
    result = build(
        spec, args.output, fmt=args.format, tag=args.tag, relock=args.relock, progress=progress
    )
    _finish(args, spec, result, progress, started, datetime.now(UTC))
    print(result.index_digest)
    return 0


def _finish(
    args: argparse.Namespace,
    spec: ImageSpec,
    result: BuildResult,
    progress: TerminalProgress,
    started: datetime,
    finished: datetime,
) -> None:
    """SBOMs, signature and policy of one built image (`release.local`), and its summary."""
    from hardbase.release.local import ReleaseOptions, release_build

    options = ReleaseOptions(
        sboms=args.sbom, sign_key=args.sign_key, identity=args.sign_identity,
        policy=args.policy, db=args.db,
    )  # fmt: skip
    done = release_build(
        result, spec, options, started=started, finished=finished, progress=progress
    )
    if done.gate is not None:
        from hardbase.cli.policy import render_text

        sys.stderr.write(render_text(done.gate))
        done.gate.check()
    if not args.quiet:
        for arch, digest in result.manifests.items():
            size = result.compressed_size(arch) / 1e6
            print(
                f"hardbase: {arch}: {result.packages[arch]} packages, "
                f"{len(result.layers[arch])} layers, {size:.1f} MB compressed, manifest {digest}",
                file=sys.stderr,
            )
        print(f"hardbase: wrote {result.reference}", file=sys.stderr)
        for path in done.sboms.values():
            print(f"hardbase: wrote {path}", file=sys.stderr)
        if done.signed is not None:
            print(
                f"hardbase: signed {done.signed.digest} and attached "
                f"{len(done.signed.attestations)} attestations (provenance, SBOMs"
                f"{', OpenVEX' if done.signed.has_vex else ''})",
                file=sys.stderr,
            )
