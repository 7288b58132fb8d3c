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
import dataclasses
import sys
from pathlib import Path

from hardbase.cli.progress import TerminalProgress
from hardbase.errors import UsageError
from hardbase.oci.reference import ImageRef, parse_reference


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
    pairs = _variant_pairs(src, dest, args.insecure) if args.variants else [(src, dest)]
    for one_src, one_dest in pairs:
        result = copy(
            one_src, one_dest, insecure=args.insecure, progress=progress,
            signatures=args.signatures, **options,
        )  # fmt: skip
        stats = result.stats
        if not args.quiet:
            print(
                f"hardbase: pushed {one_dest}: {stats.uploaded} blobs uploaded "
                f"({stats.bytes} bytes), {stats.skipped} already there, {stats.mounted} "
                f"mounted, {stats.manifests} manifests",
                file=sys.stderr,
            )
        if args.sign_key is not None:
            from hardbase.attest.keys import password_from_env
            from hardbase.attest.sign import sign_image

            by_digest = dataclasses.replace(one_dest, tag=None, digest=result.digest)
            sign_image(by_digest, args.sign_key, password_from_env(), insecure=args.insecure)
        print(f"{result.digest} {one_dest.tag}" if args.variants else result.digest)
    return 0


def _variant_pairs(
    src: ImageRef, dest: ImageRef, insecure: bool
) -> list[tuple[ImageRef, ImageRef]]:
    """(source, destination) of every variant; each source checked before anything is pushed."""
    from hardbase.build.variants import variant_tags
    from hardbase.errors import ImageError
    from hardbase.oci.copy import open_source

    if src.digest or dest.digest:
        raise UsageError("--variants pushes tags; name SRC and DEST by tag, not @DIGEST")
    pairs = []
    dest_tags = variant_tags(dest.tag)
    for variant, tag in variant_tags(src.tag).items():
        one = dataclasses.replace(src, tag=tag)
        try:
            with open_source(one, insecure=insecure) as source:
                source.top()
        except ImageError as exc:
            raise UsageError(
                f"{one} is missing ({exc.diagnostics()}); --variants needs the four images "
                "`hardbase build --variants` writes"
            ) from None
        pairs.append((one, dataclasses.replace(dest, tag=dest_tags[variant])))
    return pairs
