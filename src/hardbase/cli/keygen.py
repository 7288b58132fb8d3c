"""Generate an ECDSA P-256 key pair for signing images: PREFIX.key and PREFIX.pub.

The private key is encrypted with the password in HARDBASE_KEY_PASSWORD
(PKCS#8 PEM; unencrypted when the password is empty). The public key is the
PEM SubjectPublicKeyInfo that `cosign verify --key` also reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hardbase.attest.keys import password_from_env, write_keypair


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-prefix",
        default="cosign",
        metavar="PREFIX",
        help="write PREFIX.key and PREFIX.pub (default: cosign)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")


def run(args: argparse.Namespace) -> int:
    key_path, pub_path = write_keypair(
        Path(args.output_prefix), password_from_env(), force=args.force
    )
    print(key_path)
    print(pub_path)
    return 0
