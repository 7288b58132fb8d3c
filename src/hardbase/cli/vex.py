"""Create and merge OpenVEX documents.

`hardbase vex create --image REF --vuln CVE-… --status not_affected --justification …
[--package PURL…]` states that the image (its digest purl) is or is not affected,
optionally only for the named packages. `hardbase vex merge A.json B.json` joins
documents; the latest statement per vulnerability and product wins.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="vex_command", metavar="ACTION")
    create = sub.add_parser("create", help="write an OpenVEX document with one statement")
    target = create.add_mutually_exclusive_group(required=True)
    target.add_argument("--image", metavar="REF", help="the image (its digest becomes the product)")
    target.add_argument("--product", metavar="PURL", help="a product purl, as is")
    create.add_argument("--vuln", required=True, metavar="ID", help="vulnerability id")
    create.add_argument(
        "--status",
        required=True,
        choices=("not_affected", "affected", "fixed", "under_investigation"),
    )
    create.add_argument("--justification", default="", help="why not affected (OpenVEX label)")
    create.add_argument("--impact", default="", help="impact statement, free text")
    create.add_argument("--action", default="", help="action statement (for affected)")
    create.add_argument(
        "--package", action="append", default=[], metavar="PURL", help="subcomponent purl"
    )
    create.add_argument("--author", default="hardbase", help="document author")
    create.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    create.add_argument("--output", "-o", metavar="FILE", help="write to FILE (default stdout)")
    merge = sub.add_parser("merge", help="merge OpenVEX documents into one")
    merge.add_argument("files", nargs="+", metavar="FILE")
    merge.add_argument("--author", default="hardbase", help="document author")
    merge.add_argument("--output", "-o", metavar="FILE", help="write to FILE (default stdout)")


def run(args: argparse.Namespace) -> int:
    from hardbase.release.documents import image_product, merge_vex_files, vex_statement_document
    from hardbase.util.fs import write_atomic

    if args.vex_command == "create":
        product = args.product or image_product(args.image, insecure=args.insecure)
        doc = vex_statement_document(
            args.vuln, args.status, product, subcomponents=args.package,
            justification=args.justification, impact=args.impact, action=args.action,
            author=args.author,
        )  # fmt: skip
    elif args.vex_command == "merge":
        doc = merge_vex_files([Path(p) for p in args.files], author=args.author)
    else:
        raise UsageError("say what to do: `hardbase vex create …` or `hardbase vex merge …`")
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        write_atomic(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
    return 0
