"""Build an OCI image from a spec.

Uses `<spec>.lock.json` when present and never re-resolves it (resolving
first when there is none, or with --relock). Writes an OCI image layout (a
multi-arch index when the spec names several architectures), or an
oci-archive / docker-archive tar, atomically: a failed build leaves nothing.
The last line of stdout is the image index digest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hardbase.cli.progress import TerminalProgress


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
        choices=["oci", "oci-archive", "docker-archive"],
        help="output format (default: oci, an OCI image layout directory)",
    )
    parser.add_argument(
        "--tag", "-t", default="latest", help="tag inside the output (default: latest)"
    )
    parser.add_argument(
        "--relock",
        action="store_true",
        help="resolve the packages again and rewrite the lock file before building",
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.build.pipeline import build
    from hardbase.build.spec import load_spec

    spec = load_spec(args.spec)
    progress = TerminalProgress(enabled=not args.quiet)
    result = build(
        spec, args.output, fmt=args.format, tag=args.tag, relock=args.relock, progress=progress
    )
    if not args.quiet:
        for arch, digest in result.manifests.items():
            size = result.compressed_size(arch) / 1e6
            print(
                f"hardbase: {arch}: {result.packages[arch]} packages, "
                f"{len(result.layers[arch])} layers, {size:.1f} MB compressed, manifest {digest}",
                file=sys.stderr,
            )
        print(f"hardbase: wrote {result.reference}", file=sys.stderr)
    print(result.index_digest)
    return 0
