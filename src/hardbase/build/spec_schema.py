"""The image spec's schema: pydantic models that validate a spec's YAML.

Imported only when a spec is validated; `hardbase.build.spec` turns a
validated model into plain frozen dataclasses, so a build of an unchanged
(cached) spec never imports pydantic.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hardbase.build.app.model import AppModel
from hardbase.build.spec import USERS
from hardbase.debian.model import DEFAULT_KEYRING


class _Model(BaseModel):
    # defer_build: a spec read from the validated-spec cache never builds a schema.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class SourceModel(_Model):
    uris: list[str] = Field(min_length=1)
    suites: list[str] = Field(min_length=1)
    components: list[str] = Field(default_factory=lambda: ["main"], min_length=1)
    signed_by: str = Field(default=str(DEFAULT_KEYRING), alias="signed-by")

    @field_validator("uris")
    @classmethod
    def _http(cls, value: list[str]) -> list[str]:
        for uri in value:
            if not re.match(r"^(https?|file)://", uri):
                raise ValueError(f"'{uri}' is not an http(s):// or file:// URL")
        return value


class FileModel(_Model):
    """An extra file, directory or symlink placed in the image's last layer."""

    dst: str
    src: str | None = None
    content: str | None = None
    type: Literal["file", "dir", "symlink"] = "file"
    target: str | None = None
    mode: int | str = 0o644
    owner: str = "0:0"

    @field_validator("dst")
    @classmethod
    def _abs(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts:
            raise ValueError(f"'{value}' must be an absolute path without '..'")
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        if not re.match(r"^\d+:\d+$", value):
            raise ValueError(f"'{value}' must be UID:GID, numeric")
        return value


class PruneModel(_Model):
    """What to cut from the assembled tree; `copyright` files always stay."""

    docs: bool = True
    man: bool = True
    locales: bool = True
    lintian: bool = True
    headers: bool = True
    static_libs: bool = Field(default=True, alias="static-libs")
    gconv: bool = True
    python_extras: bool = Field(default=True, alias="python-extras")
    tools: bool = True
    paths: list[str] = Field(default_factory=list)
    keep: list[str] = Field(default_factory=list)


Arch = Literal["amd64", "arm64"]


def _default_archs() -> list[Arch]:
    return ["amd64"]


class SpecModel(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    extends: str | None = None
    release: Literal["trixie", "bookworm"] = "trixie"
    sources: list[SourceModel] | None = None
    snapshot: str | None = None
    packages: list[str] = Field(default_factory=list)
    archs: list[Arch] = Field(default_factory=_default_archs, min_length=1)
    user: str | int = "nonroot"
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str | None = None
    files: list[FileModel] = Field(default_factory=list)
    certs: list[str] = Field(default_factory=list)  # PEM files of CAs to trust
    annotations: dict[str, str] = Field(default_factory=dict)
    prune: PruneModel = Field(default_factory=PruneModel)
    app: AppModel | None = None  # application images: see hardbase.build.app

    @model_validator(mode="before")
    @classmethod
    def _app_workdir(cls, data: Any) -> Any:
        # `app.workdir` is the image's working directory unless `workdir` is set
        if isinstance(data, dict) and isinstance(data.get("app"), dict):
            if data["app"].get("workdir") and not data.get("workdir"):
                data = {**data, "workdir": data["app"]["workdir"]}
        return data

    @field_validator("packages")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$", name):
                raise ValueError(f"'{name}' is not a Debian package name")
        return value

    @field_validator("certs")
    @classmethod
    def _cert_paths(cls, value: list[str]) -> list[str]:
        for item in value:
            path = PurePosixPath(item)
            if path.is_absolute() or ".." in path.parts or not item:
                raise ValueError(f"'{item}' must be a path relative to the spec, without '..'")
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | int) -> str | int:
        if isinstance(value, int) or value in USERS or re.match(r"^\d+(:\d+)?$", value):
            return value
        raise ValueError(f"'{value}' is not root, nonroot, nobody or a numeric UID[:GID]")
