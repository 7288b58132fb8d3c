"""Verify an image's signature and attestations against a public key.

Prints each check; exits 0 when all pass and 1 (with the reason) when one fails:
the manifest bytes do not hash to the digest, the manifest changed since
signing, another key signed it, the signature tag was removed, the signature
was made for another repository (see --identity), an attestation is about
another digest, or a --require'd predicate type has no attestation by the key.
Signatures and attestations by other keys beside ours are listed as SKIP (not by
this key), as cosign skips them. Reads what cosign writes as well as hardbase.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hardbase.errors import GateFailed
from hardbase.release.keys import PREDICATE_TYPES

FRESHNESS = (
    "Limit: a signature binds a digest to a repository, not to a tag or a time. cosign's "
    "and hardbase's signatures name no tag, so an old signed digest moved under a new tag "
    "of the same repository still verifies; verify cannot tell that the image is stale. "
    "Check what the tag should name (the digest you published) or gate on the scan."
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = FRESHNESS
    parser.add_argument(
        "ref",
        metavar="REF",
        help="image to verify (docker://…, oci:DIR[:TAG] or oci-archive:FILE[:TAG])",
    )
    parser.add_argument("--key", required=True, type=Path, help="public key (PEM)")
    parser.add_argument(
        "--insecure", action="store_true", help="plain HTTP to the registry (local only)"
    )
    parser.add_argument(
        "--identity",
        metavar="HOST/REPO",
        help="the repository the signature must name (its simple-signing docker-reference); "
        "default for docker:// references: the reference's own repository; for oci:DIR "
        "not checked unless given",
    )
    parser.add_argument(
        "--require-attestations",
        action="store_true",
        help="fail when no attestation beside the image verifies with the key",
    )
    parser.add_argument(
        "--require",
        nargs="+",
        action="extend",
        default=[],
        metavar="TYPE",
        help="predicate types that must have an attestation verified with the key, by "
        f"cosign's names ({', '.join(PREDICATE_TYPES)}) or URIs; e.g. --require "
        "slsaprovenance1 cyclonedx",
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.release.signatures import verify_reference

    result = verify_reference(
        args.ref, args.key, require=args.require, require_attestations=args.require_attestations,
        identity=args.identity, insecure=args.insecure,
    )  # fmt: skip
    for check in result.checks:
        status = "SKIP" if check.skipped else "PASS" if check.ok else "FAIL"
        print(f"{status}  {check.name}: {check.detail}")
    if not result.ok:
        raise GateFailed(f"verification of {result.ref} failed: {result.reason}")
    return 0
