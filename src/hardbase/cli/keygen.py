"""Generate an ECDSA P-256 key pair for signing images: PREFIX.key and PREFIX.pub.

The private key is encrypted with the password in HARDBASE_KEY_PASSWORD
(PKCS#8 PEM) and written with mode 0600. Without a password keygen refuses,
unless --no-password asks for an unencrypted key. An existing key file is never
overwritten. The public key is the PEM SubjectPublicKeyInfo that
`cosign verify --key` also reads.
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
        help="write PREFIX.key and PREFIX.pub (default: cosign); both must not exist yet",
    )
    parser.add_argument(
        "--no-password",
        action="store_true",
        help="write the private key unencrypted (only with HARDBASE_KEY_PASSWORD unset)",
    )


def run(args: argparse.Namespace) -> int:
    key_path, pub_path = write_keypair(
        Path(args.output_prefix), password_from_env(), unencrypted=args.no_password
    )
    print(key_path)
    print(pub_path)
    return 0
