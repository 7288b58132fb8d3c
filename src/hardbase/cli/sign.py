"""Sign an image (cosign-compatible), and optionally attest a predicate about it.

The signature is stored beside the image under the tag `sha256-<hex>.sig`;
attestations (DSSE envelopes of in-toto statements) under `sha256-<hex>.att`,
as cosign stores them, so `cosign verify --key` and `cosign verify-attestation
--key --type TYPE` accept them. The key is one from `hardbase keygen` or `cosign
generate-key-pair`; its password comes from HARDBASE_KEY_PASSWORD, else
COSIGN_PASSWORD. Prints the signed digest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hardbase.release.keys import PREDICATE_TYPES


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="image to sign (docker://… or oci:DIR[:TAG])")
    parser.add_argument(
        "--key",
        required=True,
        type=Path,
        help="private key (from `hardbase keygen` or `cosign generate-key-pair`)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="plain HTTP to the registry (local only)"
    )
    parser.add_argument(
        "--identity",
        metavar="HOST/REPO",
        help="the repository the signature names (its docker-reference); default: the "
        "reference's repository, or for oci:DIR the directory's name. Give the registry "
        "repository when signing a layout that will be pushed",
    )
    parser.add_argument(
        "--predicate",
        type=Path,
        metavar="FILE",
        help="also attest this JSON predicate (SLSA provenance, SPDX, CycloneDX or OpenVEX "
        "document)",
    )
    parser.add_argument(
        "--type",
        dest="predicate_type",
        default="slsaprovenance1",
        help="predicate type, by cosign's names (slsaprovenance1, spdxjson, cyclonedx, "
        f"openvex; all: {', '.join(PREDICATE_TYPES)}) or a URI (default slsaprovenance1)",
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.release.signatures import sign_reference

    digest = sign_reference(
        args.ref, args.key, predicate=args.predicate, predicate_type=args.predicate_type,
        identity=args.identity, insecure=args.insecure,
    )  # fmt: skip
    print(digest)
    return 0
