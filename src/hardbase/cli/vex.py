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
from typing import Any

from hardbase.errors import UsageError
from hardbase.util import jsondoc


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
    from hardbase.policy import openvex
    from hardbase.util.fs import write_atomic

    if args.vex_command == "create":
        product = args.product or _image_product(args.image, args.insecure)
        st = openvex.statement(
            args.vuln,
            args.status,
            product,
            subcomponents=args.package,
            justification=args.justification,
            impact=args.impact,
            action=args.action,
        )
        doc = openvex.document([st], author=args.author)
    elif args.vex_command == "merge":
        doc = openvex.merge([_read(Path(p)) for p in args.files], author=args.author)
    else:
        raise UsageError("say what to do: `hardbase vex create …` or `hardbase vex merge …`")
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        write_atomic(Path(args.output), text.encode())
    else:
        sys.stdout.write(text)
    return 0


def _image_product(ref: str, insecure: bool) -> str:
    from hardbase.oci.reference import parse_reference
    from hardbase.oci.transports.open import open_source
    from hardbase.policy.openvex import image_purl

    image = parse_reference(ref)
    with open_source(image, insecure=insecure) as source:
        resolved = source.resolve()
    name = image.repository or (image.path.name if image.path else "image")
    repo = f"{image.registry}/{image.repository}" if image.registry else ""
    return image_purl(name.rsplit("/", 1)[-1], resolved.manifest.digest, repo)


def _read(path: Path) -> Any:
    from hardbase.vuln.vex import MAX_VEX_SIZE, VexError

    try:
        if path.stat().st_size > MAX_VEX_SIZE:
            raise VexError(f"the VEX document {path} is larger than {MAX_VEX_SIZE} bytes")
        return jsondoc.loads(path.read_bytes())
    except OSError as exc:
        raise VexError(f"cannot read the VEX document {path} ({exc.strerror})") from None
    except ValueError as exc:
        raise VexError(f"the VEX document {path} is not JSON") from exc
