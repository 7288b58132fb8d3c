"""The database options that `scan`, `policy check` and `compare` share, and opening it.

These commands gate on the database, so they refuse one that is missing, empty
or older than `--max-db-age` (exit 2) rather than pass on no data.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

from hardbase.errors import UsageError

if TYPE_CHECKING:
    from hardbase.vuln.db import VulnDB
    from hardbase.vuln.records import VulnReader

DEFAULT_MAX_AGE = "7d"
WARN_AFTER = timedelta(days=1)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm]?)\s*$")
_UNITS = {"d": "days", "": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """`7d`, `36h`, `90m` or a plain number of days."""
    m = _DURATION.match(text)
    if m is None:
        raise UsageError(f"--max-db-age {text}: give a duration such as 7d, 36h or 90m")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def add_db_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="vulnerability database file or URL (default: $HARDBASE_DB or the cache directory)",
    )
    parser.add_argument(
        "--max-db-age",
        default=DEFAULT_MAX_AGE,
        metavar="AGE",
        help=f"refuse a database with a source older than AGE (e.g. 7d, 36h; default "
        f"{DEFAULT_MAX_AGE}); sources older than a day are warned about",
    )


def open_checked(args: argparse.Namespace) -> tuple[VulnDB, tuple[str, ...]]:
    """The database `--db` names, checked: exists, holds data, fresh enough (else exit 2).

    Returns it with its age warnings (also printed to stderr); the caller closes it.
    """
    from hardbase.vuln.db import VulnDB

    max_age = parse_duration(args.max_db_age)
    db = VulnDB.open_existing(args.db)
    return db, _checked(db, max_age)


def open_checked_reader(args: argparse.Namespace) -> tuple[VulnReader, tuple[str, ...]]:
    """As open_checked, for reading only: a SQLite file is read without SQLAlchemy."""
    from hardbase.vuln.dbread import open_reader

    max_age = parse_duration(args.max_db_age)
    db = open_reader(args.db)
    return db, _checked(db, max_age)


def _checked(db: VulnReader, max_age: timedelta) -> tuple[str, ...]:
    from hardbase.vuln.records import require_data

    try:
        warnings = require_data(db, max_age=max_age, warn_after=min(WARN_AFTER, max_age))
    except BaseException:
        db.close()
        raise
    for warning in warnings:
        print(f"hardbase: warning: {warning}", file=sys.stderr)
    return warnings
