"""Copy an image between transports, e.g. `oci:out/py` to `docker://127.0.0.1:5000/py:3.11`.

Blobs the destination already has are not uploaded again. The pushed digest is
the last line of stdout; progress goes to stderr. With --sign-key the pushed image
is signed where it now lives, so the signature's docker-reference names the
repository pushed to (a layout signed at build time names its --sign-identity,
else its directory). With --variants, the four images of `hardbase build
--variants` (latest, nonroot, debug, debug-nonroot) are pushed under the same
convention: SRC and DEST name the base tags, and each variant goes from its tag
in SRC to its tag in DEST (`:3.13` gives `3.13`, `3.13-nonroot`, `3.13-debug`,
`3.13-debug-nonroot`); one `DIGEST TAG` line each on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hardbase.cli.progress import TerminalProgress
from hardbase.oci.reference import parse_reference


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC", help="image to copy (oci:DIR[:TAG], docker://…)")
    parser.add_argument("dest", metavar="DEST", help="where to copy it (docker://…, oci:DIR[:TAG])")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="talk plain HTTP to the registry (only for local registries such as 127.0.0.1)",
    )
    parser.add_argument(
        "--signatures",
        action="store_true",
        help="also copy the image's cosign signature and attestation tags",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="push the latest, nonroot, debug and debug-nonroot images of `build --variants` "
        "under the same tag convention (see docs/specs.md)",
    )
    parser.add_argument(
        "--sign-key",
        type=Path,
        metavar="KEY",
        help="sign the pushed image at DEST (a docker:// reference) with this key, for DEST's "
        "repository; password in HARDBASE_KEY_PASSWORD or COSIGN_PASSWORD",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="upload blobs larger than this in chunks of this size (default 16 MiB)",
    )


def run(args: argparse.Namespace) -> int:
    # the HTTP stack is slow to import: not for --help
    from hardbase.release.publish import check_push_signing, push_image, variant_pairs

    src = parse_reference(args.src)
    dest = parse_reference(args.dest)
    if args.sign_key is not None:
        check_push_signing(dest, args.sign_key)  # a bad key stops before pushing
    options = {"chunk_size": args.chunk_size} if args.chunk_size else {}
    progress = TerminalProgress(enabled=not args.quiet)
    pairs = variant_pairs(src, dest, args.insecure) if args.variants else [(src, dest)]
    for one_src, one_dest in pairs:
        result = push_image(
            one_src, one_dest, insecure=args.insecure, signatures=args.signatures,
            sign_key=args.sign_key, progress=progress, **options,
        )  # fmt: skip
        stats = result.stats
        if not args.quiet:
            print(
                f"hardbase: pushed {one_dest}: {stats.uploaded} blobs uploaded "
                f"({stats.bytes} bytes), {stats.skipped} already there, {stats.mounted} "
                f"mounted, {stats.manifests} manifests",
                file=sys.stderr,
            )
        print(f"{result.digest} {one_dest.tag}" if args.variants else result.digest)
    return 0
