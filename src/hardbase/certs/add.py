"""`hardbase certs add`: PEM CAs added to any existing image as one new layer, as incert does.

For each platform of the image, the final filesystem is read once (never
unpacked) and one layer is written with:

- the Debian bundle `/etc/ssl/certs/ca-certificates.crt` (followed if it is a
  link; created when the image has none) with the new CAs appended;
- each CA as a local CA: `/usr/local/share/ca-certificates/NAME.crt`, the
  `/etc/ssl/certs/NAME.pem` and `HASH.N` links, as `update-ca-certificates`
  makes them;
- OpenSSL's default paths `/usr/lib/ssl/certs` and `/usr/lib/ssl/cert.pem`
  linked to those, as Debian's `openssl` package links them, when the image
  lacks them (a `debian:*-slim` image without `openssl` has neither, and
  Python's `ssl` would then find no CA at all);
- every Java keystore in the image (a regular file named `cacerts`: Debian's
  `/etc/ssl/certs/java/cacerts`, a JDK's `lib/security/cacerts`), rewritten in
  its own format (PKCS#12 or JKS) with the new CAs as trusted entries.

Every input is read and checked (certificates, keystore passwords) before
anything is written; the destination gets the finished image or nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from hardbase.build.tree import REG, SYMLINK, Entry
from hardbase.certs import jks, pkcs12
from hardbase.certs.trust import (
    BUNDLE,
    CERTS_DIR,
    OWNER,
    keystore_entries,
    local_entries,
    merged_bundle,
    new_certs,
)
from hardbase.certs.x509 import Cert, pem_blocks
from hardbase.errors import ImageError, UsageError
from hardbase.oci.append import append_layers, layer_mtime, with_parents
from hardbase.oci.filetree import FileTreeResult, walk_layers
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.transports.interface import ResolvedImage
from hardbase.util.progress import NullProgress, Progress

if TYPE_CHECKING:
    from hardbase.oci.transports.oci_layout import OCILayoutSource

log = logging.getLogger(__name__)

KEYSTORE_NAME = "cacerts"
OPENSSL_LINKS = {  # Debian's openssl package: OPENSSLDIR is /usr/lib/ssl
    "usr/lib/ssl/certs": "/" + CERTS_DIR,
    "usr/lib/ssl/cert.pem": "/" + BUNDLE,
}
DESTINATIONS = ("oci", "docker")


@dataclass(frozen=True)
class PlatformChange:
    """What the new layer of one platform image holds."""

    platform: str
    bundle: str  # the bundle file written ("" when nothing changed)
    added: tuple[str, ...]  # names of the CAs new to the bundle
    keystores: tuple[str, ...] = ()  # keystore paths rewritten
    links: tuple[str, ...] = ()  # OpenSSL default-path links created
    layer: str = ""  # digest of the new layer ("" when nothing changed)


@dataclass(frozen=True)
class AddResult:
    digest: str  # of what DEST now names
    changes: list[PlatformChange] = field(default_factory=list)


def _wanted(path: str) -> bool:
    """The files whose content is kept: the bundle (wherever its link points) and keystores."""
    return (
        path.startswith("etc/ssl/")
        or path.endswith((".crt", ".pem"))
        or PurePosixPath(path).name == KEYSTORE_NAME
    )


def add_certs(
    src: str | ImageRef,
    dest: str | ImageRef,
    certs: list[Cert],
    *,
    password: str = pkcs12.PASSWORD,
    insecure: bool = False,
    progress: Progress | None = None,
) -> AddResult:
    """Write `src` with `certs` trusted to `dest` (oci:DIR[:TAG] or docker://…)."""
    src_ref = src if isinstance(src, ImageRef) else parse_reference(src)
    dest_ref = dest if isinstance(dest, ImageRef) else parse_reference(dest)
    if dest_ref.transport not in DESTINATIONS:
        raise UsageError(
            f"cannot write {dest_ref}: certs add writes oci:DIR[:TAG] or docker://HOST/REPO[:TAG]"
        )
    if not certs:
        raise UsageError("no certificate given; name one or more PEM files with --cert")
    progress = progress or NullProgress()
    changes: list[PlatformChange] = []
    names = " ".join(c.name for c in certs)

    def plan(source: OCILayoutSource, image: ResolvedImage, _tmp: Path) -> tuple[list[Entry], str]:
        progress.start(f"reading the trust store of {src_ref} ({image.platform})", 0)
        tree = walk_layers(source, image, _wanted)
        progress.finish()
        where = f"{src_ref} ({image.platform})"
        entries, change = plan_changes(tree, certs, password, layer_mtime(image), where)
        changes.append(dataclasses.replace(change, platform=image.platform))
        return entries, f"hardbase certs add {names}"

    done = append_layers(src_ref, dest_ref, plan, insecure=insecure, progress=progress)
    return AddResult(
        done.digest, [dataclasses.replace(c, layer=done.layers[c.platform]) for c in changes]
    )


def plan_changes(
    tree: FileTreeResult, certs: list[Cert], password: str, mtime: int, where: str
) -> tuple[list[Entry], PlatformChange]:
    """The layer entries that make `tree` trust `certs`, and what they change.

    No entries when every CA is already trusted everywhere.
    """
    bundle_path = _real_path(tree, BUNDLE, where)
    current = b""
    if bundle_path in tree.files:
        found = tree.read(bundle_path)
        if found is None:
            raise ImageError(f"cannot read /{bundle_path} in {where}: it is too large for a bundle")
        current = found
    extra = new_certs(certs, pem_blocks(current))
    entries: list[Entry] = []
    placed: list[Cert] = []
    if extra:
        local, placed = local_entries(extra, tree.files.keys(), mtime)
        entries += local
        entries.append(_file_like(tree, bundle_path, merged_bundle(current, placed), mtime))
    stores = []
    for path, info in tree.files.items():
        if info.kind != "file" or PurePosixPath(path).name != KEYSTORE_NAME:
            continue
        data = tree.read(path)
        if data is None:
            log.warning("%s in %s is too large to read; left as it is", path, where)
            continue
        rewritten = _keystore(data, certs, password, f"/{path} in {where}")
        if rewritten is not None and rewritten != data:
            entries.append(_file_like(tree, path, rewritten, mtime))
            stores.append("/" + path)
    links = []
    if entries:
        for path, target in OPENSSL_LINKS.items():
            if path not in tree.files and _real_path(tree, path, where) == path:
                entries.append(Entry(path, SYMLINK, 0o777, mtime=mtime, target=target, owner=OWNER))
                links.append("/" + path)
    entries = with_parents(tree, entries, mtime, where)
    change = PlatformChange(
        platform="",
        bundle="/" + bundle_path if extra else "",
        added=tuple(c.name for c in placed),
        keystores=tuple(stores),
        links=tuple(links),
    )
    return entries, change


def _keystore(data: bytes, certs: list[Cert], password: str, where: str) -> bytes | None:
    """The keystore `data` with `certs` added, in its own format; None if it is no keystore."""
    if jks.is_jks(data):
        return jks.write(keystore_entries(jks.read(data, password, where), certs), password)
    if pkcs12.is_pkcs12(data):
        current = pkcs12.read(data, password, where)
        return pkcs12.write(keystore_entries(current, certs), password)
    log.warning("%s is neither a JKS nor a PKCS#12 keystore; left as it is", where)
    return None


def _real_path(tree: FileTreeResult, path: str, where: str) -> str:
    """`path` with its links followed inside the image (itself when it does not exist yet)."""
    resolved = tree.resolve(path)
    if resolved is not None:
        return resolved
    head = path.rpartition("/")[0]
    real_head = tree.resolve(head)
    if real_head is not None and real_head != head:
        raise ImageError(
            f"/{head} in {where} is a link to /{real_head}; certs add does not write "
            "through links it did not make"
        )
    return path  # new, or a dangling link the file replaces


def _file_like(tree: FileTreeResult, path: str, data: bytes, mtime: int) -> Entry:
    """A regular file replacing `path`, with the mode and owner it had."""
    info = tree.files.get(path)
    mode, uid, gid = (info.mode, info.uid, info.gid) if info else (0o644, 0, 0)
    return Entry(path, REG, mode, uid, gid, mtime=mtime, data=data, owner=OWNER)
