"""Add an organisation's CA certificates to any image, as one new layer (as incert does).

`hardbase certs add REF --cert ca.pem [--cert more.pem …] --output DEST` reads
REF (any transport), appends the CAs to the Debian bundle
/etc/ssl/certs/ca-certificates.crt, adds them as local CAs with OpenSSL hash
links, and adds them to every Java keystore named `cacerts` in the image
(PKCS#12 or JKS, password `changeit` unless --keystore-password). DEST is
oci:DIR[:TAG] or docker://HOST/REPO[:TAG]; the digest it now names is the last
line of stdout. See docs/trust.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hardbase.cli.progress import TerminalProgress
from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="certs_command", metavar="ACTION")
    add = sub.add_parser(
        "add",
        help="add PEM CA certificates to an image as one new layer",
        description=__doc__,
    )
    add.add_argument("ref", metavar="REF", help="the image (oci:DIR[:TAG], docker://…, …)")
    add.add_argument(
        "--cert",
        action="extend",
        nargs="+",
        type=Path,
        required=True,
        metavar="FILE",
        help="a PEM file with one or more CA certificates (repeatable)",
    )
    add.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="DEST",
        help="where to write the new image: oci:DIR[:TAG] or docker://HOST/REPO[:TAG]",
    )
    add.add_argument(
        "--keystore-password",
        default="changeit",
        metavar="PASSWORD",
        help="the password of the image's Java keystores (default: changeit, as Debian's "
        "and the JDKs'); a keystore with another one is refused",
    )
    add.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")


def run(args: argparse.Namespace) -> int:
    if args.certs_command != "add":
        raise UsageError("say what to do: `hardbase certs add REF --cert FILE --output DEST`")
    from hardbase.certs.add import add_certs
    from hardbase.certs.x509 import load_cert_files
    from hardbase.oci.reference import parse_reference

    src, dest = parse_reference(args.ref), parse_reference(args.output)
    certs = load_cert_files(args.cert)
    result = add_certs(
        src,
        dest,
        certs,
        password=args.keystore_password,
        insecure=args.insecure,
        progress=TerminalProgress(enabled=not args.quiet),
    )
    if not args.quiet:
        for change in result.changes:
            if not change.layer:
                print(f"hardbase: {change.platform}: every CA is already trusted", file=sys.stderr)
                continue
            stores = ", ".join(change.keystores) or "none"
            print(
                f"hardbase: {change.platform}: {len(change.added)} CAs added to "
                f"{change.bundle or 'no bundle (all there)'}; Java keystores: {stores}; "
                f"layer {change.layer}",
                file=sys.stderr,
            )
        print(f"hardbase: wrote {dest}", file=sys.stderr)
    print(result.digest)
    return 0
