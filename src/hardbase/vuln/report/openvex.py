"""OpenVEX 0.2.0: one statement per finding, the image as product, the package as subcomponent."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hardbase import __version__
from hardbase.vuln.match import FIXABLE, NOT_AFFECTED_STATUS, WONT_FIX_STATUS, Finding
from hardbase.vuln.report.interface import ReportFormat, image_purl, package_ref, timestamp
from hardbase.vuln.scan import ScanResult

CONTEXT = "https://openvex.dev/ns/v0.2.0"


def _statement(f: Finding, image: str) -> dict[str, Any]:
    vuln: dict[str, Any] = {"name": f.id}
    if f.aliases:
        vuln["aliases"] = list(f.aliases)
    st: dict[str, Any] = {
        "vulnerability": vuln,
        "products": [{"@id": image, "subcomponents": [{"@id": package_ref(f)}]}],
    }
    if f.status == NOT_AFFECTED_STATUS:
        st["status"] = "not_affected"
        st["justification"] = "vulnerable_code_not_present"
        st["impact_statement"] = f.note or f"{f.data_source} says the package is not affected"
    else:
        st["status"] = "affected"
        if f.status == FIXABLE:
            st["action_statement"] = f"Upgrade {f.package.name} to {f.fixed_version} or later."
        elif f.status == WONT_FIX_STATUS:
            st["action_statement"] = "No fix is planned by the distribution; mitigate or accept."
        else:
            st["action_statement"] = "No fix is available yet; mitigate or wait for a fix."
    return st


class OpenVEXFormat(ReportFormat):
    name = "openvex"

    def render(self, result: ScanResult) -> str:
        inv = result.inventory
        image = image_purl(inv)
        statements = [_statement(f, image) for f in result.findings]
        body = json.dumps(statements, sort_keys=True).encode()
        doc_id = hashlib.sha256(image.encode() + body).hexdigest()
        doc = {
            "@context": CONTEXT,
            "@id": f"https://openvex.dev/docs/hardbase/vex-{doc_id}",
            "author": f"hardbase {__version__}",
            "role": "scanner",
            "timestamp": timestamp(),
            "version": 1,
            "tooling": f"hardbase {__version__}",
            "statements": statements,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
