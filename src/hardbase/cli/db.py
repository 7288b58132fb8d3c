"""Build, refresh or inspect the local vulnerability database.

`hardbase db update` runs the feed importers (all of them, or those named with
--source NAME[=LOCATION], repeatable); a feed that cannot be read is a warning
as long as every `--required` feed updated. `hardbase db status` shows what
each source holds and how old it is. `hardbase db push REF` publishes the whole
database as a signed OCI artifact, `hardbase db pull REF` verifies and installs
one, and `db update --from REF` pulls one before updating it.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hardbase.cli.progress import TerminalProgress
from hardbase.errors import HardbaseError, UsageError

DEFAULT_MAX_AGE_HOURS = 48.0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION")
    update = sub.add_parser("update", help="import vulnerability feeds into the database")
    update.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME[=LOCATION]",
        help="import only this source, optionally from LOCATION (a file, directory, .zip "
        "or URL); repeatable. Sources: osv, debian-tracker, debian-changelog, "
        "debian-security-support",
    )
    update.add_argument(
        "--release",
        action="append",
        default=[],
        metavar="CODENAME",
        help="Debian releases for debian-changelog (default: trixie and bookworm)",
    )
    update.add_argument(
        "--arch", default="amd64", help="architecture whose binaries debian-changelog reads"
    )
    update.add_argument(
        "--required",
        action="append",
        default=[],
        metavar="NAME",
        help="a source that must update for exit 0 (repeatable); the others may fail with "
        "a warning. Default: debian-changelog when it runs, else every source run",
    )
    update.add_argument(
        "--from",
        dest="from_ref",
        metavar="REF",
        help="first pull the database published at REF (docker://HOST/REPO[:TAG]), verified "
        "with --key, then update it incrementally",
    )
    _key_options(update, False, "public key the --from database must be signed with")
    _db_option(update)
    push = sub.add_parser(
        "push", help="publish the whole database as a signed OCI artifact in a registry"
    )
    push.add_argument("ref", metavar="REF", help="docker://HOST/REPO[:TAG] or oci:DIR[:TAG]")
    _key_options(
        push, True, "private key that signs it (from keygen; password in HARDBASE_KEY_PASSWORD)"
    )
    _db_option(push)
    pull = sub.add_parser(
        "pull", help="replace the database with a published one, after verifying its signature"
    )
    pull.add_argument("ref", metavar="REF", help="docker://HOST/REPO[:TAG] or oci:DIR[:TAG]")
    _key_options(pull, True, "public key the published database must be signed with")
    _db_option(pull)
    status = sub.add_parser("status", help="show the database's sources and their age")
    status.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_MAX_AGE_HOURS,
        metavar="HOURS",
        help=f"warn about sources older than this (default {DEFAULT_MAX_AGE_HOURS:g})",
    )
    _db_option(status)


def _key_options(parser: argparse.ArgumentParser, required: bool, key_help: str) -> None:
    parser.add_argument("--key", required=required, type=Path, help=key_help)
    parser.add_argument("--insecure", action="store_true", help="plain HTTP to the registry")


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="database file or SQLAlchemy URL (default: $HARDBASE_DB or the cache directory)",
    )


def run(args: argparse.Namespace) -> int:
    if args.db_command == "update":
        return _update(args)
    if args.db_command == "status":
        return _status(args)
    if args.db_command == "push":
        return _push(args)
    if args.db_command == "pull":
        return _pull(args)
    raise UsageError(
        "say what to do with the database: `hardbase db update`, `status`, `push` or `pull`"
    )


def _parse_sources(values: list[str]) -> dict[str, list[str]]:
    from hardbase.vuln.importers.interface import IMPORTERS

    wanted: dict[str, list[str]] = {}
    for value in values:
        name, sep, location = value.partition("=")
        name = name.strip()
        if name not in IMPORTERS:
            raise UsageError(
                f"--source {value}: there is no source {name!r}; "
                f"choose one of {', '.join(sorted(IMPORTERS))}"
            )
        if sep and not location:
            raise UsageError(f"--source {value}: the location after '=' is empty")
        locations = wanted.setdefault(name, [])
        if location:
            locations.append(location)
    return wanted


def _required(args: argparse.Namespace, wanted: dict[str, list[str]]) -> set[str]:
    for name in args.required:
        if name not in wanted:
            raise UsageError(
                f"--required {name}: {name!r} is not among the sources this update runs "
                f"({', '.join(wanted)})"
            )
    if args.required:
        return set(args.required)
    return {"debian-changelog"} & set(wanted) or set(wanted)


def _update(args: argparse.Namespace) -> int:
    from hardbase.util.http import received_bytes
    from hardbase.vuln.db import VulnDB
    from hardbase.vuln.importers.interface import IMPORTERS, Importer, get_importer

    wanted = _parse_sources(args.source) or {name: [] for name in IMPORTERS}
    required = _required(args, wanted)
    if args.from_ref:
        if args.key is None:
            raise UsageError("--from needs --key, the public key the database is signed with")
        _pull(args, ref=args.from_ref)
    progress = TerminalProgress(enabled=not args.quiet)
    failed: dict[str, HardbaseError] = {}
    with VulnDB.open(args.db) as db:
        for name, locations in wanted.items():
            importer: Importer
            if name == "debian-changelog":
                from hardbase.vuln.importers.debian_changelog import DebianChangelogImporter

                importer = DebianChangelogImporter(
                    releases=tuple(args.release) or None, archs=(args.arch,)
                )
            else:
                importer = get_importer(name)
            before, started = received_bytes(), time.monotonic()
            try:
                stats = importer.run(db, locations, progress)
            except HardbaseError as exc:
                if len(wanted) == 1:
                    raise
                failed[name] = exc
                level = "error" if name in required else "warning"
                print(f"hardbase: {level}: {name}: {exc.diagnostics()}", file=sys.stderr)
                continue
            extra = f", {stats.skipped} skipped" if stats.skipped else ""
            extra += f", {stats.unchanged} unchanged" if stats.unchanged else ""
            downloaded = (received_bytes() - before) / 1e6
            print(
                f"{name}: {stats.advisories} advisories, {stats.affected} package records"
                f"{extra} ({downloaded:.1f} MB downloaded in {time.monotonic() - started:.1f} s)",
                file=sys.stderr,
            )
    missing = sorted(required & set(failed))
    if missing:
        print(
            f"hardbase: {len(failed)} of {len(wanted)} sources failed, required: "
            f"{', '.join(missing)}; their records are unchanged",
            file=sys.stderr,
        )
        return 2
    if failed:
        print(
            f"hardbase: warning: {', '.join(failed)} could not be updated and keep their "
            "older records (see `hardbase db status`); the required sources updated",
            file=sys.stderr,
        )
    return 0


def _push(args: argparse.Namespace) -> int:
    from hardbase.release.keys import password_from_env
    from hardbase.util.paths import default_db_path
    from hardbase.vuln.publish import push_db

    started = time.monotonic()
    done = push_db(
        args.db or default_db_path(), args.ref, args.key, password_from_env(),
        insecure=args.insecure,
    )  # fmt: skip
    print(done.digest)
    print(
        f"pushed and signed {done.ref} ({done.size / 1e6:.1f} MB, "
        f"{len(done.sources)} sources) in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


def _pull(args: argparse.Namespace, ref: str | None = None) -> int:
    from hardbase.util.paths import default_db_path
    from hardbase.vuln.publish import pull_db

    started = time.monotonic()
    done = pull_db(ref or args.ref, args.db or default_db_path(), args.key,
                   insecure=args.insecure)  # fmt: skip
    names = ", ".join(str(s.get("name")) for s in done.sources if isinstance(s, dict))
    print(
        f"pulled {done.ref} ({done.digest}, signature verified, {done.size / 1e6:.1f} MB; "
        f"sources: {names or 'none'}) in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from hardbase.vuln.db import VulnDB, age_text

    with VulnDB.open(args.db) as db:
        sources = db.sources()
        counts = db.counts()
        location = db.location
    print(f"database: {location}")
    print(
        f"advisories: {counts['advisories']}, package records: {counts['affected']}, "
        f"support notes: {counts['support']}"
    )
    now = datetime.now(UTC)
    if not sources:
        print("no sources imported yet")
        print(
            "hardbase: warning: the vulnerability database is empty; run `hardbase db update`",
            file=sys.stderr,
        )
        return 0
    from hardbase.vuln.importers.interface import IMPORTERS

    rows = [("SOURCE", "RECORDS", "UPDATED", "AGE", "LOCATION")]
    stale: list[str] = []
    imported = {s.name for s in sources}
    for s in sources:
        delta = now - s.imported_at
        rows.append(
            (
                s.name,
                str(s.records),
                s.imported_at.astimezone(UTC).isoformat(timespec="seconds"),
                age_text(delta),
                s.location,
            )
        )
        if delta > timedelta(hours=args.max_age):
            stale.append(f"{s.name} ({age_text(delta)})")
    rows += [(name, "0", "never", "-", "") for name in IMPORTERS if name not in imported]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if stale:
        print(
            f"hardbase: warning: older than {args.max_age:g} hours: {', '.join(stale)}; "
            "run `hardbase db update`",
            file=sys.stderr,
        )
    return 0
