"""The OpenVEX document of an image that holds hardbase rebuilds: `fixed` for each CVE.

The statements come from the image's CycloneDX SBOMs: every component with a
`pedigree` (hardbase.sbom.cyclonedx, from the package's own control fields)
names the CVEs its patches resolve, and each of those CVEs is `fixed` in the
image (the product, its digest purl) for those components (subcomponents, by
purl). No pedigree, no document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hardbase.policy.openvex import document, statement

AUTHOR = "hardbase build"


def fixed_by_pedigree(
    sboms: Sequence[dict[str, Any]], product: str, *, timestamp: str
) -> dict[str, Any] | None:
    """An OpenVEX document saying `fixed` for every CVE a component's pedigree resolves."""
    fixed: dict[str, set[str]] = {}
    for sbom in sboms:
        for component in sbom.get("components") or []:
            purl = component.get("purl")
            pedigree = component.get("pedigree") or {}
            if not isinstance(purl, str) or not isinstance(pedigree, dict):
                continue
            for patch in pedigree.get("patches") or []:
                for issue in patch.get("resolves") or []:
                    cve = issue.get("id")
                    if isinstance(cve, str) and cve:
                        fixed.setdefault(cve, set()).add(purl)
    if not fixed:
        return None
    statements = [
        statement(cve, "fixed", product, subcomponents=sorted(purls), timestamp=timestamp)
        for cve, purls in sorted(fixed.items())
    ]
    return document(statements, author=AUTHOR, timestamp=timestamp)
