"""The build: lock → fetch → assemble → layers → OCI image at the output.

Output appears atomically: the image is staged beside the output and moved
into place only when complete, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from hardbase.build import OutputFormat
from hardbase.build.assemble import (
    PackageContents,
    check_conflicts,
    generated_entries,
    read_package,
)
from hardbase.build.fetch import fetch_packages
from hardbase.build.files import files_entries
from hardbase.build.image import NamedLayer, created_time, write_index, write_manifest
from hardbase.build.layers import (
    BuiltLayer,
    LayerCache,
    layer_key,
    recorded_tar,
)
from hardbase.build.lock import (
    Lock,
    LockedPackage,
    check_current,
    read_lock,
    resolve_lock,
    write_lock,
)
from hardbase.build.prune import Pruner
from hardbase.build.skeleton import SKELETON_VERSION, skeleton_entries
from hardbase.build.spec import ImageSpec
from hardbase.build.tree import Entry
from hardbase.build.trust import trust_layer
from hardbase.errors import UsageError
from hardbase.oci.layout import Descriptor, Layout
from hardbase.util.clock import source_date_epoch
from hardbase.util.digest import Digest
from hardbase.util.progress import NullProgress, Progress

log = logging.getLogger(__name__)

FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
WORKERS = max(2, os.cpu_count() or 2)


@dataclass
class BuildResult:
    index_digest: str  # "" until the index is written, then a Digest
    output: Path
    format: OutputFormat
    tag: str
    lock_path: Path
    manifests: dict[str, Digest] = field(default_factory=dict)  # arch -> manifest digest
    layers: dict[str, list[NamedLayer]] = field(default_factory=dict)
    packages: dict[str, int] = field(default_factory=dict)
    relocked: bool = False
    created: str = ""
    lock: Lock | None = None
    sbom_stem: str = ""  # the SBOMs' file names (default: the output's name)
    layer_cache: LayerCache | None = None  # where the layers' listings are (build/listing.py)

    @property
    def reference(self) -> str:
        if self.format == "docker-archive":
            return f"docker-archive:{self.output}"
        return f"{self.format}:{self.output}:{self.tag}"

    def compressed_size(self, arch: str) -> int:
        return sum(n.layer.size for n in self.layers[arch])


def obtain_lock(spec: ImageSpec, *, relock: bool, progress: Progress) -> tuple[Lock, bool]:
    """The spec's lock: read it, or resolve and write it when absent or asked."""
    path = spec.lock_path
    if not relock and path.exists():
        lock = read_lock(path)
        check_current(lock, spec, path)
        return lock, False
    lock = resolve_lock(spec, progress)
    write_lock(lock, path)
    return lock, True


