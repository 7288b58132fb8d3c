"""A pass's first steps: import the fleet's feeds, then publish the database (`db push`).

A feed or a publish that fails is a warning and an event: it never stops the pass.
"""

from __future__ import annotations

import logging

from hardbase.errors import HardbaseError
from hardbase.lifecycle.fleet import Fleet
from hardbase.lifecycle.report import PassReport
from hardbase.lifecycle.state import StateDB
from hardbase.util.progress import NullProgress
from hardbase.vuln.db import VulnDB

log = logging.getLogger(__name__)


def sync_feeds(fleet: Fleet, state: StateDB, db: VulnDB, report: PassReport) -> int:
    """Import every feed; returns how many were imported."""
    from hardbase.vuln.importers.interface import get_importer

    synced = 0
    for feed in fleet.feeds:
        try:
            stats = get_importer(feed.name).run(db, feed.locations, NullProgress())
            log.info("feed %s: %d affected rows", feed.name, stats.affected)
            synced += 1
        except HardbaseError as exc:
            message = f"feed {feed.name}: {exc.diagnostics()}"
            log.warning("%s", message)
            report.warnings.append(message)
            state.record("*", "feed-failed", feed=feed.name, error=exc.diagnostics())
    return synced


def publish_db(
    fleet: Fleet, state: StateDB, db: VulnDB, key_password: bytes, report: PassReport
) -> None:
    """Publish the database the pass just synced to `fleet.publish_db` as a signed artifact."""
    from hardbase.vuln.publish import push_db

    ref = fleet.publish_db
    if ref is None:
        return
    try:
        done = push_db(
            db.location, ref, fleet.sign_key, key_password, insecure=fleet.publish_db_insecure
        )
    except HardbaseError as exc:
        message = f"publishing the database to {ref}: {exc.diagnostics()}"
        log.warning("%s", message, extra={"event": "db-publish-failed"})
        report.warnings.append(message)
        state.record("*", "db-publish-failed", ref=ref, error=exc.diagnostics())
        return
    log.info("database published to %s: %s (%d bytes)", done.ref, done.digest, done.size,
             extra={"event": "db-published", "digest": done.digest})  # fmt: skip
    state.record(
        "*", "db-published", ref=done.ref, digest=done.digest, size=done.size,
        sources=[s["name"] for s in done.sources],
    )  # fmt: skip
