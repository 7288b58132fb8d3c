"""SARIF 2.1.0: one rule per vulnerability, one result per finding (not-affected ones left out)."""

from __future__ import annotations

import json
from typing import Any

from hardbase import __version__
from hardbase.vuln.match import NOT_AFFECTED_STATUS, Finding
from hardbase.vuln.report.interface import INFORMATION_URI, ReportFormat
from hardbase.vuln.scan import ScanResult
from hardbase.vuln.severity import Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.NEGLIGIBLE: "note",
    Severity.UNKNOWN: "warning",
}
# GitHub code scanning reads `security-severity` as a CVSS-like number
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.NEGLIGIBLE: "0.5",
    Severity.UNKNOWN: "0.0",
}


def _help_uri(vuln_id: str) -> str:
    if vuln_id.startswith("CVE-"):
        return f"https://security-tracker.debian.org/tracker/{vuln_id}"
    if vuln_id.startswith("GHSA-"):
        return f"https://github.com/advisories/{vuln_id}"
    return f"https://osv.dev/vulnerability/{vuln_id}"


def _rule(f: Finding) -> dict[str, Any]:
    score = f"{f.cvss_score:.1f}" if f.cvss_score is not None else _SECURITY_SEVERITY[f.severity]
    text = f.summary or f.id
    return {
        "id": f.id,
        "name": f.id.replace("-", ""),
        "shortDescription": {"text": text[:200]},
        "fullDescription": {"text": text},
        "helpUri": _help_uri(f.id),
        "help": {"text": f"{f.id}: {text}"},
        "defaultConfiguration": {"level": _LEVEL[f.severity]},
        "properties": {
            "security-severity": score,
            "severity": f.severity.label,
            "tags": ["security", "vulnerability", f.severity.label],
        },
    }


def _message(f: Finding) -> str:
    p = f.package
    fix = f"fixed in {f.fixed_version}" if f.fixed_version else f.status
    return f"{f.id} in {p.type} package {p.name} {p.version} ({f.severity.label}; {fix})"


class SARIFFormat(ReportFormat):
    name = "sarif"

    def render(self, result: ScanResult) -> str:
        findings = [f for f in result.findings if f.status != NOT_AFFECTED_STATUS]
        rules: list[dict[str, Any]] = []
        index: dict[str, int] = {}
        for f in findings:
            if f.id not in index:
                index[f.id] = len(rules)
                rules.append(_rule(f))
        inv = result.inventory
        results = []
        for f in findings:
            p = f.package
            uri = p.path or inv.reference
            results.append(
                {
                    "ruleId": f.id,
                    "ruleIndex": index[f.id],
                    "level": _LEVEL[f.severity],
                    "message": {"text": _message(f)},
                    "locations": [
                        {
                            "physicalLocation": {"artifactLocation": {"uri": uri}},
                            "logicalLocations": [{"name": p.purl or p.name, "kind": "package"}],
                            "message": {"text": f"{inv.reference}: {p.name} {p.version}"},
                        }
                    ],
                    "partialFingerprints": {
                        "packageVulnerability": f"{p.purl or p.name}|{p.layer}|{f.id}"
                    },
                    "properties": {
                        "status": f.status,
                        "fixed_version": f.fixed_version or "",
                        "data_source": f.data_source,
                        "layer": p.layer,
                        "aliases": list(f.aliases),
                    },
                }
            )
        doc = {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "hardbase",
                            "version": __version__,
                            "informationUri": INFORMATION_URI,
                            "rules": rules,
                        }
                    },
                    "results": results,
                    "properties": {
                        "image": inv.reference,
                        "digest": inv.digest,
                        "warnings": list(result.warnings),
                    },
                }
            ],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
