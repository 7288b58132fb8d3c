"""Run the fleet service: the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json), the
dashboard, /healthz, /readyz and /metrics, over the fleet's state database, with the
controller loop in the same process unless --no-watch.

It listens on 127.0.0.1:8080 by default; another address needs --tls-cert and
--tls-key (or --insecure-listen behind a TLS proxy). Requests carry
`Authorization: Bearer TOKEN`; make tokens with `hardbase serve token create`.
SIGTERM stops it gracefully: the pass in progress ends (within --grace seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from hardbase.errors import UsageError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", "-f", type=Path, help="the fleet file (YAML)")
    parser.add_argument(
        "--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:8080)",
    )  # fmt: skip
    parser.add_argument(
        "--no-watch", action="store_true",
        help="serve only; run no controller in this process (others run `hardbase watch`)",
    )  # fmt: skip
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="TLS certificate chain")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="TLS private key")
    parser.add_argument(
        "--insecure-listen", action="store_true",
        help="allow a non-loopback address without TLS (only behind a TLS proxy)",
    )  # fmt: skip
    parser.add_argument(
        "--grace", type=float, default=60.0, metavar="SECONDS",
        help="on SIGTERM, how long to wait for the pass in progress (default 60)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="serve_command", metavar="ACTION")
    token = sub.add_parser("token", help="manage API tokens", description="Manage API tokens.")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create a token and print it once",
        description="Create a token; it is printed once, and only its hash is stored.",
    )  # fmt: skip
    create.add_argument(
        "--fleet", "-f", type=Path, dest="token_fleet", required=True, metavar="FLEET",
        help="the fleet file (its state database keeps the tokens)",
    )  # fmt: skip
    create.add_argument("--role", choices=("read", "admin"), required=True,
                        help="read: every GET; admin: also rebuilds and passes")  # fmt: skip
    create.add_argument("--name", default="", help="who or what the token is for")
    listing = actions.add_parser("list", help="list tokens (ids, roles, never secrets)")
    listing.add_argument(
        "--fleet", "-f", type=Path, dest="token_fleet", required=True, metavar="FLEET"
    )
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument(
        "--fleet", "-f", type=Path, dest="token_fleet", required=True, metavar="FLEET"
    )
    revoke.add_argument("id", help="the token id (the 12 hex digits after hbt_)")


def run(args: argparse.Namespace) -> int:
    from hardbase.lifecycle.fleet import load_fleet

    if args.serve_command == "token":
        return _token(args, load_fleet(args.token_fleet).state)
    if args.fleet is None:
        raise UsageError("give --fleet FILE (the fleet file)")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"hardbase serve needs {exc.name}: install the serve extra "
            "(pip install 'hardbase[serve]')"
        ) from None
    if not args.quiet:  # one line per request (method, path, status, time) and each pass
        for name in ("hardbase.server", "hardbase.lifecycle"):
            logging.getLogger(name).setLevel(logging.INFO)
    from hardbase.server.service import ServeOptions, check_options, parse_listen, serve

    options = ServeOptions(
        listen=parse_listen(args.listen), watch=not args.no_watch, tls_cert=args.tls_cert,
        tls_key=args.tls_key, insecure_listen=args.insecure_listen, grace=args.grace,
    )  # fmt: skip
    check_options(options)  # before the fleet file, so a refused address writes nothing
    return serve(load_fleet(args.fleet), options)


def _token(args: argparse.Namespace, state: str) -> int:
    from hardbase.server.tokens import TokenStore

    tokens = TokenStore.open(state)
    try:
        if args.token_command == "create":
            print(tokens.create(args.role, args.name))
            print("store it now: it is not shown again, only its hash is kept", file=sys.stderr)
        elif args.token_command == "list":
            for t in tokens.list():
                created = dt.datetime.fromtimestamp(t.created_at, dt.UTC).strftime("%Y-%m-%d")
                status = "revoked" if t.revoked_at else "active"
                print(f"{t.id}  {t.role:5}  {status:7}  {created}  {t.name}")
        else:
            tokens.revoke(args.id)
    finally:
        tokens.close()
    return 0
