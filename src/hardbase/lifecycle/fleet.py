"""The fleet file: which images the controller manages, where they go and how they are checked.

YAML, validated with pydantic; relative paths are relative to the fleet file.
Registry credentials never live here: the registry client reads them from the
environment (HARDBASE_REGISTRY_USERNAME / _PASSWORD) or a docker config.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hardbase.build.variants import VARIANTS, variant_tag
from hardbase.errors import SpecError, UsageError
from hardbase.util.digest import Digest
from hardbase.util.validation import validate
from hardbase.vuln.severity import Severity

DEFAULT_STATE = "sqlite:///var/lib/hardbase/state.db"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$"
_REPO = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"


def parse_duration(value: str | float | int) -> float:
    """Seconds from `90`, `30s`, `5m`, `1h` or `250ms`."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a duration such as 30s, 5m or 1h")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"'{value}' is negative")
    return seconds


def positive_duration(value: str | float) -> str | float:
    """`value` when it is a duration of more than 0 (a pydantic validator's check)."""
    if parse_duration(value) <= 0:
        raise ValueError("must be more than 0")
    return value


LEVELS = ("negligible", "low", "medium", "high", "critical")


def parse_severity(value: str) -> Severity:
    """A gate threshold: one of LEVELS."""
    if str(value).strip().lower() not in LEVELS:
        raise ValueError(f"'{value}' is not one of {', '.join(LEVELS)}")
    return Severity.parse(str(value))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistryModel(_Model):
    url: str = Field(min_length=1)
    insecure: bool = False

    @field_validator("url")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.removeprefix("docker://").rstrip("/")
        if "://" in value or "/" in value:
            raise ValueError(f"'{value}' must be HOST[:PORT], without scheme or path")
        return value


