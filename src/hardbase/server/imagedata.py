"""What the service knows of one image beyond the state database: its open findings (its
published lock matched against the vulnerability database, cached per lock and database
import), its packages, its attestations read back from the registry, and its scorecard."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from hardbase.build.lock import Lock, LockedPackage
from hardbase.errors import HardbaseError, ImageError
from hardbase.lifecycle.fleet import Fleet
from hardbase.lifecycle.state import StateDB
from hardbase.util.digest import Digest
from hardbase.vuln.db import VulnDB
from hardbase.vuln.match import NOT_AFFECTED_STATUS, Finding
from hardbase.vuln.severity import Severity

log = logging.getLogger(__name__)

# document name -> attestation predicate type (vex is made from the findings)
DOCUMENTS = {
    "spdx": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "provenance": "https://slsa.dev/provenance/v1",
    "vex": "",
}
SEVERITIES = tuple(s.label for s in sorted(Severity, reverse=True))
_MAX_DOCUMENT = 64 << 20


class NotFound(HardbaseError):
    """What a request names does not exist."""


def patched(pkg: LockedPackage) -> bool:
    """True for a package hardbase rebuilt itself (its version carries +hbN)."""
    return "+hb" in pkg.version


class ImageData:
    """Findings and scorecards per image, computed once per lock / digest and kept."""

    def __init__(self, fleet: Fleet, state: StateDB) -> None:
        self.fleet = fleet
        self.state = state
        self._findings: dict[tuple[str, str], list[Finding] | None] = {}
        self._cards: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _db(self) -> VulnDB | None:
        try:
            return VulnDB.open_existing(self.fleet.vulndb)
        except HardbaseError as exc:
            log.info("no vulnerability database to read findings from: %s", exc.diagnostics())
            return None

    def db_version(self) -> str:
        db = self._db()
        if db is None:
            return ""
        with db:
            return "|".join(f"{s.name}@{s.imported_at.isoformat()}" for s in db.sources())

    def lock(self, lock_hash: str) -> Lock | None:
        if not lock_hash:
            return None
        from hardbase.lifecycle.inplace import is_plan

        body = self.state.lock_body(lock_hash)
        if body is None or is_plan(body):  # a `patch: in-place` image's plan, no build lock
            return None
        return Lock.from_json(json.loads(body), f"state lock {lock_hash}")

    def findings(self, lock_hash: str, db_version: str | None = None) -> list[Finding] | None:
        """The open findings of the lock (None when there is no lock or database)."""
        from hardbase.lifecycle.plan import lock_findings

        if not lock_hash:
            return None
        version = self.db_version() if db_version is None else db_version
        key = (lock_hash, version)
        with self._lock:
            if key in self._findings:  # None too: no lock or no database for this version
                return self._findings[key]
        lock = self.lock(lock_hash)
        db = self._db() if lock is not None else None
        found: list[Finding] | None = None
        if lock is not None and db is not None:
            with db:
                found = [f for f in lock_findings(lock, db) if f.status != NOT_AFFECTED_STATUS]
        with self._lock:
            if len(self._findings) > 4096:
                self._findings.clear()
            self._findings[key] = found
        return found

    def document(self, name: str, digest: str, doc: str) -> dict[str, Any]:
        """An attested document (SBOM, provenance) of the published digest, read from the
        registry and returned as its predicate; `vex`: an OpenVEX document of the findings."""
        if doc not in DOCUMENTS:
            raise NotFound(f"there is no document '{doc}'; use one of {', '.join(DOCUMENTS)}")
        if not digest:
            raise NotFound(f"{name} has not been published yet")
        image = self.fleet.image(name)
        if doc == "vex":
            return self._vex(name, digest)
        from hardbase.attest import cosign
        from hardbase.attest.store import existing_layers, open_store

        published = Digest(digest)  # read back and checked by the state database
        ref = f"docker://{self.fleet.registry}/{image.repository}@{published}"
        want = DOCUMENTS[doc]
        with open_store(ref, insecure=self.fleet.insecure) as store:
            tag = published.cosign_tag("att")
            for layer in existing_layers(store, tag, cosign.DSSE_ENVELOPE):
                if (layer.annotations or {}).get(cosign.PREDICATE_ANNOTATION) != want:
                    continue
                envelope = json.loads(store.read_blob(layer, max_size=_MAX_DOCUMENT))
                statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
                predicate = statement.get("predicate")
                if not isinstance(predicate, dict):
                    raise ImageError(f"the {doc} attestation of {name} has no predicate")
                return predicate
        raise NotFound(f"{name}@{digest} has no {doc} attestation")

    def _vex(self, name: str, digest: str) -> dict[str, Any]:
        from hardbase.lifecycle.plan import lock_inventory
        from hardbase.vuln.report.openvex import OpenVEXFormat
        from hardbase.vuln.scan import ScanResult

        known = self.state.image(name)
        lock = self.lock(known.lock_hash if known else "")
        findings = self.findings(known.lock_hash if known else "")
        if lock is None or findings is None:
            raise NotFound(f"{name} has no published lock or no vulnerability database")
        inventory = lock_inventory(lock, lock.release)
        inventory = type(inventory)(
            reference=f"{self.fleet.registry}/{name}@{digest}", digest=digest,
            os=inventory.os, packages=inventory.packages,
        )  # fmt: skip
        doc: dict[str, Any] = json.loads(
            OpenVEXFormat().render(ScanResult(inventory, tuple(findings)))
        )
        return doc

    def scorecard(self, name: str, digest: str) -> dict[str, Any]:
        """The six-dimension scorecard of the published image (measured once per digest)."""
        from hardbase.evaluate.scorecard import CompareOptions, image_card, measure_image

        with self._lock:
            cached = self._cards.get(digest)
        if cached is not None:
            return cached
        image = self.fleet.image(name)
        db = self._db()
        ref = f"docker://{self.fleet.registry}/{image.repository}@{digest}"
        try:
            card = image_card(
                measure_image(ref, CompareOptions(db=db, insecure=self.fleet.insecure)),
                date.today(),
            ).to_json()
        finally:
            if db is not None:
                db.close()
        with self._lock:
            if len(self._cards) > 1024:
                self._cards.clear()
            self._cards[digest] = card
        return card


@dataclass(frozen=True)
class Counts:
    by_status: dict[str, int]
    by_severity: dict[str, int]
    fixable_by_severity: dict[str, int]


def counts(findings: list[Finding] | None, fallback: dict[str, int]) -> Counts:
    """Open findings by status and severity (without a lock to match, the controller's
    status counts)."""
    if findings is None:
        return Counts(dict(fallback), {}, {})
    status: Counter[str] = Counter(f.status for f in findings)
    severity = Counter(f.severity.label for f in findings)
    fixable = Counter(f.severity.label for f in findings if f.status == "fixable")
    return Counts(
        {s: status.get(s, 0) for s in ("fixable", "no-fix", "wont-fix")},
        {s: severity.get(s, 0) for s in SEVERITIES},
        {s: fixable.get(s, 0) for s in SEVERITIES},
    )
