"""hardbase's own signed Debian archive of rebuilt packages.

`hardbase repo keygen PREFIX` makes the archive's OpenPGP signing key:
PREFIX.key (secret, mode 0600, protected by the passphrase in
HARDBASE_ARCHIVE_KEY_PASSWORD, or by none with --no-password; keep it off the
served directory) and PREFIX.gpg (the public keyring that gpgv, apt's
Signed-By and a spec's `signed-by:` read). `hardbase repo publish REPO
--release R --key PREFIX.key FILES...` (the passphrase again in
HARDBASE_ARCHIVE_KEY_PASSWORD) adds .deb, .dsc (with the files it lists) and
.changes files to the suite `R-hardbase` of REPO and signs its InRelease; a
second publisher of the same REPO is refused while one runs, and readers never
see a half-written index. `hardbase repo serve REPO` serves REPO over HTTP on
127.0.0.1 (any static web server that follows symlinks works in production).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="repo_command", metavar="ACTION")
    keygen = sub.add_parser("keygen", help="make the archive's OpenPGP signing key")
    keygen.add_argument(
        "prefix", type=Path, metavar="PREFIX",
        help="write PREFIX.key (secret, 0600) and PREFIX.gpg (public keyring); neither may exist",
    )  # fmt: skip
    keygen.add_argument(
        "--name", default="hardbase archive", help="the key's user id name (default: %(default)s)"
    )
    keygen.add_argument(
        "--no-password", action="store_true",
        help="write the secret key without a passphrase (only with "
        "HARDBASE_ARCHIVE_KEY_PASSWORD unset)",
    )  # fmt: skip
    publish = sub.add_parser("publish", help="add packages to REPO and sign its index")
    publish.add_argument("repo", type=Path, metavar="REPO", help="the archive directory")
    publish.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help=".deb, .dsc or .changes files"
    )
    publish.add_argument(
        "--release", required=True, metavar="CODENAME",
        help="the Debian release the packages are built for; the suite is CODENAME-hardbase",
    )  # fmt: skip
    publish.add_argument(
        "--key", required=True, type=Path, metavar="PREFIX.key",
        help="the archive's secret key, from `hardbase repo keygen`",
    )  # fmt: skip
    publish.add_argument(
        "--arch", action="append", default=[], metavar="ARCH",
        help="an architecture to index even without packages (repeatable; default amd64)",
    )  # fmt: skip
    serve = sub.add_parser("serve", help="serve REPO over HTTP on 127.0.0.1")
    serve.add_argument("repo", type=Path, metavar="REPO")
    serve.add_argument(
        "--port", type=int, default=8080, help="the port (default %(default)s; 0: a free one)"
    )


def run(args: argparse.Namespace) -> int:
    if args.repo_command == "keygen":
        from hardbase.repo.keys import password_from_env, write_archive_key

        key = write_archive_key(
            args.prefix, args.name, password=password_from_env(), unencrypted=args.no_password
        )
        print(key.secret)
        print(key.public)
        print(key.fingerprint)
        return 0
    if args.repo_command == "publish":
        from hardbase.repo.keys import password_from_env
        from hardbase.repo.publish import publish

        result = publish(
            args.repo, args.release, args.files, args.key, archs=args.arch or ("amd64",),
            password=password_from_env(),
        )  # fmt: skip
        for package in result.added:
            print(f"{package.name} {package.version} {package.arch} -> {package.pool_path}")
        print(
            f"{result.suite}: {result.binaries} binary and {result.sources} source packages; "
            f"{result.inrelease}"
        )
        return 0
    if args.repo_command == "serve":
        from hardbase.repo.serve import RepoServer

        if not 0 <= args.port <= 65535:
            raise UsageError(f"--port {args.port} is not a TCP port")
        server = RepoServer(args.repo, args.port)
        print(f"serving {args.repo} at {server.url} (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        finally:
            server.close()
        return 0
    raise UsageError("say what to do: `hardbase repo keygen`, `repo publish` or `repo serve`")
