"""The app section's lock and layers, called from lock.py and pipeline.py.

`lock_app` pins the build root's Debian packages and the app's packages;
`check_app_current` refuses a lock made for other app inputs; `app_layers`
installs the pinned packages in a throwaway build root and returns two layers
over the image's runtime layers: `app-deps` (site-packages or node_modules)
and `app` (the app's own files). Both are cached by what they are made of.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbase.build.app.interface import (
    LOCK_KIND_NODE,
    LOCK_KIND_PYTHON,
    AppError,
    AppLock,
    AppPackage,
    ArchAppLock,
    Backend,
    app_package,
)
from hardbase.build.app.model import AppModel
from hardbase.build.app.paths import spec_relative
from hardbase.build.app.sandbox import BuildRoot
from hardbase.build.app.store import fetch
from hardbase.build.image import NamedLayer
from hardbase.build.layers import LayerCache, layer_key, recorded_tar
from hardbase.build.lock import Lock, LockedPackage
from hardbase.build.spec import ImageSpec
from hardbase.build.tree import DIR, REG, SYMLINK, Entry
from hardbase.errors import SpecError
from hardbase.util.paths import cache_dir
from hardbase.util.progress import NullProgress, Progress

if TYPE_CHECKING:
    from hardbase.debian.index import PackageIndex

log = logging.getLogger(__name__)

APP_LAYER_VERSION = 1
BUILD_TIER = "app-build"
TOOLS = {LOCK_KIND_PYTHON: "pip", LOCK_KIND_NODE: "npm"}  # what progress lines name
DEFAULT_APP_DIR = "/app"
MAX_APP_FILE = 256 << 20
_SKIP = ("__pycache__",)
_HOST_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def app_of(spec: ImageSpec) -> AppModel | None:
    app = getattr(spec.model, "app", None)
    return app if isinstance(app, AppModel) else None


def app_dir(spec: ImageSpec, app: AppModel) -> str:
    return app.workdir or spec.model.workdir or DEFAULT_APP_DIR


def backend_for(spec: ImageSpec, app: AppModel) -> Backend | None:
    if app.python is not None:
        from hardbase.build.app.python import PythonBackend

        return PythonBackend(spec.path, app.python, app.context)
    if app.node is not None:
        from hardbase.build.app.node import NodeBackend

        return NodeBackend(spec.path, app.node, app.node.dir or app_dir(spec, app), app.context)
    return None


def inputs_hash(spec: ImageSpec, app: AppModel, backend: Backend | None) -> str:
    doc: dict[str, Any] = {"v": APP_LAYER_VERSION, "kind": backend.kind if backend else "files"}
    if backend is not None:
        doc.update(backend.inputs())
        doc["build"] = list(backend.build_roots())
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _host_arch() -> str:
    return _HOST_ARCH.get(platform.machine(), platform.machine())


def _check_arch(spec: ImageSpec, arch: str) -> None:
    if arch != _host_arch():
        raise AppError(
            f"{spec.path}: app dependencies are installed by running the image's own tools, "
            f"so they build only for this machine's architecture ({_host_arch()}), not {arch}"
        )


def check_app_current(spec: ImageSpec, lock: Lock, path: Path) -> None:
    """Refuse a lock whose app section is missing or was made for other app inputs."""
    app = app_of(spec)
    if app is None:
        return
    _check_files(spec, app)
    backend = backend_for(spec, app)
    current = getattr(lock, "app", None)
    if backend is None:
        return
    if not isinstance(current, AppLock) or current.inputs != inputs_hash(spec, app, backend):
        raise SpecError(
            f"{path} was made for other app dependencies than {spec.path.name} names "
            "(requirements or lockfile changed); run `hardbase lock` or `hardbase build --relock`"
        )


def lock_app(
    spec: ImageSpec, lock: Lock, index: PackageIndex, progress: Progress | None = None
) -> AppLock | None:
    """Pin the build root's Debian packages and the app's packages, per architecture."""
    from hardbase.debian.resolver import resolve

    app = app_of(spec)
    if app is None:
        return None
    _check_files(spec, app)
    backend = backend_for(spec, app)
    if backend is None:
        return None
    archs: dict[str, ArchAppLock] = {}
    steps = progress or NullProgress()
    for arch in spec.archs:
        _check_arch(spec, arch)
        image = lock.packages[arch]
        chosen = {}
        for locked in image:
            match = [c for c in index.candidates(locked.name, arch) if c.version == locked.version]
            if match:
                chosen[locked.name] = match[0]
        result = resolve(index, backend.build_roots(), arch, preselected=chosen)
        build = tuple(
            LockedPackage(
                p.name, p.version, p.arch, p.source, p.source_version, p.url, p.sha256,
                p.size, BUILD_TIER, p.suite,
            )
            for p in result.packages
        )  # fmt: skip
        tool = TOOLS.get(backend.kind, backend.kind)
        steps.start(f"pinning the {tool} packages for {arch}", 0)
        if backend.lock_needs_root:
            with _build_root(list(image) + list(build), arch, steps) as root:
                packages = backend.lock(root, arch)
        else:
            packages = backend.lock(None, arch)
        steps.finish()
        where = f"the {backend.kind} packages pinned for {spec.path.name} ({arch})"
        steps.start(f"checking {len(packages)} pinned {tool} packages for {arch}", len(packages))
        checked = []
        for pkg in packages:
            checked.append(_with_size(app_package(backend.kind, asdict(pkg), where)))
            steps.advance()
        steps.finish()
        packages = checked
        log.info("locked %d %s packages for %s", len(packages), backend.kind, arch)
        archs[arch] = ArchAppLock(build, tuple(packages))
    return AppLock(backend.kind, inputs_hash(spec, app, backend), archs)


def _with_size(pkg: AppPackage) -> AppPackage:
    path = fetch(pkg)  # verifies the pinned sha256 and caches the file
    return dataclasses.replace(pkg, size=path.stat().st_size)


@contextlib.contextmanager
def _build_root(
    packages: list[LockedPackage], arch: str, progress: Progress | None
) -> Iterator[BuildRoot]:
    """A build root in a temp directory that is removed whatever happens."""
    base = cache_dir() / "build-roots"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix="root-"))
    try:
        yield BuildRoot.assemble(tmp / "bundle", packages, arch, progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def app_layers(
    spec: ImageSpec,
    lock: Lock,
    arch: str,
    cache: LayerCache,
    epoch: int | None,
    progress: Progress | None = None,
) -> list[NamedLayer]:
    """The `app-deps` and `app` layers for `arch` (empty when the spec has no app)."""
    app = app_of(spec)
    if app is None:
        return []
    progress = progress or NullProgress()
    mtime = _mtime(lock, epoch)
    out: list[NamedLayer] = []
    section = getattr(lock, "app", None)
    if isinstance(section, AppLock) and arch in section.archs:
        body = section.archs[arch]
        key = layer_key(
            "app-deps",
            {
                "v": APP_LAYER_VERSION,
                "arch": arch,
                "kind": section.kind,
                "inputs": section.inputs,
                "image": [p.sha256 for p in lock.packages[arch]],
                "build": [p.sha256 for p in body.build],
                "packages": [[p.path, p.sha256] for p in body.packages],
                "mtime": mtime,
                "epoch": epoch,
            },
        )
        layer = cache.get(key)
        if layer is None:
            backend = backend_for(spec, app)
            if backend is None or backend.kind != section.kind:
                raise SpecError(f"{spec.lock_path}: its app section does not fit the spec; relock")
            _check_arch(spec, arch)
            files = {p.sha256: fetch(p) for p in body.packages}
            packages = list(lock.packages[arch]) + list(body.build)
            tool = TOOLS.get(section.kind, section.kind)
            progress.start(f"installing {len(body.packages)} {tool} packages for {arch}", 0)
            with _build_root(packages, arch, progress) as root:
                tree = backend.install(root, list(body.packages), files)
                entries = tree_entries(tree, mtime)
                tar, count, listing = recorded_tar(entries, epoch)
            progress.finish()
            layer = cache.put(key, tar, count, listing)
        out.append(NamedLayer("app-deps", layer, len(body.packages)))
    if app.files:
        entries = app_file_entries(spec, app, mtime)
        tar, count, listing = recorded_tar(entries, epoch)
        digest = hashlib.sha256(tar).hexdigest()
        layer = cache.put(layer_key("app", {"sha": digest}), tar, count, listing)
        out.append(NamedLayer("app", layer, 0))
    return out


def _mtime(lock: Lock, epoch: int | None) -> int:
    if epoch is not None:
        return epoch
    dates = [parsedate_to_datetime(r.date) for r in lock.releases if r.date]
    return int(max(dates).timestamp()) if dates else 0


def tree_entries(
    tree: Path, mtime: int, dest: str = "", uid: int = 0, gid: int = 0, mode: int | None = None
) -> list[Entry]:
    """Entries for everything under `tree` (placed at `dest`), owned uid:gid, fixed mtime."""
    out: list[Entry] = []
    prefix = dest.strip("/")
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP)
        rel_dir = Path(dirpath).relative_to(tree)
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(dirpath) / name
            rel = "/".join(p for p in (prefix, str(rel_dir), name) if p and p != ".")
            if name.endswith((".pyc", ".pyo")):
                continue
            if full.is_symlink():
                out.append(Entry(rel, SYMLINK, 0o777, uid, gid, mtime, target=os.readlink(full)))
            elif full.is_dir():
                out.append(Entry(rel, DIR, 0o755, uid, gid, mtime))
            elif full.is_file():
                if full.stat().st_size > MAX_APP_FILE:
                    raise AppError(f"{full} is larger than {MAX_APP_FILE >> 20} MB")
                bits = (
                    mode if mode is not None else (0o755 if full.stat().st_mode & 0o111 else 0o644)
                )
                out.append(Entry(rel, REG, bits, uid, gid, mtime, data=full.read_bytes()))
            else:
                raise AppError(f"{full} is not a file, directory or link")
    return out


def _check_files(spec: ImageSpec, app: AppModel) -> None:
    for item in app.files:
        spec_relative(spec.path, item.src, "files src", app.context)


def app_file_entries(spec: ImageSpec, app: AppModel, mtime: int) -> list[Entry]:
    """The app's own files and directories, copied from beside the spec."""
    out: list[Entry] = []
    for item in app.files:
        src = spec_relative(spec.path, item.src, "files src", app.context)
        uid, gid = (int(x) for x in item.owner.split(":"))
        mode = int(item.mode, 8) if isinstance(item.mode, str) else item.mode
        dst = item.dst.strip("/")
        if src.is_dir():
            out.append(Entry(dst, DIR, 0o755, uid, gid, mtime))
            for entry in tree_entries(src, mtime, dst, uid, gid, mode):
                if entry.kind == SYMLINK and not _inside(src, entry.target, entry.path, dst):
                    raise AppError(f"{spec.path}: app file {entry.path} links outside the app")
                out.append(entry)
        elif src.is_file():
            bits = mode if mode is not None else (0o755 if src.stat().st_mode & 0o111 else 0o644)
            out.append(Entry(dst, REG, bits, uid, gid, mtime, data=src.read_bytes()))
        else:
            raise AppError(f"{spec.path}: app files src '{item.src}' is not a file or directory")
    return out


def _inside(src: Path, target: str, path: str, dst: str) -> bool:
    # a link in the app may point anywhere in the image, but not out of the source tree on copy
    if target.startswith("/"):
        return True
    resolved = (src / Path(path).relative_to(dst).parent / target).resolve()
    return resolved.is_relative_to(src.resolve())