class WebhookModel(_Model):
    url: str
    secret_env: str = "HARDBASE_WEBHOOK_SECRET"
    retries: int = Field(default=4, ge=0, le=20)
    timeout: float = Field(default=5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not an http(s):// URL")
        return value


class FeedModel(_Model):
    name: str
    locations: list[str] = Field(default_factory=list)


class PublishDbModel(_Model):
    ref: str = Field(min_length=1)  # docker://HOST/REPO[:TAG] or oci:DIR[:TAG]
    insecure: bool | None = None  # default: the fleet registry's setting


class PatchArchiveModel(_Model):
    """Where an in-place image's fixed packages come from (default: the release's mirrors)."""

    mirror: str = ""
    security_mirror: str = ""
    keyring: str | None = None


PatchSource = Literal["newer-debian", "patches-dir"]
PATCH_SOURCES: tuple[PatchSource, ...] = ("newer-debian", "patches-dir")


class PatchModel(_Model):
    """`patch:`: when and how the controller rebuilds a package from source with a fix."""

    min_severity: str = "high"
    sources: list[PatchSource] = Field(default_factory=lambda: list(PATCH_SOURCES), min_length=1)
    repo: str = Field(min_length=1)
    archive_key: str = Field(min_length=1)
    max_builds: int = Field(default=1, ge=1, le=16)
    # where `repo` is served (`hardbase repo serve`): the URL image locks fetch the rebuilds from
    url: str = Field(min_length=1)
    public_key: str | None = None  # the archive's keyring; default: archive_key's .gpg beside it
    # where the release's and newer suites' sources come from (default: Debian's mirrors)
    mirror: str | None = None
    security_mirror: str | None = None
    keyring: str | None = None
    # where the build root's packages come from (default: the sources' archive)
    root_mirror: str | None = None
    root_security_mirror: str | None = None
    root_keyring: str | None = None

    @field_validator("url", "mirror", "security_mirror", "root_mirror", "root_security_mirror")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not an http(s):// URL")
        return value

    @field_validator("min_severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        parse_severity(value)
        return value

    @field_validator("sources")
    @classmethod
    def _once(cls, value: list[PatchSource]) -> list[PatchSource]:
        if len(set(value)) != len(value):
            raise ValueError("sources repeat")
        return value


class ImageModel(_Model):
    spec: str | None = None
    image: str | None = None  # the upstream image of a `patch: in-place` entry
    # "in-place": an upstream image kept patched by patch-image; false: a built image whose
    # packages are never rebuilt from source (`patch:` of the fleet); true/absent: they may be
    patch: Literal["in-place"] | bool | None = None
    only: Literal["fixable", "security"] = "fixable"
    archive: PatchArchiveModel | None = None
    insecure: bool | None = None  # the upstream registry's; default the fleet registry's
    repository: str = Field(pattern=_REPO)
    tags: list[str] = Field(min_length=1)
    policy: str | None = None
    smoke: list[str] | None = Field(default=None, min_length=1)
    relock: Literal["minimal", "full"] | None = None
    variants: bool | list[Literal["latest", "nonroot", "debug", "debug-nonroot"]] = False

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.match(_TAG, tag):
                raise ValueError(f"'{tag}' is not a valid image tag")
        if len(set(value)) != len(value):
            raise ValueError("tags repeat")
        return value

    @model_validator(mode="after")
    def _source(self) -> ImageModel:
        if self.patch != "in-place":
            if self.spec is None or self.image is not None:
                raise ValueError("give either spec: FILE, or image: REF with patch: in-place")
            return self
        if self.image is None or self.spec is not None:
            raise ValueError("patch: in-place needs image: REF (the upstream image), not spec")
        if self.variants or self.relock:
            raise ValueError("patch: in-place images take neither variants nor relock")
        return self


class ServeModel(_Model):
    """Settings of `hardbase serve`."""

    anonymous_read: bool = False
    sla_target: str | float = "24h"
    max_body: int = Field(default=65536, ge=1024, le=16 << 20)

    @field_validator("sla_target")
    @classmethod
    def _target(cls, value: str | float) -> str | float:
        return positive_duration(value)


class ExecutorModel(_Model):
    """`executor:`: where the controller's jobs run (`lifecycle/executor.py`)."""

    kind: Literal["in-process", "celery"] = "in-process"
    broker: str | None = Field(default=None, min_length=1)
    visibility_timeout: str | float = "15m"
    retries: int = Field(default=5, ge=0, le=50)

    @field_validator("visibility_timeout")
    @classmethod
    def _positive(cls, value: str | float) -> str | float:
        return positive_duration(value)

    @field_validator("broker")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "amqp://")):
            raise ValueError(f"'{value}' is not a redis://, rediss:// or amqp:// broker URL")
        return value

    @model_validator(mode="after")
    def _kind(self) -> ExecutorModel:
        if self.kind == "celery" and self.broker is None:
            raise ValueError("kind: celery needs broker: URL (for example redis://HOST:6379/0)")
        if self.kind == "in-process" and self.broker is not None:
            raise ValueError("broker: is for kind: celery")
        return self


