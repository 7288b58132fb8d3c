"""The one SLSA provenance shape of an image hardbase builds, whichever command built it.

`externalParameters.spec` holds the spec's parsed fields (not the YAML as
written, so formatting and comments do not change it); `resolvedDependencies`
holds the lock, then each distinct .deb once, named `NAME_VERSION_ARCH`, with
its URL and sha256. The lock is named by its file name beside the spec and
hashed in its canonical form (as `hardbase lock` writes it), so a lock read
from a file and one kept in the controller's state database attest the same.
Only `runDetails.metadata` (times, invocation id) differs between two builds
of the same lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from hardbase.attest.provenance import Material, slsa_provenance
from hardbase.build.lock import Lock
from hardbase.build.spec import ImageSpec, lock_path_for


def spec_parameters(spec: ImageSpec) -> dict[str, Any]:
    """The build's external parameters: the spec's fields that decide what is built."""
    return {
        "name": spec.name,
        "path": spec.path.name,
        "extends": spec.model.extends,
        "release": spec.release,
        "archs": list(spec.archs),
        "tiers": {t.name: list(t.roots) for t in spec.tiers},
    }


def lock_text(lock: Lock) -> bytes:
    """The lock in its canonical form, byte for byte what `write_lock` writes."""
    return (json.dumps(lock.to_json(), indent=2, sort_keys=False) + "\n").encode()


def materials(spec: ImageSpec, lock: Lock) -> tuple[Material, list[Material]]:
    """The lock's material and one material per distinct .deb, sorted by name."""
    lock_material = Material(
        uri=lock_path_for(spec.path).name,
        sha256=hashlib.sha256(lock_text(lock)).hexdigest(),
        name="lock",
    )
    debs = {
        p.sha256: Material(p.url, p.sha256, f"{p.name}_{p.version}_{p.arch}")
        for p in lock.all_packages()
    }
    return lock_material, sorted(debs.values(), key=lambda m: (m.name or "", m.sha256))


def provenance(
    spec: ImageSpec,
    lock: Lock,
    *,
    started: dt.datetime,
    finished: dt.datetime,
    invocation_id: str | None = None,
) -> dict[str, Any]:
    """The `https://slsa.dev/provenance/v1` predicate of an image built from `lock`."""
    lock_material, debs = materials(spec, lock)
    return slsa_provenance(
        spec=spec_parameters(spec),
        packages=debs,
        lock=lock_material,
        started=started,
        finished=finished,
        invocation_id=invocation_id,
    )
