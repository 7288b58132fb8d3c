"""The scorecard JSON document (`hardbase compare --json`) as pydantic models.

The fields, their order and their types are those of
`schemas/scorecard.schema.json` (docs/scorecard.md): `compare` builds the
document through these models and writes `Scorecard.to_json()`, so what is
written is what the schema documents, byte for byte as before; a scorecard read
back (`compare --from FILE`) is checked by the same models, strictly (no `"1"`
for 1, no extra field), and refused with one sentence when it does not match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from hardbase.errors import UsageError

Count = Annotated[int, Field(ge=0)]
Text = Annotated[str, StringConstraints(min_length=1)]
IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\d$")]
DigestText = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
DigestOrEmpty = Annotated[str, StringConstraints(pattern=r"^(sha256:[0-9a-f]{64})?$")]
Rfc3339 = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")]

DimensionKey = Literal[
    "security", "minimality", "consistency", "compliance", "ecosystem", "maintainability"
]
Verdict = Literal["good", "fair", "poor", "unknown"]
Grade = Literal["good", "fair", "poor"]  # the dimensions that are always measured
SeverityLabel = Literal["critical", "high", "medium", "low", "negligible", "unknown"]
StatusLabel = Literal["fixable", "no-fix", "wont-fix", "not-affected"]
Rule = Literal["not-scanned", "fixable", "does-not-run", "support-ended", "poor", "suitable"]
SEVERITY_LABELS = frozenset(get_args(SeverityLabel))
STATUS_LABELS = frozenset(get_args(StatusLabel))


class ScorecardError(UsageError):
    """A scorecard document does not match the scorecard schema."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _all_or_none(counts: dict[str, int] | None, labels: frozenset[str]) -> dict[str, int] | None:
    if counts and set(counts) != labels:
        missing = ", ".join(sorted(labels - set(counts)))
        raise ValueError(
            f"counts every one of {', '.join(sorted(labels))} or none (missing {missing})"
        )
    return counts


class Security(_Part):
    scanned: bool
    findings_total: Count | None
    # the keys are SeverityLabel / StatusLabel, checked below (the scan counts by str)
    by_severity: dict[str, Count]
    by_status: dict[str, Count]
    fixable_by_severity: dict[str, Count] | None
    oldest_unapplied_fix_days: int | None
    undated_fixes: Count
    verdict: Verdict

    @field_validator("by_severity", "fixable_by_severity")
    @classmethod
    def _severities(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        return _all_or_none(value, SEVERITY_LABELS)

    @field_validator("by_status")
    @classmethod
    def _statuses(cls, value: dict[str, int]) -> dict[str, int] | None:
        return _all_or_none(value, STATUS_LABELS)


class Minimality(_Part):
    compressed_bytes: Count
    uncompressed_bytes: Count
    layers: Count
    packages: Count
    dpkg_packages: Count
    python_packages: Count
    npm_packages: Count
    go_packages: Count
    maven_packages: Count
    cargo_packages: Count
    files: Count
    shell: bool
    shells: list[str]
    package_manager: bool
    package_managers: list[str]
    compilers: list[str]
    setuid_files: list[str]
    verdict: Grade


class Consistency(_Part):
    reproducible: bool | None
    reproducible_note: str
    architectures: list[str]
    lock_pinned: bool
    verdict: Grade


class CisCheck(_Part):
    check: Text
    ok: bool
    detail: str


class Compliance(_Part):
    sbom: bool | None
    signature: bool | None
    provenance: bool | None
    artifacts_note: str
    default_user: Text
    runs_as_root: bool
    packages_with_licence: Count
    licences: dict[str, list[Text]]
    copyleft: dict[str, Literal["weak", "strong"]]
    cis: list[CisCheck]
    cis_passed: Count
    verdict: Grade


class Ecosystem(_Part):
    manifest_media_type: str
    layer_media_types: list[str]
    oci_media_types: bool
    runs: bool | None
    run_note: str
    ca_bundle: str
    tzdata: bool
    libc: str
    runtimes: dict[str, Text]
    missing: list[Literal["CA bundle", "tzdata", "libc"]]
    verdict: Grade


class NewestUpdate(_Part):
    package: Text
    version: Text
    date: IsoDate


class Maintainability(_Part):
    distro: Text
    release: str
    security_support_end: IsoDate | None
    lts_end: IsoDate | None
    support_days_left: int | None
    packages_support_ended: list[str]
    packages_support_limited: list[str]
    support_data: bool
    stable_updates_installed: Count
    newest_update: NewestUpdate | None
    newest_update_age_days: int | None
    verdict: Verdict


class Recommendation(_Part):
    rule: Rule
    text: Text


class ImageCard(_Part):
    """One image's entry: its identity, the six dimensions, warnings and the recommendation."""

    reference: Text
    title: Text
    digest: DigestOrEmpty
    index_digest: DigestText | None
    architecture: str
    security: Security
    minimality: Minimality
    consistency: Consistency
    compliance: Compliance
    ecosystem: Ecosystem
    maintainability: Maintainability
    warnings: list[str]
    recommendation: Recommendation

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Dimension(_Part):
    key: DimensionKey
    title: Text


class Scorecard(_Part):
    """The whole document: when and with what it was made, the dimensions, one card per image."""

    scorecard: Literal[1]
    generated: Rfc3339
    date: IsoDate
    hardbase: Text
    database: str | None
    dimensions: Annotated[list[Dimension], Field(min_length=6, max_length=6)]
    images: list[ImageCard]

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready document, its keys in the schema's order."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> Scorecard:
        """A scorecard read back; ScorecardError naming the first field that is wrong."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "the document"
            more = exc.error_count() - 1
            also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
            raise ScorecardError(
                f"{where} is not a hardbase scorecard: {field}: {first['msg'].lower()}{also}; "
                "write it again with `hardbase compare --json`"
            ) from None

    @classmethod
    def load(cls, path: Path) -> Scorecard:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ScorecardError(f"cannot read the scorecard {path} ({exc.strerror})") from None
        return cls.from_json(data, str(path))