def build(
    spec: ImageSpec,
    output: Path,
    *,
    fmt: OutputFormat = "oci",
    tag: str = "latest",
    relock: bool = False,
    progress: Progress | None = None,
    cache: LayerCache | None = None,
) -> BuildResult:
    if fmt not in FORMATS:  # a caller that is not type-checked
        raise UsageError(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    if fmt == "docker-archive" and len(spec.archs) > 1:
        raise UsageError("docker-archive holds one architecture; use --format oci for several")
    progress = progress or NullProgress()
    lock, relocked = obtain_lock(spec, relock=relock, progress=progress)
    cache = cache or LayerCache()
    epoch = source_date_epoch()
    created = created_time([r.date for r in lock.releases], epoch)
    result = BuildResult(
        "",
        output,
        fmt,
        tag,
        spec.lock_path,
        relocked=relocked,
        created=created,
        lock=lock,
        layer_cache=cache,
    )
    for arch in spec.archs:
        if arch not in lock.packages:
            raise UsageError(f"{spec.lock_path} has no {arch} packages; relock with --relock")
        result.layers[arch] = _arch_layers(spec, lock, arch, cache, epoch, progress)
        result.packages[arch] = len(lock.packages[arch])
    annotations = _annotations(spec, lock, created)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    try:
        layout = Layout.create(staging / "layout")
        manifests: list[Descriptor] = []
        for arch in spec.archs:
            desc = write_manifest(layout, spec, arch, result.layers[arch], created, annotations)
            result.manifests[arch] = desc.digest
            manifests.append(desc)
        index = write_index(layout, manifests, annotations)
        layout.set_entry(index, tag)
        result.index_digest = index.digest
        _finish_output(layout, staging, output, fmt, spec, tag)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _arch_layers(
    spec: ImageSpec,
    lock: Lock,
    arch: str,
    cache: LayerCache,
    epoch: int | None,
    progress: Progress,
) -> list[NamedLayer]:
    pruner = Pruner(spec.model.prune)
    prune_doc = dataclasses.asdict(spec.model.prune)
    tiers = lock.tiers(arch)
    keys = [
        layer_key(
            "tier",
            {
                "arch": arch,
                "tier": name,
                "epoch": epoch,
                "prune": prune_doc,
                "rules": pruner.fingerprint,
                "packages": [[p.name, p.sha256] for p in pkgs],
            },
        )
        for name, pkgs in tiers
    ]
    layers: list[NamedLayer | None] = [
        NamedLayer(name, hit, len(pkgs)) if (hit := cache.get(key)) else None
        for (name, pkgs), key in zip(tiers, keys, strict=True)
    ]
    missing = [i for i, layer in enumerate(layers) if layer is None]
    if missing:
        built = _build_tiers(
            tiers,
            [keys[i] for i in missing],
            missing,
            cache,
            pruner,
            spec.model.snapshot,
            epoch,
            progress,
        )
        for i in missing:
            layers[i] = NamedLayer(tiers[i][0], built[i], len(tiers[i][1]))
    mtime = epoch or 0
    skeleton_key = layer_key("skeleton", {"arch": arch, "v": SKELETON_VERSION, "epoch": epoch})
    skeleton = cache.get(skeleton_key)
    if skeleton is None:
        tar, files, listing = recorded_tar(skeleton_entries(arch, mtime), epoch)
        skeleton = cache.put(skeleton_key, tar, files, listing)
    out = [NamedLayer("skeleton", skeleton, 0)] + [x for x in layers if x is not None]
    trust = trust_layer(spec, lock.packages[arch], cache, epoch, progress)
    if trust is not None:  # the Java keystore and the spec's `certs:`
        out.append(NamedLayer("trust", trust, 0))
    if spec.model.app is not None:  # app section: the app's dependencies and files
        from hardbase.build.app.builder import app_layers

        out += app_layers(spec, lock, arch, cache, epoch, progress)
    if spec.model.files:
        tar, files, listing = recorded_tar(files_entries(spec, mtime), epoch)
        files_layer = cache.put(layer_key("files", {"sha": _sha(tar)}), tar, files, listing)
        out.append(NamedLayer("files", files_layer, 0))
    return out


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _build_tiers(
    tiers: list[tuple[str, list[LockedPackage]]],
    keys: list[str],
    wanted: list[int],
    cache: LayerCache,
    pruner: Pruner,
    snapshot: str | None,
    epoch: int | None,
    progress: Progress,
) -> dict[int, BuiltLayer]:
    """Read every package (conflicts are checked across all tiers), build the wanted tiers.

    Packages are read largest first so both cores stay busy (xz decompression
    dominates), and a tier's layer is built as soon as its packages are read.
    """
    every = [p for _, pkgs in tiers for p in pkgs]
    paths = fetch_packages(every, snapshot=snapshot, progress=progress)
    progress.start("unpacking packages and building layers", len(every) + len(wanted))
    with ThreadPoolExecutor(WORKERS) as pool:
        reads = {
            p.sha256: pool.submit(read_package, paths[p.sha256], p.name, pruner)
            for p in sorted(every, key=lambda p: p.size, reverse=True)
        }
        contents: list[list[PackageContents]] = []
        builds = {}
        for i, (_, pkgs) in enumerate(tiers):
            group = []
            for p in pkgs:
                group.append(reads[p.sha256].result())
                progress.advance()
            contents.append(group)
            if i in wanted:
                key = keys[wanted.index(i)]
                builds[i] = pool.submit(_build_tier, cache, key, group, epoch)
        check_conflicts(contents)
        out = {}
        for i, future in builds.items():
            out[i] = future.result()
            progress.advance()
    progress.finish()
    return out


def _build_tier(
    cache: LayerCache, key: str, contents: list[PackageContents], epoch: int | None
) -> BuiltLayer:
    newest = max((c.newest for c in contents), default=0)
    if epoch is not None:
        newest = min(newest, epoch)
    entries: dict[str, Entry] = {}
    for pkg in contents:
        for entry in pkg.entries:
            entries[entry.path] = entry
    for entry in generated_entries(contents, newest):
        entries[entry.path] = entry
    return cache.write(key, list(entries.values()), epoch)


def _annotations(spec: ImageSpec, lock: Lock, created: str) -> dict[str, str]:
    from hardbase import __version__

    sources = "; ".join(
        f"{' '.join(s.uris)} {' '.join(s.suites)} {' '.join(s.components)}" for s in spec.sources
    )
    base = {
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.title": spec.name,
        "org.opencontainers.image.vendor": "hardbase",
        "org.opencontainers.image.description": (
            f"{spec.name}: {spec.model.extends or 'custom'} on Debian {spec.release}"
        ),
        "dev.hardbase.version": __version__,
        "dev.hardbase.release": spec.release,
        "dev.hardbase.sources": sources,
        "dev.hardbase.lock.spec-sha256": lock.spec_hash,
    }
    base.update(spec.model.annotations)
    return base


def _finish_output(
    layout: Layout, staging: Path, output: Path, fmt: OutputFormat, spec: ImageSpec, tag: str
) -> None:
    from hardbase.oci.write import write_docker_archive, write_oci_archive

    if fmt == "oci":
        final = layout.root
    elif fmt == "oci-archive":
        final = staging / "image.tar"
        write_oci_archive(layout.root, final)
    else:
        final = staging / "image.tar"
        write_docker_archive(layout, final, f"{spec.name}:{tag}")
    replace_output(final, output)


def replace_output(src: Path, dest: Path) -> None:
    """Move `src` to `dest`, replacing what was there only once `src` is complete."""
    if dest.is_dir() and not dest.is_symlink():
        if not (dest / "oci-layout").exists() and any(dest.iterdir()):
            raise UsageError(f"{dest} exists and is not an OCI layout; choose another --output")
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        os.replace(src, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dest)
