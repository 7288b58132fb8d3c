"""Webhook notifications: a JSON POST per publish and per failed gate, signed with HMAC-SHA256.

The body is signed with the shared secret (from the environment variable the
fleet names) and the signature sent as `X-Hardbase-Signature: sha256=<hex>`.
Deliveries run on a background thread and are retried with exponential
backoff; a webhook that fails never blocks or fails a publish. `close()`
waits (boundedly) for pending deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hardbase-Signature"
EVENT_HEADER = "X-Hardbase-Event"


def signature(secret: bytes, body: bytes) -> str:
    """The header value for `body`: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Notifier:
    """Delivers webhook payloads in order, off the caller's thread."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        retries: int = 4,
        timeout: float = 5.0,
        backoff: float = 0.5,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.on_failure = on_failure
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="hardbase-webhook", daemon=True)
        self._thread.start()

    def send(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Queue one notification; returns at once."""
        body = json.dumps({"event": kind, **payload}, sort_keys=True).encode()
        self._queue.put((kind, body))

    def close(self, timeout: float = 30.0) -> None:
        """Wait up to `timeout` seconds for queued deliveries, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("webhook %s: deliveries still pending at shutdown", self.url)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, body = item
            error = self._deliver(kind, body)
            if error is None:
                self.delivered += 1
            else:
                self.failed += 1
                log.warning("webhook %s: giving up on a %s notification: %s", self.url, kind, error)
                if self.on_failure is not None:
                    try:
                        self.on_failure(kind, error)
                    except Exception as exc:  # a failing report of a failure stays a warning
                        log.warning("recording the webhook failure failed: %s", exc)

    def _deliver(self, kind: str, body: bytes) -> str | None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "hardbase-watch",
            SIGNATURE_HEADER: signature(self.secret, body),
            EVENT_HEADER: kind,
        }
        error = "not tried"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    resp.read(65536)
                    if 200 <= resp.status < 300:
                        return None
                    error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    return error  # the receiver refuses it: retrying will not help
            except (OSError, ValueError) as exc:
                error = str(getattr(exc, "reason", exc))
            log.debug("webhook %s: try %d failed: %s", self.url, attempt + 1, error)
        return error
