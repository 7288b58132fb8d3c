"""Liveness and readiness: the databases reachable, the feeds imported recently enough."""

from __future__ import annotations

import time

from hardbase.errors import HardbaseError
from hardbase.server import queries
from hardbase.server.context import ServiceContext
from hardbase.server.models import Check
from hardbase.vuln.db import VulnDB


def last_feed_sync(ctx: ServiceContext) -> float | None:
    """When the fleet's feeds were last imported (the newest import among them)."""
    try:
        with VulnDB.open_existing(ctx.fleet.vulndb) as db:
            sources = db.sources()
    except HardbaseError:
        return None
    wanted = {f.name for f in ctx.fleet.feeds}
    stamps = [
        s.imported_at.timestamp()
        for s in sources
        if not wanted or s.name in wanted or s.name.split(":", 1)[0] in wanted
    ]
    return max(stamps) if stamps else None


def readiness(ctx: ServiceContext) -> list[Check]:
    checks = []
    try:
        queries.ping(ctx.state)
        checks.append(Check(name="state database", ok=True, detail=ctx.state.location))
    except HardbaseError as exc:
        checks.append(Check(name="state database", ok=False, detail=exc.diagnostics()))
    try:
        with VulnDB.open_existing(ctx.fleet.vulndb) as db:
            db.sources()
        checks.append(Check(name="vulnerability database", ok=True, detail="reachable"))
    except HardbaseError as exc:
        checks.append(Check(name="vulnerability database", ok=False, detail=exc.diagnostics()))
    synced = last_feed_sync(ctx)
    limit = 2 * ctx.fleet.interval
    if synced is None:
        checks.append(Check(name="feed sync", ok=False, detail="the feeds were never imported"))
    else:
        age = time.time() - synced
        checks.append(
            Check(
                name="feed sync",
                ok=age <= limit,
                detail=f"last import {age:.0f}s ago (limit {limit:.0f}s, twice the interval)",
            )
        )
    return checks
