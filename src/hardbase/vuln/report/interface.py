"""What a scan report format is, and the helpers the formats share."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import ClassVar, get_args

from packageurl import PackageURL

from hardbase.errors import UsageError
from hardbase.util import clock
from hardbase.vuln.match import Finding
from hardbase.vuln.model import Inventory
from hardbase.vuln.report import ReportFormatName
from hardbase.vuln.scan import ScanResult

INFORMATION_URI = "https://github.com/hardbase/hardbase"


class ReportError(UsageError):
    """A report cannot be produced in the requested format."""


class ReportFormat(ABC):
    """Renders a ScanResult as text."""

    name: ClassVar[ReportFormatName]

    @abstractmethod
    def render(self, result: ScanResult) -> str:
        """The whole report, ending with a newline."""


# format name -> "module:Class" under hardbase.vuln.report, one for each ReportFormatName
FORMATS: dict[ReportFormatName, str] = {
    "table": "table:TableFormat",
    "json": "json:JSONFormat",
    "sarif": "sarif:SARIFFormat",
    "cyclonedx": "cyclonedx:CycloneDXFormat",
    "openvex": "openvex:OpenVEXFormat",
}


def get_format(name: ReportFormatName) -> ReportFormat:
    spec = FORMATS.get(name)
    if spec is None:  # a caller that is not type-checked
        known = ", ".join(get_args(ReportFormatName))
        raise ReportError(f"there is no report format {name!r}; use one of {known}")
    module, _, cls_name = spec.partition(":")
    mod = importlib.import_module(f"hardbase.vuln.report.{module}")
    cls: type[ReportFormat] = getattr(mod, cls_name)
    return cls()


def timestamp() -> str:
    """Now (or SOURCE_DATE_EPOCH, for reproducible reports) in RFC 3339, UTC."""
    return clock.rfc3339(clock.reproducible_now())


def image_name(inventory: Inventory) -> str:
    """A short name for the image: the repository's last part, or the directory's name."""
    ref = inventory.reference
    transport, _, rest = ref.partition(":")
    if transport == "docker":
        rest = rest.lstrip("/").split("@", 1)[0]
        last = rest.rsplit("/", 1)[-1]
        return last.split(":", 1)[0] or "image"
    path = rest.split(":", 1)[0].rstrip("/")
    return (path.rsplit("/", 1)[-1] or "image").lower()


def image_purl(inventory: Inventory) -> str:
    """`pkg:oci/NAME@DIGEST` for the image (no version when the digest is unknown)."""
    qualifiers: dict[str, str] = {}
    if inventory.reference.startswith("docker://"):
        repo = inventory.reference[len("docker://") :].split("@", 1)[0]
        head, _, last = repo.rpartition("/")
        host_repo = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
        qualifiers["repository_url"] = host_repo
    if inventory.architecture:
        qualifiers["arch"] = inventory.architecture
    purl = PackageURL(
        type="oci",
        name=image_name(inventory),
        version=inventory.digest or None,
        qualifiers=qualifiers or None,
    )
    return str(purl.to_string())


def package_ref(finding: Finding) -> str:
    """A stable reference to the finding's package: its purl, else type/name@version."""
    p = finding.package
    return p.purl or f"{p.type}/{p.name}@{p.version}"


def links(finding: Finding) -> dict[str, str]:
    """Where to read about a finding: the Debian security tracker and NVD for a CVE id
    (the finding's own or an alias), GitHub's advisory database for a GHSA id."""
    out: dict[str, str] = {}
    cve = next((i for i in (finding.id, *finding.aliases) if i.startswith("CVE-")), None)
    if cve is not None:
        out["tracker"] = f"https://security-tracker.debian.org/tracker/{cve}"
        out["nvd"] = f"https://nvd.nist.gov/vuln/detail/{cve}"
    ghsa = next((i for i in (finding.id, *finding.aliases) if i.startswith("GHSA-")), None)
    if ghsa is not None:
        out["ghsa"] = f"https://github.com/advisories/{ghsa}"
    return out
