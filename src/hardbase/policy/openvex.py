"""Writing OpenVEX documents: statements about an image (product = the image's digest purl,
subcomponents = package purls), and merging several documents into one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from hardbase.util import clock
from hardbase.vuln.vex import STATUSES, VexError, parse_vex

log = logging.getLogger(__name__)

CONTEXT = "https://openvex.dev/ns/v0.2.0"
JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)


def image_purl(name: str, digest: str, repository_url: str = "") -> str:
    """`pkg:oci/NAME@sha256%3A...` (the purl spec's form for an OCI image)."""
    purl = f"pkg:oci/{quote(name.lower(), safe='')}@{quote(digest, safe='')}"
    return purl + (f"?repository_url={quote(repository_url, safe='/:')}" if repository_url else "")


def _now() -> str:
    return clock.now_rfc3339()


def statement(
    vulnerability: str,
    status: str,
    product: str,
    *,
    subcomponents: Sequence[str] = (),
    justification: str = "",
    impact: str = "",
    action: str = "",
    timestamp: str | None = None,
) -> dict[str, Any]:
    """One OpenVEX statement, checked as OpenVEX requires."""
    if status not in STATUSES:
        raise VexError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if status == "not_affected" and not (justification or impact):
        raise VexError("a not_affected statement needs a --justification or an --impact")
    if justification and justification not in JUSTIFICATIONS:
        raise VexError(f"justification {justification!r} is not one of {', '.join(JUSTIFICATIONS)}")
    if status == "affected" and not action:
        raise VexError("an affected statement needs an --action (what users should do)")
    prod: dict[str, Any] = {"@id": product}
    if subcomponents:
        prod["subcomponents"] = [{"@id": s} for s in subcomponents]
    out: dict[str, Any] = {
        "vulnerability": {"name": vulnerability},
        "timestamp": timestamp or _now(),
        "products": [prod],
        "status": status,
    }
    if justification:
        out["justification"] = justification
    if impact:
        out["impact_statement"] = impact
    if action:
        out["action_statement"] = action
    return out


def document(
    statements: Sequence[dict[str, Any]], *, author: str, timestamp: str | None = None
) -> dict[str, Any]:
    """An OpenVEX document whose @id is derived from its statements (stable for the same input)."""
    when = timestamp or _now()
    body = json.dumps(statements, sort_keys=True).encode()
    doc = {
        "@context": CONTEXT,
        "@id": f"https://hardbase.dev/vex/{hashlib.sha256(body).hexdigest()[:32]}",
        "author": author,
        "timestamp": when,
        "version": 1,
        "statements": list(statements),
    }
    parse_vex(doc, "the new VEX document")  # what we write, we can read back
    return doc


def merge(documents: Sequence[dict[str, Any]], *, author: str) -> dict[str, Any]:
    """One document holding every statement; for the same vulnerability and product the latest
    statement wins, as `apply_vex` would decide."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for i, doc in enumerate(documents):
        parse_vex(doc, f"VEX document {i + 1}")
        default_time = str(doc.get("timestamp") or "")
        for st in doc["statements"]:
            st = dict(st)
            st.setdefault("timestamp", default_time)
            vuln = st["vulnerability"]
            name = vuln.get("name") if isinstance(vuln, dict) else vuln
            if not isinstance(vuln, dict):
                st["vulnerability"] = {"name": vuln}
            key = (str(name), json.dumps(st.get("products"), sort_keys=True))
            if key not in latest or str(st["timestamp"]) >= str(latest[key]["timestamp"]):
                latest[key] = st
    ordered = sorted(latest.values(), key=lambda s: (str(s["timestamp"]), str(s["vulnerability"])))
    return document(ordered, author=author)
