"""SLSA provenance v1 predicates for images hardbase builds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BUILD_TYPE = "https://hardbase.dev/build/v1"
DEFAULT_BUILDER = "https://hardbase.dev/builder/local"


@dataclass(frozen=True)
class Material:
    """An input of the build: a .deb (or the lock file) with its sha256."""

    uri: str
    sha256: str
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uri": self.uri, "digest": {"sha256": self.sha256}}
        if self.name:
            out["name"] = self.name
        return out


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def slsa_provenance(
    *,
    spec: dict[str, Any],
    packages: Iterable[Material],
    lock: Material | None,
    started: dt.datetime,
    finished: dt.datetime,
    builder_id: str = DEFAULT_BUILDER,
    build_type: str = BUILD_TYPE,
    invocation_id: str | None = None,
    internal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `https://slsa.dev/provenance/v1` predicate.

    `externalParameters` is the image spec; `resolvedDependencies` lists the
    lock file first, then every .deb with its URI and sha256.
    """
    dependencies = ([lock.to_json()] if lock else []) + [p.to_json() for p in packages]
    metadata: dict[str, Any] = {
        "startedOn": _timestamp(started),
        "finishedOn": _timestamp(finished),
    }
    if invocation_id:
        metadata["invocationId"] = invocation_id
    build_definition: dict[str, Any] = {
        "buildType": build_type,
        "externalParameters": {"spec": spec},
        "resolvedDependencies": dependencies,
    }
    if internal:
        build_definition["internalParameters"] = internal
    return {
        "buildDefinition": build_definition,
        "runDetails": {"builder": {"id": builder_id}, "metadata": metadata},
    }
