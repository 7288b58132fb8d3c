"""OpenVEX documents: parse their statements and apply them to findings.

A `not_affected` or `fixed` statement turns the findings of its vulnerability
(by id or alias) for its products into `not-affected`. A product is a purl of
a package (versions and qualifiers optional), or the image itself (a
`pkg:oci/...` purl or the image reference), optionally narrowed to its
`subcomponents`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from hardbase.errors import HardbaseError
from hardbase.util import jsondoc
from hardbase.vuln.match import NOT_AFFECTED_STATUS, Finding
from hardbase.vuln.model import InstalledPackage, Inventory

log = logging.getLogger(__name__)

SUPPRESSING = ("not_affected", "fixed")
STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
MAX_VEX_SIZE = 32 << 20


class VexError(HardbaseError):
    """A VEX document could not be read or does not follow OpenVEX."""


@dataclass(frozen=True)
class VexProduct:
    id: str  # a purl, or an image reference
    subcomponents: tuple[str, ...] = ()


@dataclass(frozen=True)
class VexStatement:
    vulnerability: str
    aliases: tuple[str, ...]
    products: tuple[VexProduct, ...]
    status: str
    justification: str = ""
    impact_statement: str = ""
    timestamp: str = ""
    document: str = ""  # where it came from, for notes

    @property
    def ids(self) -> frozenset[str]:
        return frozenset((self.vulnerability, *self.aliases))


def load_vex(path: Path) -> list[VexStatement]:
    """The statements of one OpenVEX JSON document."""
    return parse_vex(read_vex_document(path), str(path))


def read_vex_document(path: Path) -> Any:
    """The JSON of the VEX document at `path`, read within MAX_VEX_SIZE."""
    try:
        if path.stat().st_size > MAX_VEX_SIZE:
            raise VexError(f"the VEX document {path} is larger than {MAX_VEX_SIZE} bytes")
        return jsondoc.loads(path.read_bytes())
    except OSError as exc:
        raise VexError(f"cannot read the VEX document {path} ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise VexError(f"the VEX document {path} is not JSON; pass an OpenVEX file") from exc


def parse_vex(document: Any, where: str = "VEX document") -> list[VexStatement]:
    if not isinstance(document, dict) or "statements" not in document:
        raise VexError(f"{where} is not an OpenVEX document (no 'statements')")
    context = str(document.get("@context", ""))
    if context and "openvex" not in context:
        raise VexError(f"{where} has @context {context!r}, not OpenVEX")
    raw = document["statements"]
    if not isinstance(raw, list):
        raise VexError(f"{where}: 'statements' is not a list")
    default_time = str(document.get("timestamp") or "")
    out: list[VexStatement] = []
    for i, st in enumerate(raw):
        if not isinstance(st, dict):
            raise VexError(f"{where}: statement {i} is not an object")
        vuln = st.get("vulnerability")
        aliases: list[str] = []
        if isinstance(vuln, dict):
            name = vuln.get("name") or vuln.get("@id")
            aliases = [str(a) for a in vuln.get("aliases") or [] if isinstance(a, str)]
        else:
            name = vuln
        if not isinstance(name, str) or not name:
            raise VexError(f"{where}: statement {i} names no vulnerability")
        status = st.get("status")
        if status not in STATUSES:
            raise VexError(f"{where}: statement {i} has unknown status {status!r}")
        products = tuple(_product(p, where, i) for p in st.get("products") or [])
        if not products:
            raise VexError(f"{where}: statement {i} ({name}) names no product")
        out.append(
            VexStatement(
                vulnerability=name,
                aliases=tuple(aliases),
                products=products,
                status=status,
                justification=str(st.get("justification") or ""),
                impact_statement=str(st.get("impact_statement") or ""),
                timestamp=str(st.get("timestamp") or default_time),
                document=where,
            )
        )
    return out


def _product(p: Any, where: str, i: int) -> VexProduct:
    if isinstance(p, str):
        return VexProduct(p)
    if isinstance(p, dict) and isinstance(p.get("@id"), str):
        subs = tuple(
            str(s["@id"]) if isinstance(s, dict) else str(s)
            for s in p.get("subcomponents") or []
            if isinstance(s, str) or (isinstance(s, dict) and isinstance(s.get("@id"), str))
        )
        return VexProduct(p["@id"], subs)
    raise VexError(f"{where}: statement {i} has a product without an @id")


def _parse_purl(text: str) -> PackageURL | None:
    if not text.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        log.debug("ignoring unparsable purl %r in VEX", text)
        return None


def purl_matches(pattern: str, package: InstalledPackage) -> bool:
    """Whether a VEX purl names this package (missing version or qualifiers match any)."""
    want = _parse_purl(pattern)
    if want is None or not package.purl:
        return False
    have = _parse_purl(package.purl)
    if have is None:
        return False
    if (want.type, want.namespace or "", want.name) != (have.type, have.namespace or "", have.name):
        return False
    if want.version and want.version != have.version:
        return False
    have_q = dict(have.qualifiers) if isinstance(have.qualifiers, dict) else {}
    want_q = dict(want.qualifiers) if isinstance(want.qualifiers, dict) else {}
    return all(have_q.get(k) == v for k, v in want_q.items())


def _is_image(product_id: str, inventory: Inventory) -> bool:
    if product_id == inventory.reference:
        return True
    purl = _parse_purl(product_id)
    if purl is None or purl.type != "oci":
        return False
    return not purl.version or not inventory.digest or purl.version == inventory.digest


def statement_applies(st: VexStatement, finding: Finding, inventory: Inventory) -> bool:
    if not (st.ids & finding.ids):
        return False
    for product in st.products:
        if _is_image(product.id, inventory):
            if not product.subcomponents:
                return True
            if any(purl_matches(s, finding.package) for s in product.subcomponents):
                return True
        elif product.id.startswith("pkg:oci/"):
            continue  # another image: its statements say nothing about this one
        elif purl_matches(product.id, finding.package):
            return True
        elif any(purl_matches(s, finding.package) for s in product.subcomponents):
            return True
    return False


def apply_vex(
    findings: Iterable[Finding], statements: Sequence[VexStatement], inventory: Inventory
) -> list[Finding]:
    """Findings with the latest applicable statement applied (`not_affected`/`fixed` suppress)."""
    ordered = sorted(statements, key=lambda s: s.timestamp)
    out: list[Finding] = []
    for finding in findings:
        decided: VexStatement | None = None
        for st in ordered:
            if statement_applies(st, finding, inventory):
                decided = st
        if decided is not None and decided.status in SUPPRESSING:
            reason = decided.justification or decided.status
            note = f"VEX {decided.status} ({reason}) in {decided.document}"
            finding = dataclasses.replace(
                finding,
                status=NOT_AFFECTED_STATUS,
                fixed_version=None,
                data_source=f"vex, {finding.data_source}",
                note=f"{note}; {finding.note}" if finding.note else note,
            )
        out.append(finding)
    return out


REBUILD_DOCUMENT = "the rebuilt package's pedigree"


def rebuild_statements(inventory: Inventory) -> list[VexStatement]:
    """`fixed` for each CVE a hardbase rebuild in the image says its patches fix (its
    `Hardbase-Fixes` control field, hardbase.debian.pedigree), on that package's purl.

    These are the statements of the OpenVEX attestation the sign step attaches
    (hardbase.patch.vex reads the same fields through the CycloneDX pedigree).
    """
    from hardbase.debian.pedigree import read

    out = []
    for pkg in inventory.packages:
        pedigree = read(pkg.extra) if pkg.type == "deb" and pkg.extra else None
        if pedigree is None or not pkg.purl:
            continue
        for cve in pedigree.fixes:
            out.append(
                VexStatement(
                    vulnerability=cve,
                    aliases=(),
                    products=(VexProduct(pkg.purl),),
                    status="fixed",
                    document=REBUILD_DOCUMENT,
                )  # fmt: skip
            )
    return out
