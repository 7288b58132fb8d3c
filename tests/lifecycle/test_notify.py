"""Webhooks: signed JSON POSTs, retried with backoff, never blocking the caller."""

from __future__ import annotations

import time

from lifecycle_world import WebhookReceiver

from hardbase.lifecycle.notify import Notifier


def test_retries_until_delivered_and_signs_the_body() -> None:
    receiver = WebhookReceiver("s3cret", fail_first=2)
    try:
        notifier = Notifier(receiver.url, b"s3cret", retries=4, backoff=0.05)
        notifier.send("published", {"image": "hb/a", "digest": "sha256:x"})
        notifier.close(10)
        assert receiver.attempts == 3 and receiver.bad_signatures == 0
        assert receiver.posts == [{"event": "published", "image": "hb/a", "digest": "sha256:x"}]
        assert notifier.delivered == 1
    finally:
        receiver.close()


def test_wrong_secret_is_refused_by_the_receiver() -> None:
    receiver = WebhookReceiver("right")
    failures: list[tuple[str, str]] = []
    try:
        notifier = Notifier(receiver.url, b"wrong", retries=3, backoff=0.01,
                            on_failure=lambda k, e: failures.append((k, e)))  # fmt: skip
        notifier.send("gate-failed", {"image": "hb/a"})
        notifier.close(10)
        assert receiver.bad_signatures == 1  # a 4xx is not retried
        assert failures == [("gate-failed", "HTTP 401")]
    finally:
        receiver.close()


def test_a_dead_webhook_never_blocks() -> None:
    failures: list[tuple[str, str]] = []
    notifier = Notifier("http://127.0.0.1:1/hook", b"x", retries=2, backoff=0.05,
                        on_failure=lambda k, e: failures.append((k, e)))  # fmt: skip
    start = time.monotonic()
    notifier.send("published", {"image": "hb/a"})
    assert time.monotonic() - start < 0.1
    notifier.close(10)
    assert notifier.failed == 1 and failures and failures[0][0] == "published"
