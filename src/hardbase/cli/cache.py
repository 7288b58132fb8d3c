"""Keep the cache's size in check.

`hardbase cache prune --max-size SIZE` removes the least recently used files of
the cache's rebuildable stores (downloaded .debs, built layers, layer inventory
records, parsed copyright files, cached SBOMs) until they hold at most SIZE;
`--older-than DAYS` removes every such file unused for more than DAYS days. The
vulnerability database and archive indexes are never removed; files used in the
last ten minutes are kept.
"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cache_command", metavar="ACTION")
    prune = sub.add_parser(
        "prune", help="remove the least recently used rebuildable files", description=__doc__
    )
    prune.add_argument(
        "--max-size", metavar="SIZE",
        help="keep the stores at most SIZE (bytes, or with K, M, G or T: powers of 1024)",
    )  # fmt: skip
    prune.add_argument(
        "--older-than", type=float, metavar="DAYS", help="remove files unused for more than DAYS"
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="say what would be removed; remove nothing"
    )


def run(args: argparse.Namespace) -> int:
    from hardbase.errors import UsageError
    from hardbase.util.cacheprune import parse_size, prune
    from hardbase.util.paths import cache_dir

    if args.cache_command != "prune":
        raise UsageError("name an action: `hardbase cache prune --max-size SIZE`")
    result = prune(
        cache_dir(),
        max_bytes=parse_size(args.max_size) if args.max_size is not None else None,
        older_than=args.older_than * 86400 if args.older_than is not None else None,
        dry_run=args.dry_run,
    )
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {result.removed} files ({result.freed / 1e6:.1f} MB); "
        f"{result.kept} files ({result.kept_bytes / 1e6:.1f} MB) kept in {cache_dir()}"
    )
    return 0
