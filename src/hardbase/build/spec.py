"""The image spec: YAML validated on load, merged with its preset chain.

A spec names a preset (`extends`), the Debian release and archive, extra
packages and the image's runtime settings. `load_spec` returns an ImageSpec
whose `tiers` are the package groups that become layers, lowest first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from hardbase.debian.model import DEFAULT_KEYRING, SourceEntry
from hardbase.errors import SpecError
from hardbase.util.fs import write_atomic
from hardbase.util.paths import cache_dir

log = logging.getLogger(__name__)

RELEASES = {"trixie": "13", "bookworm": "12"}
ARCHS = ("amd64", "arm64")
DEBUG_SUFFIX = "-debug"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"

NONROOT_UID = 65532
USERS = {"root": 0, "nonroot": NONROOT_UID, "nobody": 65534}


@dataclass(frozen=True)
class SourceSettings:
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str


@dataclass(frozen=True)
class FileSettings:
    """An extra file, directory or symlink placed in the image's last layer."""

    dst: str
    src: str | None = None
    content: str | None = None
    type: str = "file"
    target: str | None = None
    mode: int | str = 0o644
    owner: str = "0:0"


@dataclass(frozen=True)
class PruneSettings:
    """What to cut from the assembled tree; `copyright` files always stay."""

    docs: bool = True
    man: bool = True
    locales: bool = True
    lintian: bool = True
    headers: bool = True
    static_libs: bool = True
    gconv: bool = True
    python_extras: bool = True
    tools: bool = True
    paths: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpecSettings:
    """A validated spec, as plain values (see spec_schema.SpecModel for the rules)."""

    name: str
    extends: str | None
    release: str
    sources: tuple[SourceSettings, ...] | None
    snapshot: str | None
    packages: tuple[str, ...]
    archs: tuple[str, ...]
    user: str | int
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    env: dict[str, str]
    workdir: str | None
    files: tuple[FileSettings, ...]
    annotations: dict[str, str]
    prune: PruneSettings
    app: Any = None  # the validated `app` section (issue: application images), if any
    certs: tuple[str, ...] = ()  # PEM files of CAs to trust, relative to the spec


def _settings(model: Any) -> SpecSettings:
    """Plain values from a validated SpecModel."""

    def opt(value: list[str] | None) -> tuple[str, ...] | None:
        return tuple(value) if value is not None else None

    prune = model.prune
    return SpecSettings(
        name=model.name,
        extends=model.extends,
        release=model.release,
        sources=tuple(
            SourceSettings(tuple(s.uris), tuple(s.suites), tuple(s.components), s.signed_by)
            for s in model.sources
        )
        if model.sources is not None
        else None,
        snapshot=model.snapshot,
        packages=tuple(model.packages),
        archs=tuple(model.archs),
        user=model.user,
        entrypoint=opt(model.entrypoint),
        cmd=opt(model.cmd),
        env=dict(model.env),
        workdir=model.workdir,
        files=tuple(FileSettings(**f.model_dump()) for f in model.files),
        annotations=dict(model.annotations),
        prune=PruneSettings(
            **{k: v for k, v in prune.model_dump().items() if k not in ("paths", "keep")},
            paths=tuple(prune.paths),
            keep=tuple(prune.keep),
        ),
        app=getattr(model, "app", None),
        certs=tuple(model.certs),
    )


@dataclass(frozen=True)
class Tier:
    """A group of root packages that becomes one layer."""

    name: str
    roots: tuple[str, ...]


