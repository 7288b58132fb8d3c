"""The image's trust layer: added CAs (`certs:`) and the Java keystore.

ca-certificates-java's postinst makes `/etc/ssl/certs/java/cacerts`, and no
maintainer script runs in a hardbase build, so the keystore is generated here
from the CA certificates of the image's `ca-certificates` package, plus the
spec's `certs:`. The layer is built only when the image has a JRE
(ca-certificates-java is locked) or the spec adds certificates, and it is
cached by the package, the certificates and the epoch, so its bytes are the
same for the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from hardbase.build.layers import BuiltLayer, LayerCache, layer_key, recorded_tar
from hardbase.build.lock import LockedPackage
from hardbase.build.spec import ImageSpec
from hardbase.build.tree import REG, Entry
from hardbase.certs import pkcs12
from hardbase.certs.trust import (
    BUNDLE,
    JAVA_KEYSTORE,
    OWNER,
    alias,
    keystore_entries,
    local_entries,
    merged_bundle,
)
from hardbase.certs.x509 import Cert, load_cert_files
from hardbase.errors import SpecError
from hardbase.util.progress import Progress

TRUST_FORMAT = 1
CA_PACKAGE = "ca-certificates"
JAVA_PACKAGE = "ca-certificates-java"


def spec_certs(spec: ImageSpec) -> list[Cert]:
    """The certificates the spec's `certs:` names, read relative to the spec."""
    base = spec.path.parent.resolve()
    paths = []
    for item in spec.model.certs:
        path = (base / item).resolve()
        if not path.is_relative_to(base):
            raise SpecError(
                f"{spec.path}: certs entry '{item}' is outside the spec's directory; "
                "copy it next to the spec"
            )
        paths.append(path)
    return load_cert_files(paths)


def trust_layer(
    spec: ImageSpec,
    packages: Sequence[LockedPackage],
    cache: LayerCache,
    epoch: int | None,
    progress: Progress,
) -> BuiltLayer | None:
    """The trust layer for an image of `packages`, or None when it needs none."""
    extra = spec_certs(spec)
    java = any(p.name == JAVA_PACKAGE for p in packages)
    if not extra and not java:
        return None
    ca = [p for p in packages if p.name == CA_PACKAGE]
    key = layer_key(
        "trust",
        {
            "v": TRUST_FORMAT,
            "ca": [[p.name, p.sha256] for p in ca],
            "certs": [[c.name, c.sha256] for c in extra],
            "java": java,
            "epoch": epoch,
        },
    )
    hit = cache.get(key)
    if hit is not None:
        return hit
    debian, bundle, mtime = _debian_cas(ca, spec, progress)
    if epoch is not None:
        mtime = min(mtime, epoch)
    entries: list[Entry] = []
    if extra:
        local, extra = local_entries(extra, (), mtime)
        entries += local
        entries.append(
            Entry(BUNDLE, REG, 0o644, mtime=mtime, data=merged_bundle(bundle, extra), owner=OWNER)
        )
    if java:
        store = keystore_entries([(alias(c), c.der) for c in debian], extra)
        entries.append(
            Entry(JAVA_KEYSTORE, REG, 0o644, mtime=mtime, data=pkcs12.write(store), owner=OWNER)
        )
    tar, files, listing = recorded_tar(entries, epoch)
    return cache.put(key, tar, files, listing)


def _debian_cas(
    ca: list[LockedPackage], spec: ImageSpec, progress: Progress
) -> tuple[list[Cert], bytes, int]:
    """The CAs ca-certificates ships (by path), their bundle as assembly makes it, newest mtime."""
    from hardbase.build.assemble import read_package
    from hardbase.build.fetch import fetch_packages
    from hardbase.build.prune import Pruner
    from hardbase.certs.x509 import pem_blocks

    if not ca:
        return [], b"", 0
    paths = fetch_packages(ca, snapshot=spec.model.snapshot, progress=progress)
    certs: list[Cert] = []
    bundle = b""
    newest = 0
    for pkg in ca:
        contents = read_package(Path(paths[pkg.sha256]), pkg.name, Pruner(spec.model.prune))
        newest = max(newest, contents.newest)
        for entry in sorted(contents.certs, key=lambda e: e.path):
            name = PurePosixPath(entry.path).stem
            pem = entry.content()
            certs += [Cert(der, name) for der in pem_blocks(pem)]
            bundle += pem if pem.endswith(b"\n") else pem + b"\n"
    return certs, bundle, newest
