"""Webhook notifications: a JSON POST per publish and per failed gate, signed with HMAC-SHA256.

The body is signed with the shared secret (from the environment variable the
fleet names) and the signature sent as `X-Hardbase-Signature: sha256=<hex>`.
Deliveries run on a background thread and are retried with exponential
backoff by the shared HTTP client (`hardbase.util.http`); a webhook that
fails never blocks or fails a publish. `close()` waits (boundedly) for
pending deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hardbase.errors import FetchError
from hardbase.util import http

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
            SIGNATURE_HEADER: signature(self.secret, body),
            EVENT_HEADER: kind,
        }
        try:
            status = http.post(
                self.url,
                body,
                headers,
                timeout=self.timeout,
                retries=self.retries,
                backoff=self.backoff,
            )
        except FetchError as exc:
            return exc.diagnostics()
        # a 4xx other than 408 and 429 is the receiver refusing it: urllib3 did not retry it
        return None if 200 <= status < 300 else f"HTTP {status}"
