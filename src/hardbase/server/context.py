"""What every request handler of the service shares: the fleet, the databases, the tokens,
the controller loop (when the service runs one) and the overview cache."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from hardbase.lifecycle.fleet import Fleet
from hardbase.lifecycle.state import StateDB
from hardbase.server import queries
from hardbase.server.imagedata import ImageData
from hardbase.server.runner import ControllerLoop
from hardbase.server.tokens import TokenStore


@dataclass
class ServiceContext:
    fleet: Fleet
    state: StateDB
    tokens: TokenStore
    data: ImageData
    loop: ControllerLoop | None = None
    secure_cookies: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _cache: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.fleet.images]

    def snapshot(self) -> tuple[queries.Snapshot, str]:
        """The overview's data and the vulnerability database's version, re-read only when
        the state database changed (every state change writes an event)."""
        version = queries.version(self.state)
        with self._cache_lock:
            cached = self._cache.get("snapshot")
        if cached is not None and cached[0] == version:
            value: tuple[queries.Snapshot, str] = cached[1]
            return value
        value = (queries.snapshot(self.state, self.names), self.data.db_version())
        with self._cache_lock:
            self._cache["snapshot"] = (version, value)
        return value
