"""The one retry loop: run a step again, with exponential backoff, while it fails transiently.

HTTP requests are retried inside urllib3 (`hardbase.util.http`); this is for
work above one request: a whole blob upload, a download that broke mid-body,
a controller step that waits for its registry to come back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def retrying(
    step: Callable[[], T],
    *,
    transient: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int | None = None,
    deadline: float | None = None,
    backoff: float = 0.5,
    max_delay: float = 30.0,
    before_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Return `step()`, calling it again after a `transient` failure.

    It stops after `attempts` calls, or when the next wait would pass
    `deadline` (a `time.monotonic()` value), and then re-raises the last
    failure. The waits are `backoff`, doubling up to `max_delay`.
    `before_retry(error, delay)` runs before each wait.
    """
    if attempts is None and deadline is None:
        raise ValueError("retrying needs attempts or a deadline")
    done = 0
    delay = backoff
    while True:
        try:
            return step()
        except transient as exc:
            done += 1
            if attempts is not None and done >= attempts:
                raise
            if deadline is not None and time.monotonic() + delay > deadline:
                raise
            if before_retry is not None:
                before_retry(exc, delay)
            log.debug("retrying in %.2fs after %s", delay, exc)
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
