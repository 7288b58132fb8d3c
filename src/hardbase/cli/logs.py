"""Log output for long-running commands (`watch`): human lines or JSON lines.

The library logs with `extra={...}` fields (image, job, step, seconds, …);
the human format shows the message, the JSON format one object a line with
the time, level, logger, message and every extra field, for journald or a log
shipper. Only the CLI configures logging.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["human", "json"]  # what configure() writes: HumanFormatter, JSONFormatter
# attributes every LogRecord has; anything else was passed in `extra`
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra` fields of a record."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JSONFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601), level, logger, msg and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **fields(record),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, sort_keys=False)


class HumanFormatter(logging.Formatter):
    """`hardbase: LEVEL: message`, as every other command logs."""

    def __init__(self) -> None:
        super().__init__("hardbase: %(levelname)s: %(message)s")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the `sys.stderr` of each record's moment, not of the call that configured it.

    `main()` runs more than once in one process (tests, library callers), and
    each run may have swapped `sys.stderr`. `main()` removes these handlers
    (`HARDBASE_HANDLER`) before the next command, so a `watch` run's level and
    format do not leak into the commands after it.
    """

    hardbase = True

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(fmt: LogFormat, *, debug: bool = False, quiet: bool = False) -> None:
    """Send the root logger's records to stderr in `fmt`: INFO, DEBUG with --debug, WARNING -q."""
    handler = StderrHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else HumanFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    for noisy in ("urllib3", "sqlalchemy", "celery", "kombu"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
