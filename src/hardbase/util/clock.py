"""The one clock: SOURCE_DATE_EPOCH for reproducible output, and RFC 3339 text in UTC.

Every timestamp hardbase writes into an image, an SBOM, a report or a page is
`rfc3339(...)`: `2024-01-02T03:04:05Z`, to the second, the form SPDX, CycloneDX,
OpenVEX, SLSA and OCI configs all accept. `source_date_epoch()` is the one reader
of the reproducible-builds variable, so a bad value gets the same sentence (and
exit 2) from every command.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from hardbase.errors import UsageError


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH as whole seconds, None when unset or empty."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    try:
        seconds = int(value)
        datetime.fromtimestamp(seconds, UTC)  # in the range a datetime can hold
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"SOURCE_DATE_EPOCH='{value}' is not a Unix time; set it to whole seconds "
            "since 1970 or unset it"
        ) from None
    return seconds


def utc(moment: datetime | float) -> datetime:
    """`moment` (a datetime, naive meaning UTC, or a Unix time) in UTC to the second."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def reproducible_now() -> datetime:
    """SOURCE_DATE_EPOCH when set, else now; in UTC to the second."""
    epoch = source_date_epoch()
    return utc(datetime.now(UTC) if epoch is None else epoch)


def rfc3339(moment: datetime | float) -> str:
    """`2024-01-02T03:04:05Z`."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    """The wall clock now, as `rfc3339` writes it (for records of when something ran)."""
    return rfc3339(datetime.now(UTC))
