"""The spec's `app:` section, validated by pydantic as part of the image spec."""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _absolute(value: str) -> str:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError(f"'{value}' must be an absolute path without '..'")
    return value


class PythonAppModel(_Model):
    """Python dependencies: a pinned requirements file, installed by pip."""

    requirements: str  # installed into /usr/local/lib/python3.X/dist-packages (Debian's site)


class NodeAppModel(_Model):
    """npm dependencies: a package-lock.json (with its package.json beside it), `npm ci`."""

    lockfile: str
    # The directory that gets node_modules/; defaults to the app's workdir, else /app.
    dir: str | None = None
    omit_dev: bool = Field(default=True, alias="omit-dev")

    @field_validator("dir")
    @classmethod
    def _dir(cls, value: str | None) -> str | None:
        return None if value is None else _absolute(value)


class AppFileModel(_Model):
    """A file or directory of the app, copied from beside the spec."""

    src: str
    dst: str
    mode: int | str | None = None
    owner: str = "0:0"

    @field_validator("dst")
    @classmethod
    def _dst(cls, value: str) -> str:
        return _absolute(value)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"'{value}' must be UID:GID, numeric")
        return value


class AppModel(_Model):
    """`app:` — one of `python` or `node`, the app's files and its working directory."""

    python: PythonAppModel | None = None
    node: NodeAppModel | None = None
    files: list[AppFileModel] = Field(default_factory=list)
    workdir: str | None = None
    # The directory app paths are relative to and must stay in (default: the spec's own).
    context: str | None = None

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str | None) -> str | None:
        return None if value is None else _absolute(value)

    @model_validator(mode="after")
    def _one_ecosystem(self) -> AppModel:
        if self.python is not None and self.node is not None:
            raise ValueError("set one of 'python' or 'node', not both")
        return self
