"""What every request handler of the service shares: the fleet, the databases, the tokens,
the controller loop (when the service runs one) and the overview cache."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hardbase.lifecycle.fleet import Fleet, ManagedImage
from hardbase.lifecycle.state import StateDB
from hardbase.server import queries
from hardbase.server.imagedata import ImageData
from hardbase.server.runner import ControllerLoop
from hardbase.server.tokens import TokenStore

T = TypeVar("T")


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

    def repository(self, name: str) -> ManagedImage:
        by_name = self._cache.get("by-name")
        if by_name is None:
            by_name = (None, {i.name: i for i in self.fleet.images})
            self._cache["by-name"] = by_name
        image: ManagedImage | None = by_name[1].get(name)
        if image is None:
            return self.fleet.image(name)  # raises the fleet's error
        return image

    def cached(self, key: str, make: Callable[[], T], stamp: object = None) -> T:
        """`make()`, re-made only when the state database changed (every state change writes
        an event, and each pass updates the images' checked time) or `stamp` did."""
        version = (queries.version(self.state), stamp)
        with self._cache_lock:
            found = self._cache.get(key)
        if found is not None and found[0] == version:
            value: T = found[1]
            return value
        value = make()
        with self._cache_lock:
            self._cache[key] = (version, value)
        return value

    def snapshot(self) -> tuple[queries.Snapshot, str]:
        """The overview's data and the vulnerability database's version."""
        return self.cached(
            "snapshot", lambda: (queries.snapshot(self.state, self.names), self.data.db_version())
        )
