"""Write the SBOM of any image (SPDX 2.3 or CycloneDX 1.6 JSON).

Debian packages' licenses come from their copyright files, Python and npm
packages' from their metadata. The document goes to stdout (or --output);
set SOURCE_DATE_EPOCH to fix its creation time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

from hardbase.release.documents import SbomFormatName


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="image reference, e.g. oci:DIR[:TAG]")
    parser.add_argument(
        "--format", choices=get_args(SbomFormatName), default="spdx-json", help="document format"
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write the document to FILE")
    parser.add_argument("--name", help="the image's name in the document (default: from REF)")
    parser.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    parser.add_argument("--arch", help="platform of a multi-arch image (default amd64)")
    parser.add_argument(
        "--no-layer-cache",
        action="store_true",
        help="read every layer again, neither using nor filling the per-layer inventory cache "
        "(CACHE/layer-inventory, by each layer's diff_id)",
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.release.documents import image_sbom
    from hardbase.util.fs import write_atomic

    data = image_sbom(
        args.ref, args.format, insecure=args.insecure, arch=args.arch, name=args.name,
        layer_cache=not args.no_layer_cache,
    )  # fmt: skip
    if args.output:
        write_atomic(Path(args.output), data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