@dataclass(frozen=True)
class ImageSpec:
    """A spec with its preset chain applied."""

    path: Path
    model: SpecSettings
    tiers: tuple[Tier, ...]
    sources: tuple[SourceEntry, ...]
    entrypoint: tuple[str, ...] | None
    debug: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def release(self) -> str:
        return self.model.release

    @property
    def archs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.model.archs))

    @property
    def lock_path(self) -> Path:
        return lock_path_for(self.path)

    def resolution_hash(self) -> str:
        """Hash of everything that decides the package set (not runtime settings)."""
        doc = {
            "release": self.release,
            "tiers": [[t.name, list(t.roots)] for t in self.tiers],
            "sources": [
                [list(s.uris), list(s.suites), list(s.components), str(s.signed_by)]
                for s in self.sources
            ],
            "archs": list(self.archs),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def lock_path_for(spec_path: Path) -> Path:
    name = spec_path.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return spec_path.with_name(f"{name}.lock.json")


@cache
def presets() -> dict[str, Any]:
    text = resources.files("hardbase.build.presets").joinpath("presets.yaml").read_text()
    import yaml

    data: dict[str, Any] = yaml.safe_load(text)
    return data


def preset_names() -> list[str]:
    names = sorted(presets())
    return names + [f"{n}{DEBUG_SUFFIX}" for n in names]


def default_sources(release: str) -> tuple[SourceEntry, ...]:
    return (
        SourceEntry((MIRROR,), (release, f"{release}-updates"), ("main",), DEFAULT_KEYRING),
        SourceEntry((SECURITY_MIRROR,), (f"{release}-security",), ("main",), DEFAULT_KEYRING),
    )


def _preset_chain(
    name: str, release: str, where: str, debug: bool = False
) -> tuple[list[Tier], list[str] | None]:
    table = presets()
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current not in table:
            from hardbase.util.validation import did_you_mean

            asked = name + DEBUG_SUFFIX if debug else name
            raise SpecError(
                f"{where}: unknown preset '{asked}'{did_you_mean(asked, preset_names())}; "
                f"choose one of {', '.join(preset_names())}"
            )
        chain.append(current)
        current = table[current].get("extends")
    tiers: list[Tier] = []
    entrypoint = None
    for level in reversed(chain):
        entry = table[level]
        packages = entry.get("packages", {})
        roots = list(packages.get("all", [])) + list(packages.get(release, []))
        tiers.append(Tier(level, tuple(roots)))
        if entry.get("entrypoint"):
            entrypoint = list(entry["entrypoint"])
    return tiers, entrypoint


def parse_spec(data: Any, path: Path) -> ImageSpec:
    """Validate `data` (the spec's YAML) and apply its presets."""
    from hardbase.build.spec_schema import SpecModel
    from hardbase.util.validation import validate

    model = validate(SpecModel, data, str(path), "a spec")
    tiers: list[Tier] = []
    entrypoint: list[str] | None = None
    debug = False
    if model.extends:
        base = model.extends
        if base.endswith(DEBUG_SUFFIX):
            base, debug = base[: -len(DEBUG_SUFFIX)], True
        tiers, entrypoint = _preset_chain(base, model.release, str(path), debug)
        if debug:
            tiers.append(Tier("debug", ("busybox",)))
    if model.packages:
        tiers.append(Tier(model.name, tuple(model.packages)))
    if not tiers:
        raise SpecError(f"{path}: the spec has no packages; set 'extends' or 'packages'")
    if model.sources:
        sources = tuple(
            SourceEntry(
                tuple(s.uris), tuple(s.suites), tuple(s.components), _keyring(s.signed_by, path)
            )
            for s in model.sources
        )
    else:
        sources = default_sources(model.release)
    if model.entrypoint is not None:
        entrypoint = model.entrypoint
    return ImageSpec(
        path=path,
        model=_settings(model),
        tiers=tuple(tiers),
        sources=sources,
        entrypoint=tuple(entrypoint) if entrypoint else None,
        debug=debug,
    )


def _keyring(value: str, spec_path: Path) -> Path:
    keyring = Path(value)
    if not keyring.is_absolute():
        keyring = spec_path.parent / keyring
    return keyring


def load_spec(path: Path) -> ImageSpec:
    """Read and validate the spec at `path`.

    A validated spec is cached by the hash of its bytes and path, so repeated
    builds of an unchanged spec skip validation (it gives the same result).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"spec {path} does not exist") from None
    except OSError as exc:
        raise SpecError(f"cannot read spec {path}") from exc
    resolved = path.resolve()
    cached = _spec_cache_path(raw, resolved)
    try:
        with cached.open("rb") as fh:
            spec = pickle.load(fh)
        if isinstance(spec, ImageSpec):
            return spec
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError):
        pass
    import yaml

    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path} is not valid YAML{where}") from None
    spec = parse_spec(data, resolved)
    try:
        write_atomic(cached, pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as exc:
        log.debug("could not cache the validated spec: %s", exc)
    return spec


# The modules whose classes a cached spec holds: a change to any of them invalidates it.
_SCHEMA_SOURCES = ("spec.py", "spec_schema.py", "app/model.py")


def _spec_cache_path(raw: bytes, path: Path) -> Path:
    from hardbase import __version__

    here = Path(__file__).parent
    parts = [__version__.encode(), str(path).encode(), raw]
    for name in _SCHEMA_SOURCES:
        try:
            parts.append((here / name).read_bytes())
        except OSError:
            parts.append(b"")
    key = hashlib.sha256(b"\0".join(parts))
    return cache_dir() / "specs" / f"{key.hexdigest()}.pickle"
