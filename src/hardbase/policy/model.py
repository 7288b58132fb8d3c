"""The policy file: YAML, validated on load with field-level messages (pydantic).

Every section is optional; a rule that is absent is not checked. Paths in the
file (keys, VEX documents) are relative to the policy file.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hardbase.errors import SpecError
from hardbase.util.validation import validate

log = logging.getLogger(__name__)

MAX_POLICY_SIZE = 1 << 20
SeverityLabel = Literal["none", "unknown", "negligible", "low", "medium", "high", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaxSeverity(_Model):
    """The highest severity allowed per finding status; `none` allows no finding at all."""

    fixable: SeverityLabel | None = None
    no_fix: SeverityLabel | None = Field(default=None, alias="no-fix")
    wont_fix: SeverityLabel | None = Field(default=None, alias="wont-fix")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Vulnerabilities(_Model):
    max_severity: MaxSeverity | None = None
    # severity a finding without one is judged as (never let "unknown" slip through)
    unknown_as: SeverityLabel = "critical"
    max_fix_age_days: int | None = Field(default=None, ge=0)
    # a fix whose date is unknown counts as older than max_fix_age_days
    unknown_fix_age_fails: bool = True


class Filesystem(_Model):
    no_shell: bool = False
    no_package_manager: bool = False
    no_setuid: bool = False
    no_world_writable: bool = False
    world_writable_allowed: tuple[str, ...] = ("/tmp",)

    @field_validator("world_writable_allowed")
    @classmethod
    def _absolute(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"{path!r} is not an absolute path")
        return value


class Licenses(_Model):
    allowed: tuple[str, ...] = ()  # SPDX ids or glob patterns (LicenseRef-*)
    denied: tuple[str, ...] = ()


class Signature(_Model):
    required: bool = True
    keys: tuple[str, ...] = Field(min_length=1)


class Required(_Model):
    required: bool = True


class Provenance(_Model):
    required: bool = True
    keys: tuple[str, ...] = ()  # when given, the provenance must verify with one of them


class Support(_Model):
    distro_not_ended: bool = True
    packages_not_ended: bool = True
    warn_days: int = Field(default=90, ge=0)


class ExceptionEntry(_Model):
    """An allowlisted finding: `id` (or an alias) in packages matching `scope`."""

    id: str = Field(min_length=1)
    scope: str = "*"  # a package purl (version and qualifiers optional), or "*"
    image: str = "*"  # an image digest, reference or purl glob, or "*"
    justification: str = Field(min_length=1)
    expires: date


class PolicyModel(_Model):
    version: Literal[1] = 1
    name: str = "policy"
    description: str = ""
    non_root: bool = False
    vulnerabilities: Vulnerabilities | None = None
    filesystem: Filesystem | None = None
    max_compressed_mb: float | None = Field(default=None, gt=0)
    licenses: Licenses | None = None
    signature: Signature | None = None
    provenance: Provenance | None = None
    sbom: Required | None = None
    support: Support | None = None
    exceptions: tuple[ExceptionEntry, ...] = ()
    vex: tuple[str, ...] = ()


class Policy:
    """A validated policy and the directory its relative paths start from."""

    def __init__(self, model: PolicyModel, base: Path, where: str) -> None:
        self.model = model
        self.base = base
        self.where = where

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p


def parse_policy(data: Any, where: str, base: Path) -> Policy:
    if not isinstance(data, dict):
        raise SpecError(f"{where} is not a policy: expected a mapping of rules")
    return Policy(validate(PolicyModel, data, where, "a policy"), base, where)


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file."""
    try:
        if path.stat().st_size > MAX_POLICY_SIZE:
            raise SpecError(f"the policy {path} is larger than {MAX_POLICY_SIZE} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the policy {path} ({exc.strerror}); check --policy") from None
    except UnicodeDecodeError:
        raise SpecError(f"the policy {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"the policy {path} is not valid YAML") from exc
    return parse_policy(data, str(path), path.parent)


def default_policy_path() -> Path:
    """The shipped hardened default (package data; `policies/default.yaml` links to it)."""
    return Path(__file__).resolve().parent / "default.yaml"
