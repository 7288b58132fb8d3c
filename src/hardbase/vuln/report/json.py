"""The JSON format documented in docs/scan-json.md."""

from __future__ import annotations

import json
from typing import Any

from hardbase import __version__
from hardbase.vuln.match import Finding
from hardbase.vuln.model import InstalledPackage
from hardbase.vuln.report.interface import ReportFormat, links
from hardbase.vuln.scan import Coverage, ScanResult, SupportNotice, coverage_warning

SCHEMA = "https://hardbase.dev/schemas/scan/v1"


def package_json(p: InstalledPackage) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "type": p.type,
        "source_name": p.source_name or (p.name if p.type == "deb" else ""),
        "source_version": p.source_version or (p.version if p.type == "deb" else ""),
        "purl": p.purl,
        "layer": p.layer,
        "path": p.path,
    }


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "aliases": list(f.aliases),
        "package": package_json(f.package),
        "fixed_version": f.fixed_version,
        "status": f.status,
        "severity": f.severity.label,
        "severity_source": f.severity_source or None,
        "cvss": {"score": f.cvss_score, "vector": f.cvss_vector} if f.cvss_vector else None,
        "data_source": f.data_source,
        "summary": f.summary,
        "note": f.note,
        "links": links(f),
    }


def _support_json(s: SupportNotice) -> dict[str, Any]:
    return {
        "package": package_json(s.package),
        "kind": s.kind,
        "last_version": s.last_version,
        "date": s.date,
        "note": s.note,
    }


def _coverage_json(c: Coverage) -> dict[str, Any]:
    return {
        "class": c.name,
        "title": c.title,
        "packages": c.packages,
        "records": c.records,
        "sources": list(c.sources),
        "covered": not c.missing,
        "warning": coverage_warning(c) if c.missing else None,
    }


def result_json(result: ScanResult) -> dict[str, Any]:
    inv = result.inventory
    return {
        "schema": SCHEMA,
        "tool": {"name": "hardbase", "version": __version__},
        "image": {
            "reference": inv.reference,
            "digest": inv.digest,
            "architecture": inv.architecture,
            "os": {
                "id": inv.os.id,
                "version_id": inv.os.version_id,
                "version_codename": inv.os.version_codename,
                "pretty_name": inv.os.pretty_name,
            },
            "packages": len(inv.packages),
        },
        "findings": [finding_json(f) for f in result.findings],
        "summary": {
            "total": len(result.findings),
            "by_severity": result.by_severity(include_not_affected=True),
            "by_status": result.by_status(),
            "unknown_severity": result.unknown_severity,
        },
        "coverage": [_coverage_json(c) for c in result.coverage],
        "support": [_support_json(s) for s in result.support],
        "warnings": list(result.warnings),
        "database": {
            "sources": [
                {
                    "name": s.name,
                    "imported_at": s.imported_at.isoformat(timespec="seconds"),
                    "records": s.records,
                }
                for s in result.sources
            ]
        },
    }


class JSONFormat(ReportFormat):
    name = "json"

    def render(self, result: ScanResult) -> str:
        return json.dumps(result_json(result), indent=2, ensure_ascii=False) + "\n"