class FleetModel(_Model):
    registry: RegistryModel
    state: str = DEFAULT_STATE
    vulndb: str | None = None
    publish_db: PublishDbModel | None = None
    interval: str | float = "5m"
    sign_key: str
    webhook: WebhookModel | None = None
    feeds: list[str | FeedModel] = Field(default_factory=list)
    relock: Literal["minimal", "full"] = "minimal"
    concurrency: int = Field(default=2, ge=1, le=64)
    fail_on: str = "high"
    lease: str | float = "10m"
    registry_wait: str | float = "15m"
    workdir: str | None = None
    serve: ServeModel = Field(default_factory=ServeModel)
    patch: PatchModel | None = None
    patches: str | None = Field(default=None, min_length=1)
    executor: ExecutorModel = Field(default_factory=ExecutorModel)
    images: list[ImageModel] = Field(min_length=1)

    @field_validator("interval", "lease", "registry_wait")
    @classmethod
    def _duration(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value

    @field_validator("fail_on")
    @classmethod
    def _severity(cls, value: str) -> str:
        parse_severity(value)
        return value


@dataclass(frozen=True)
class Feed:
    name: str
    locations: tuple[str, ...]


@dataclass(frozen=True)
class ManagedImage:
    """One image of the fleet, paths resolved."""

    name: str  # the repository: unique in the fleet
    spec: Path | None  # None for a `patch: in-place` image (see `upstream`)
    repository: str
    tags: tuple[str, ...]
    policy: Path | None
    smoke: tuple[str, ...] | None
    relock: str
    fail_on: Severity
    variant: str | None = None  # latest, nonroot, debug or debug-nonroot (build/variants.py)
    inplace: InPlace | None = None  # set for `patch: in-place`: kept patched by patch-image
    patch: bool = True  # False: the controller never source-patches this image's packages

    @property
    def spec_path(self) -> Path:
        """The image spec of a built image; a SpecError for a `patch: in-place` one."""
        if self.spec is None:
            raise SpecError(f"image {self.name} is patched in place; it has no image spec")
        return self.spec

    @property
    def inplace_source(self) -> InPlace:
        """The upstream of a `patch: in-place` image; a SpecError for a built one."""
        if self.inplace is None:
            raise SpecError(f"image {self.name} is built from a spec, not patched in place")
        return self.inplace


@dataclass(frozen=True)
class InPlace:
    """An upstream image the controller keeps patched in place (`lifecycle/inplace.py`)."""

    upstream: str  # the image reference, docker://… or oci:…
    only: str = "fixable"  # fixable | security
    mirror: str = ""
    security_mirror: str = ""
    keyring: Path | None = None
    insecure: bool = False  # the upstream registry is plain HTTP


@dataclass(frozen=True)
class ServeSettings:
    anonymous_read: bool = False
    sla_target: float = 86400.0  # seconds from fix first seen to published
    max_body: int = 65536  # bytes a request body may have


@dataclass(frozen=True)
class UserPatch:
    """A patch of the fleet's `patches:` directory and the CVEs its DEP-3 header names."""

    path: Path
    cves: tuple[str, ...]
    origin: str


@dataclass(frozen=True)
class PatchSettings:
    """`patch:` resolved: the controller's source-patching settings."""

    min_severity: Severity
    sources: tuple[str, ...]  # of PATCH_SOURCES, in the order they are tried
    repo: Path  # the fleet's archive (`hardbase repo`)
    archive_key: Path
    max_builds: int = 1  # package builds at once
    patches: tuple[UserPatch, ...] = ()  # the `patches:` directory's files
    url: str = ""  # where `repo` is served; the image locks' URLs of the rebuilds
    public_key: Path | None = None  # the keyring `repo`'s InRelease verifies with
    mirror: str | None = None  # the sources' mirror (None: Debian's)
    security_mirror: str | None = None
    keyring: Path | None = None  # the sources' keyring (None: Debian's)
    root_mirror: str | None = None  # the build root's archive (None: the sources')
    root_security_mirror: str | None = None
    root_keyring: Path | None = None


@dataclass(frozen=True)
class ExecutorSettings:
    """`executor:` resolved: in-process threads (default) or Celery workers behind a broker."""

    kind: str = "in-process"  # in-process | celery
    broker: str = ""
    visibility_timeout: float = 900.0  # seconds before the broker redelivers an unacked job
    retries: int = 5  # times a job that stopped on an error is retried, with backoff


@dataclass(frozen=True)
class Fleet:
    path: Path
    registry: str
    insecure: bool
    state: str
    vulndb: str | None
    interval: float
    sign_key: Path
    webhook: WebhookModel | None
    feeds: tuple[Feed, ...]
    concurrency: int
    lease: float
    registry_wait: float
    workdir: Path
    images: tuple[ManagedImage, ...]
    serve: ServeSettings = ServeSettings()
    publish_db: str | None = None  # where each pass publishes the database (`db push`)
    publish_db_insecure: bool = False
    patch: PatchSettings | None = None  # None: the controller never patches from source
    executor: ExecutorSettings = ExecutorSettings()
    digest: str = ""  # sha256 of the fleet file's content (its YAML as canonical JSON)

    def image(self, name: str) -> ManagedImage:
        for image in self.images:
            if image.name == name:
                return image
        raise SpecError(f"{self.path} manages no image {name!r}")


def policy_threshold(path: Path, default: Severity) -> Severity:
    """The new-finding threshold an image's policy implies, else `default`.

    The policy is loaded (so a bad one stops the fleet from loading). Its
    `vulnerabilities.max_severity` maps onto a threshold only when it gives one
    level for all three statuses (fixable, no-fix, wont-fix): findings above
    that level fail, so the threshold is the next level up (`none`: any new
    finding). Anything else (partial, mixed, or `critical`, which no finding
    exceeds) keeps the fleet's `fail_on`; the policy engine still judges every
    finding by its own rules.
    """
    from hardbase.policy.model import load_policy

    section = load_policy(path).model.vulnerabilities
    limits = section.max_severity if section is not None else None
    if limits is None:
        return default
    levels = {limits.fixable, limits.no_fix, limits.wont_fix}
    if len(levels) != 1 or None in levels:
        return default
    level = levels.pop()
    if level == "none":
        return Severity.UNKNOWN  # every severity is at or above it: any new finding fails
    if level == "critical":
        return default
    return Severity(Severity.parse(level) + 1)


def _resolve(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (base / path).resolve()


def _state_url(base: Path, value: str) -> str:
    if "://" not in value:
        return f"sqlite:///{_resolve(base, value)}"
    prefix = "sqlite:///"
    if value.startswith(prefix) and not value.startswith(prefix + "/"):
        return f"{prefix}{_resolve(base, value[len(prefix) :])}"
    return value


def _feed_location(base: Path, value: str) -> str:
    """A feed location, with a relative `signed-by=KEYRING` made relative to the fleet file."""
    key, sep, rest = value.partition("=")
    if sep and key == "signed-by" and rest:
        return f"signed-by={_resolve(base, rest)}"
    return value


def parse_fleet(data: Any, path: Path) -> Fleet:
    """Validate `data` (the fleet file's YAML) and resolve its paths against `path`."""
    model = validate(FleetModel, data, str(path), "a fleet file")
    base = path.resolve().parent
    default_fail = parse_severity(model.fail_on)
    images: list[ManagedImage] = []
    for item in model.images:
        policy = _resolve(base, item.policy) if item.policy else None
        inplace = _inplace(item, base, model.registry.insecure, path)
        variants: list[str | None] = (
            list(VARIANTS) if item.variants is True else list(item.variants or []) or [None]
        )
        for variant in variants:
            images.append(
                ManagedImage(
                    name=f"{item.repository}:{variant}" if variant else item.repository,
                    spec=_resolve(base, item.spec) if item.spec else None,
                    repository=item.repository,
                    tags=tuple(variant_tag(t, variant) if variant else t for t in item.tags),
                    policy=policy,
                    smoke=tuple(item.smoke) if item.smoke else None,
                    relock=item.relock or model.relock,
                    fail_on=policy_threshold(policy, default_fail) if policy else default_fail,
                    variant=variant,
                    inplace=inplace,
                    patch=item.patch is None or item.patch is True,
                )
            )
    published = [f"{i.repository}:{t}" for i in images for t in i.tags]
    twice = sorted({p for p in published if published.count(p) > 1})
    if twice or len({i.name for i in images}) != len(images):
        raise SpecError(
            f"{path}: two images publish to the same repository and tag ({', '.join(twice)})"
            if twice
            else f"{path}: two images publish to the same repository"
        )
    feeds = tuple(
        Feed(f, ())
        if isinstance(f, str)
        else Feed(f.name, tuple(_feed_location(base, loc) for loc in f.locations))
        for f in model.feeds
    )
    workdir = _resolve(base, model.workdir) if model.workdir else base / ".hardbase-watch"
    publish = model.publish_db
    publish_ref = _publish_ref(publish, model.vulndb, path, base) if publish else None
    return Fleet(
        path=path.resolve(),
        registry=model.registry.url,
        insecure=model.registry.insecure,
        state=_state_url(base, model.state),
        vulndb=model.vulndb
        if model.vulndb is None or "://" in model.vulndb
        else str(_resolve(base, model.vulndb)),
        interval=parse_duration(model.interval),
        sign_key=_resolve(base, model.sign_key),
        webhook=model.webhook,
        feeds=feeds,
        concurrency=model.concurrency,
        lease=parse_duration(model.lease),
        registry_wait=parse_duration(model.registry_wait),
        workdir=workdir,
        images=tuple(images),
        serve=ServeSettings(
            anonymous_read=model.serve.anonymous_read,
            sla_target=parse_duration(model.serve.sla_target),
            max_body=model.serve.max_body,
        ),
        publish_db=publish_ref,
        patch=_patch_settings(model, path, base),
        publish_db_insecure=(
            publish.insecure
            if publish is not None and publish.insecure is not None
            else model.registry.insecure
        ),
        executor=_executor(model, path),
        digest=fleet_digest(data),
    )


def fleet_digest(data: Any) -> Digest:
    """The fleet's hash: sha256 of its YAML as canonical JSON (comments and layout aside), so
    a worker can tell that it runs the controller's fleet."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return Digest.of(text.encode())


def _executor(model: FleetModel, path: Path) -> ExecutorSettings:
    """`executor:` checked: Celery workers on several hosts share the state and the
    vulnerability database, so both must be PostgreSQL, not a SQLite file."""
    settings = model.executor
    if settings.kind == "celery":
        for name, url in (("state", model.state), ("vulndb", model.vulndb)):
            if url is None or not url.startswith("postgresql"):
                raise SpecError(
                    f"{path}: executor kind celery needs {name}: on PostgreSQL "
                    f"(postgresql://HOST/DB), not {url or 'the default SQLite file'}, because "
                    "workers on several hosts share it"
                )
    return ExecutorSettings(
        kind=settings.kind,
        broker=settings.broker or "",
        visibility_timeout=parse_duration(settings.visibility_timeout),
        retries=settings.retries,
    )


def _inplace(item: ImageModel, base: Path, insecure: bool, path: Path) -> InPlace | None:
    """The upstream of a `patch: in-place` entry, its reference checked."""
    if item.patch is None or item.image is None:
        return None
    upstream = _image_ref(item.image, "image", path, base)
    archive = item.archive or PatchArchiveModel()
    return InPlace(
        upstream=upstream,
        only=item.only,
        mirror=archive.mirror,
        security_mirror=archive.security_mirror,
        keyring=_resolve(base, archive.keyring) if archive.keyring else None,
        insecure=item.insecure if item.insecure is not None else insecure,
    )


def _patch_settings(model: FleetModel, path: Path, base: Path) -> PatchSettings | None:
    """`patch:` and `patches:` checked: the key exists, every patch names a CVE and an origin."""
    settings = model.patch
    if settings is None:
        if model.patches is not None:
            raise SpecError(f"{path}: patches: needs a patch: section (repo, archive_key)")
        return None
    key = _resolve(base, settings.archive_key)
    if not key.is_file():
        raise SpecError(
            f"{path}: patch.archive_key {key} does not exist; make one with `hardbase repo keygen`"
        )
    patches: tuple[UserPatch, ...] = ()
    if model.patches is not None:
        if "patches-dir" not in settings.sources:
            raise SpecError(f"{path}: patches: is set but patch.sources leaves out patches-dir")
        patches = read_patches_dir(_resolve(base, model.patches), path)
    elif "patches-dir" in settings.sources and "sources" in settings.model_fields_set:
        raise SpecError(f"{path}: patch.sources names patches-dir but there is no patches: DIR")
    public = _resolve(base, settings.public_key) if settings.public_key else key.with_suffix(".gpg")
    if not public.is_file():
        raise SpecError(
            f"{path}: patch.public_key {public} does not exist; give the archive's public "
            "keyring (`hardbase repo keygen` writes PREFIX.gpg beside PREFIX.key)"
        )
    return PatchSettings(
        min_severity=parse_severity(settings.min_severity),
        sources=tuple(settings.sources),
        repo=_resolve(base, settings.repo),
        archive_key=key,
        max_builds=settings.max_builds,
        patches=patches,
        url=settings.url.rstrip("/") + "/",
        public_key=public,
        mirror=settings.mirror,
        security_mirror=settings.security_mirror,
        keyring=_resolve(base, settings.keyring) if settings.keyring else None,
        root_mirror=settings.root_mirror,
        root_security_mirror=settings.root_security_mirror,
        root_keyring=_resolve(base, settings.root_keyring) if settings.root_keyring else None,
    )


def read_patches_dir(directory: Path, fleet: Path) -> tuple[UserPatch, ...]:
    """Every file of `directory` (not hidden), each with a DEP-3 header naming CVEs and an origin.

    A file that is not such a patch stops the fleet from loading, with its name.
    """
    from hardbase.patch.dep3 import PatchFileError, read_patch

    if not directory.is_dir():
        raise SpecError(f"{fleet}: patches: {directory} is not a directory")
    out = []
    for file in sorted(directory.iterdir()):
        if file.name.startswith(".") or not file.is_file():
            continue
        try:
            _, header = read_patch(file)
        except PatchFileError as exc:
            raise SpecError(f"{fleet}: patches: {exc.diagnostics()}") from None
        if not header.cves:
            raise SpecError(
                f"{fleet}: patches: {file.name} names no CVE in its DEP-3 header; add a line "
                "such as 'Description: fix CVE-YYYY-NNNN' (and 'Origin: upstream, URL')"
            )
        if header.origin is None:
            raise SpecError(
                f"{fleet}: patches: {file.name} has no 'Origin:' field in its DEP-3 header; "
                "say where the fix comes from (for example 'Origin: upstream, URL')"
            )
        out.append(UserPatch(file, header.cves, header.origin))
    return tuple(out)


def _publish_ref(publish: PublishDbModel, vulndb: str | None, path: Path, base: Path) -> str:
    """The checked `publish_db.ref`, an `oci:` directory resolved against the fleet file."""
    ref = _image_ref(publish.ref, "publish_db.ref", path, base)
    if vulndb is not None and "://" in vulndb and not vulndb.startswith("sqlite:///"):
        raise SpecError(
            f"{path}: publish_db needs a SQLite vulndb (db push carries a SQLite file), "
            f"not {vulndb}"
        )
    return ref


def _image_ref(value: str, name: str, path: Path, base: Path) -> str:
    """`value`, a docker:// or oci: reference, with an `oci:` directory resolved against the
    fleet file; SpecError naming the field `name` otherwise."""
    from hardbase.oci.reference import parse_reference

    try:
        ref = parse_reference(value)
    except UsageError as exc:
        raise SpecError(f"{path}: {name}: {exc.diagnostics()}") from None
    if ref.transport not in ("docker", "oci"):
        raise SpecError(f"{path}: {name} {value} must be docker://HOST/REPO[:TAG] or oci:DIR[:TAG]")
    if ref.transport == "oci" and ref.path is not None:
        tag = f":{ref.tag}" if ref.tag else ""
        return f"oci:{_resolve(base, str(ref.path))}{tag}"
    return value


def load_fleet(path: Path) -> Fleet:
    """Read and validate the fleet file at `path`."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"fleet file {path} does not exist") from None
    except OSError as exc:
        raise SpecError(f"cannot read fleet file {path} ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path} is not valid YAML{where}") from None
    return parse_fleet(data, path)
