"""Patch any Debian or Ubuntu-format image in place, as Copacetic does: one new layer.

`hardbase patch-image REF --output DEST` reads REF's release and dpkg database,
takes its fixable Debian findings (hardbase's scanner, or `--report` with a Trivy
or hardbase JSON report of the same image), finds the newest fixed version of
each package in the release's signed suites, and writes REF with one more layer:
the new packages' files, whiteouts for the files they dropped, and the dpkg
database as dpkg would leave it. No maintainer script is run: an upgrade that
needs one, or a dependency the image lacks, is reported as "needs a rebuild" and
left out. DEST is oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG];
the digest it now names is the last line of stdout. See docs/patch-image.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime
from pathlib import Path

from hardbase.cli.dbopts import add_db_options, open_checked
from hardbase.cli.progress import TerminalProgress
from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="the image (oci:DIR[:TAG], docker://…, …)")
    parser.add_argument(
        "--output", "-o", required=True, metavar="DEST",
        help="where to write the patched image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or "
        "docker://HOST/REPO[:TAG]",
    )  # fmt: skip
    parser.add_argument(
        "--tag", metavar="T", help="the tag DEST gets (instead of the one DEST names)"
    )
    parser.add_argument(
        "--only", choices=("fixable", "security"), default="fixable",
        help="fixable (default): newest fixed version from R, R-updates and R-security; "
        "security: only versions from R-security",
    )  # fmt: skip
    parser.add_argument(
        "--report", type=Path, metavar="FILE",
        help="take the findings from this Trivy or hardbase JSON report of REF instead of "
        "scanning (a report of another image is refused)",
    )  # fmt: skip
    parser.add_argument(
        "--mirror",
        metavar="URL",
        default="",
        help="the release's archive (default: deb.debian.org/debian or archive.ubuntu.com)",
    )
    parser.add_argument(
        "--security-mirror",
        metavar="URL",
        default="",
        help="the release's security archive (default: deb.debian.org/debian-security or "
        "security.ubuntu.com)",
    )
    parser.add_argument(
        "--keyring", type=Path, metavar="FILE",
        help="the keyring gpgv checks InRelease with (default: the release's archive keyring)",
    )  # fmt: skip
    parser.add_argument(
        "--sign-key", type=Path, metavar="KEY",
        help="sign the patched image with this cosign key and attach SPDX and CycloneDX "
        "SBOMs, SLSA provenance and an OpenVEX document of the CVEs fixed (DEST oci: or "
        "docker://; the key's password from $HARDBASE_KEY_PASSWORD)",
    )  # fmt: skip
    parser.add_argument("--insecure", action="store_true", help="allow plain-HTTP registries")
    add_db_options(parser)


def run(args: argparse.Namespace) -> int:
    from hardbase.oci.reference import parse_reference
    from hardbase.patch.image import Archives, patch_image

    src, dest = parse_reference(args.ref), parse_reference(args.output)
    if args.tag:
        dest = dataclasses.replace(dest, tag=args.tag, digest=None)
    archives = Archives(args.mirror, args.security_mirror, args.keyring)
    if args.sign_key is not None:
        if dest.transport not in ("oci", "docker"):
            raise UsageError("--sign-key needs DEST oci:DIR[:TAG] or docker://…, where "
                             "signatures are stored")  # fmt: skip
        if not args.sign_key.is_file():
            raise UsageError(f"signing key {args.sign_key} does not exist; run `hardbase keygen`")
    started = datetime.now(UTC)
    progress = TerminalProgress(enabled=not args.quiet)
    if args.report is not None:
        result = patch_image(
            src, dest, report=args.report, only=args.only, archives=archives,
            insecure=args.insecure, progress=progress,
        )  # fmt: skip
    else:
        db, _ = open_checked(args)
        try:
            result = patch_image(
                src, dest, db=db, only=args.only, archives=archives,
                insecure=args.insecure, progress=progress,
            )  # fmt: skip
        finally:
            db.close()
    attached = 0
    if args.sign_key is not None:
        from hardbase.patch.attest import sign_patched
        from hardbase.release.keys import password_from_env

        attached = sign_patched(
            dest, result, args.sign_key, password_from_env(), source=str(src), only=args.only,
            started=started, finished=datetime.now(UTC), insecure=args.insecure,
        )  # fmt: skip
    if not args.quiet:
        for p in result.platforms:
            for u in p.upgrades:
                if u.needed_by and u.old:
                    print(f"hardbase: {p.platform}: {u.name} {u.old} -> {u.new} ({u.suite}): "
                          f"upgraded too, as {u.needed_by} needs it", file=sys.stderr)  # fmt: skip
                    continue
                if u.needed_by:
                    print(f"hardbase: {p.platform}: {u.name} {u.new} ({u.suite}): added as a new "
                          f"dependency of {u.needed_by}", file=sys.stderr)  # fmt: skip
                    continue
                fixes = ", ".join(u.fixes)
                print(f"hardbase: {p.platform}: {u.name} {u.old} -> {u.new} ({u.suite}): "
                      f"fixes {fixes}", file=sys.stderr)  # fmt: skip
            for s in p.needs_rebuild:
                print(f"hardbase: {p.platform}: {s.name} needs a rebuild: {s.reason} "
                      f"({', '.join(s.ids)} stay open)", file=sys.stderr)  # fmt: skip
            if not p.layer:
                print(f"hardbase: {p.platform}: nothing to patch; no layer added", file=sys.stderr)
            else:
                added = sum(1 for u in p.upgrades if u.needed_by and not u.old)
                print(f"hardbase: {p.platform}: {len(p.upgrades) - added} packages upgraded, "
                      f"{added} added as new dependencies; layer {p.layer}",
                      file=sys.stderr)  # fmt: skip
        print(f"hardbase: wrote {dest}", file=sys.stderr)
        if attached:
            print(f"hardbase: signed {result.digest} and attached {attached} attestations "
                  "(SBOMs, provenance, OpenVEX)", file=sys.stderr)  # fmt: skip
    print(result.digest)
    return 0
