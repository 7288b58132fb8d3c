"""Generate an ECDSA P-256 key pair for signing images: PREFIX.key and PREFIX.pub.

The private key is written in cosign's format (`ENCRYPTED SIGSTORE PRIVATE KEY`,
scrypt + NaCl secretbox), so `cosign sign --key PREFIX.key` reads it too, or with
--format pkcs8 as PKCS#8 PEM (PBES2, AES-256-CBC). The password comes from
HARDBASE_KEY_PASSWORD, else COSIGN_PASSWORD. Without a password keygen refuses,
unless --no-password asks for a key anyone can open (cosign format with an empty
password, as `cosign generate-key-pair` writes one; PKCS#8 in the clear). The
key is written with mode 0600; an existing key file is never overwritten. The
public key is the PEM SubjectPublicKeyInfo that `cosign verify --key` also reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from hardbase.release.keys import KeyFormat


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-prefix",
        default="cosign",
        metavar="PREFIX",
        help="write PREFIX.key and PREFIX.pub (default: cosign); both must not exist yet",
    )
    parser.add_argument(
        "--format",
        dest="key_format",
        choices=get_args(KeyFormat),
        default="cosign",
        help="private key format: cosign (ENCRYPTED SIGSTORE PRIVATE KEY, read by cosign; "
        "the default) or pkcs8 (PEM)",
    )
    parser.add_argument(
        "--no-password",
        action="store_true",
        help="write a key with no password (only with HARDBASE_KEY_PASSWORD and "
        "COSIGN_PASSWORD unset)",
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.release.keys import generate_keys

    key_path, pub_path = generate_keys(
        Path(args.output_prefix), key_format=args.key_format, unencrypted=args.no_password
    )
    print(key_path)
    print(pub_path)
    return 0
