"""Fetch a Debian source package from the release's signed archive and unpack it.

`hardbase source fetch SOURCE[=VERSION] --release R --output DIR` reads the
signed Sources indexes of the release's suites (R-security, R-updates and R by
default; InRelease checked with gpgv), downloads the .dsc and its tarballs,
checks each against the SHA256 the signed index lists, and unpacks them with
`dpkg-source -x` into DIR. SOURCE may name a binary package: its source is
fetched (for a binNMU version `1.2-3+b1`, the source version `1.2-3`). DIR must
not exist or be empty; on any failure nothing is left in it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hardbase.cli.progress import TerminalProgress
from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source_command", metavar="ACTION")
    fetch = sub.add_parser(
        "fetch", help="download, verify and unpack a source package", description=__doc__
    )
    fetch.add_argument(
        "source",
        metavar="SOURCE[=VERSION]",
        help="a source (or binary) package name, optionally with the version to fetch "
        "(default: the highest in the release's suites)",
    )
    fetch.add_argument("--release", required=True, metavar="CODENAME", help="e.g. trixie")
    fetch.add_argument(
        "--output", required=True, type=Path, metavar="DIR",
        help="where the files and the unpacked tree go (must not exist or be empty)",
    )  # fmt: skip
    fetch.add_argument(
        "--mirror", metavar="URL", help="the Debian mirror (default: http://deb.debian.org/debian)"
    )
    fetch.add_argument(
        "--security-mirror", metavar="URL",
        help="the mirror of the -security suite (default: MIRROR-security for a .../debian "
        "mirror, else MIRROR)",
    )  # fmt: skip
    fetch.add_argument(
        "--suite", action="append", default=[], metavar="SUITE",
        help="a suite to read (repeatable; default: R-security, R-updates and R)",
    )  # fmt: skip
    fetch.add_argument(
        "--keyring", type=Path, metavar="FILE",
        help="the keyring the suites' InRelease must be signed with "
        "(default: /usr/share/keyrings/debian-archive-keyring.gpg)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.source_command != "fetch":
        raise UsageError("say what to do: `hardbase source fetch SOURCE --release R --output DIR`")
    from hardbase.debian.model import DEFAULT_KEYRING
    from hardbase.source.fetch import fetch_source, release_entries
    from hardbase.util.paths import cache_dir

    name, _, version = args.source.partition("=")
    if not name or (args.source.endswith("=") and not version):
        raise UsageError(f"{args.source!r} is not SOURCE or SOURCE=VERSION")
    entries = release_entries(
        args.release,
        mirror=args.mirror,
        security_mirror=args.security_mirror,
        suites=args.suite,
        keyring=args.keyring or DEFAULT_KEYRING,
    )
    fetched = fetch_source(
        name,
        args.output,
        entries=entries,
        version=version or None,
        cache_dir=cache_dir(),
        progress=TerminalProgress(enabled=not args.quiet),
    )
    print(f"{fetched.name} {fetched.version} ({fetched.suite})")
    for file in fetched.files:
        print(f"{file.sha256}  {file.size:>10}  {file.name}")
    print(fetched.tree)
    return 0
