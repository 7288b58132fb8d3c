"""CycloneDX 1.6 JSON: the image and its affected packages as components, with vulnerabilities."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hardbase import __version__
from hardbase.vuln.match import FIXABLE, NOT_AFFECTED_STATUS, WONT_FIX_STATUS, Finding
from hardbase.vuln.report.interface import (
    INFORMATION_URI,
    ReportFormat,
    image_name,
    image_purl,
    package_ref,
    timestamp,
)
from hardbase.vuln.scan import ScanResult
from hardbase.vuln.severity import Severity

_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
    Severity.NEGLIGIBLE: "info",
    Severity.UNKNOWN: "unknown",
}


def _method(vector: str) -> str:
    if vector.startswith("CVSS:4"):
        return "CVSSv4"
    if vector.startswith("CVSS:3.1"):
        return "CVSSv31"
    if vector.startswith("CVSS:3"):
        return "CVSSv3"
    return "CVSSv2"


def _source(f: Finding) -> dict[str, str]:
    first = f.data_source.split(",", 1)[0].strip()
    if f.id.startswith("CVE-"):
        return {"name": first, "url": f"https://security-tracker.debian.org/tracker/{f.id}"}
    if f.id.startswith("GHSA-"):
        return {"name": first, "url": f"https://github.com/advisories/{f.id}"}
    return {"name": first, "url": f"https://osv.dev/vulnerability/{f.id}"}


def _analysis(f: Finding) -> dict[str, Any]:
    if f.status == NOT_AFFECTED_STATUS:
        return {"state": "not_affected", "detail": f.note or "not affected"}
    if f.status == FIXABLE:
        return {"state": "exploitable", "response": ["update"], "detail": f.status}
    response = ["will_not_fix"] if f.status == WONT_FIX_STATUS else ["can_not_fix"]
    return {"state": "exploitable", "response": response, "detail": f.note or f.status}


def _vulnerability(f: Finding, ref: str) -> dict[str, Any]:
    rating: dict[str, Any] = {"severity": _SEVERITY[f.severity]}
    if f.cvss_score is not None and f.cvss_vector:
        rating.update(
            {"score": f.cvss_score, "method": _method(f.cvss_vector), "vector": f.cvss_vector}
        )
    else:
        rating["method"] = "other"
    vuln: dict[str, Any] = {
        "bom-ref": f"{f.id}|{ref}",
        "id": f.id,
        "source": _source(f),
        "ratings": [rating],
        "analysis": _analysis(f),
        "affects": [
            {
                "ref": ref,
                "versions": [
                    {
                        "version": f.package.version,
                        "status": "unaffected" if f.status == NOT_AFFECTED_STATUS else "affected",
                    }
                ],
            }
        ],
    }
    if f.summary:
        vuln["description"] = f.summary
    if f.aliases:
        vuln["references"] = [
            {"id": a, "source": {"name": "alias", "url": f"https://osv.dev/vulnerability/{a}"}}
            for a in f.aliases
        ]
    if f.fixed_version:
        vuln["recommendation"] = f"Upgrade {f.package.name} to {f.fixed_version} or later."
    return vuln


class CycloneDXFormat(ReportFormat):
    name = "cyclonedx"

    def render(self, result: ScanResult) -> str:
        inv = result.inventory
        components: dict[str, dict[str, Any]] = {}
        vulns: list[dict[str, Any]] = []
        for f in result.findings:
            ref = package_ref(f)
            if ref not in components:
                comp: dict[str, Any] = {
                    "type": "library",
                    "bom-ref": ref,
                    "name": f.package.name,
                    "version": f.package.version,
                }
                if f.package.purl:
                    comp["purl"] = f.package.purl
                components[ref] = comp
            vulns.append(_vulnerability(f, ref))
        image = image_purl(inv)
        doc = {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": f"urn:uuid:{uuid.uuid4()}",
            "version": 1,
            "metadata": {
                "timestamp": timestamp(),
                "tools": {
                    "components": [
                        {"type": "application", "name": "hardbase", "version": __version__}
                    ]
                },
                "component": {
                    "type": "container",
                    "bom-ref": image,
                    "name": image_name(inv),
                    "version": inv.digest or "unknown",
                    "purl": image,
                    "externalReferences": [{"type": "website", "url": INFORMATION_URI}],
                },
            },
            "components": list(components.values()),
            "vulnerabilities": vulns,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
