"""Copy an image between transports, e.g. `oci:out/py` to `docker://127.0.0.1:5000/py:3.11`.

Blobs the destination already has are not uploaded again. The pushed digest is
the last line of stdout; progress goes to stderr. With --sign-key the pushed image
is signed where it now lives, so the signature's docker-reference names the
repository pushed to (a layout signed at build time names its --sign-identity,
else its directory).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from hardbase.cli.progress import TerminalProgress
from hardbase.errors import UsageError
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
    from hardbase.oci.copy import copy  # the HTTP stack is slow to import: not for --help

    src = parse_reference(args.src)
    dest = parse_reference(args.dest)
    if args.sign_key is not None:
        from hardbase.attest.keys import load_private_key, password_from_env

        if dest.transport != "docker":
            raise UsageError(f"--sign-key signs a registry image; {dest} is not docker://…")
        load_private_key(args.sign_key, password_from_env())  # a bad key stops before pushing
    options = {"chunk_size": args.chunk_size} if args.chunk_size else {}
    progress = TerminalProgress(enabled=not args.quiet)
    result = copy(
        src, dest, insecure=args.insecure, progress=progress, signatures=args.signatures, **options
    )
    stats = result.stats
    if not args.quiet:
        print(
            f"hardbase: pushed {dest}: {stats.uploaded} blobs uploaded ({stats.bytes} bytes), "
            f"{stats.skipped} already there, {stats.mounted} mounted, "
            f"{stats.manifests} manifests",
            file=sys.stderr,
        )
    if args.sign_key is not None:
        from hardbase.attest.keys import password_from_env
        from hardbase.attest.sign import sign_image

        by_digest = dataclasses.replace(dest, tag=None, digest=result.digest)
        sign_image(by_digest, args.sign_key, password_from_env(), insecure=args.insecure)
    print(result.digest)
    return 0
