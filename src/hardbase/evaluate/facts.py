"""The measured facts of one image, read in one streaming pass over its layers.

`collect_facts()` is what both `policy check` and `compare` build on: the
manifest and config, the final file listing (never unpacked), the package
inventory (with the Go, Java and Rust packages that scan's binary inspector
finds in executables and archives, as `scan` counts them), licences from
copyright files, and the first changelog entry of packages that came from a
stable or security update. Vulnerability findings
are added by `hardbase.evaluate.measure` when a database is at hand.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from hardbase.errors import ImageError, UsageError
from hardbase.oci import mediatypes as mt
from hardbase.oci.filetree import FileTreeResult, walk_dir, walk_layers
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.transports.interface import ResolvedImage
from hardbase.oci.transports.open import open_source
from hardbase.vuln.inventory import BinaryInspector, inventory_from_tree, parse_control, wants
from hardbase.vuln.model import Inventory

log = logging.getLogger(__name__)

COPYRIGHT = re.compile(r"^usr/share/doc/([^/]+)/copyright$")
CHANGELOG = re.compile(r"^usr/share/doc/([^/]+)/changelog\.Debian\.gz$")
# a version from a stable point release or a security upload: 1.2-3+deb13u1, 1.2-3~deb12u2
STABLE_UPDATE = re.compile(r"[+~]deb\d+u\d+")
EXTRA_FILES = ("etc/passwd", "etc/group")

PACKAGE_MANAGERS = (
    "usr/bin/dpkg",
    "usr/bin/apt",
    "usr/bin/apt-get",
    "sbin/apk",
    "usr/bin/yum",
    "usr/bin/dnf",
    "usr/bin/microdnf",
    "usr/bin/rpm",
    "usr/bin/pip",
    "usr/bin/pip3",
    "usr/bin/npm",
)
COMPILERS = (
    "usr/bin/gcc",
    "usr/bin/cc",
    "usr/bin/c++",
    "usr/bin/g++",
    "usr/bin/clang",
    "usr/bin/tcc",
)
_VERSIONED_COMPILER = re.compile(r"^usr/bin/(?:[\w-]+-linux-gnu-)?(?:gcc|g\+\+|clang)-\d+$")
CA_BUNDLES = (
    "etc/ssl/certs/ca-certificates.crt",
    "etc/pki/tls/certs/ca-bundle.crt",
    "etc/ssl/cert.pem",
)
RUNTIMES = {
    "python": ("usr/bin/python3", "usr/local/bin/python3"),
    "node": ("usr/bin/node", "usr/bin/nodejs", "usr/local/bin/node"),
    "java": ("usr/bin/java",),
    "perl": ("usr/bin/perl",),
    "ruby": ("usr/bin/ruby",),
    "go": ("usr/bin/go", "usr/local/go/bin/go"),
}
# packages whose installed version names the runtime's version
RUNTIME_PACKAGES = {
    "python": re.compile(r"^python3\.\d+-minimal$|^python3\.\d+$"),
    "node": re.compile(r"^nodejs$"),
    "java": re.compile(r"^openjdk-\d+-jre-headless$"),
    "perl": re.compile(r"^perl-base$"),
    "ruby": re.compile(r"^ruby\d+\.\d+$"),
    "go": re.compile(r"^golang-\d+\.\d+-go$"),
}
ROOT_USERS = ("", "root", "0")
MAX_CHANGELOG_HEAD = 64 << 10


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Update:
    """A package installed from a stable or security update, with its changelog date."""

    package: str
    version: str
    date: str  # ISO date of the changelog entry, "" when the image has no changelog


@dataclass(frozen=True)
class ImageFacts:
    """Everything measured about one image (one platform) without running it."""

    reference: str
    transport: str
    digest: str  # manifest digest ("" for dir:)
    index_digest: str
    platforms: tuple[Platform, ...]
    architecture: str
    manifest_media_type: str
    config_media_type: str
    layer_media_types: tuple[str, ...]
    layer_sizes: tuple[int, ...]  # compressed, from the manifest's descriptors
    uncompressed_size: int  # bytes of regular files in the final filesystem
    file_count: int
    config: Mapping[str, Any]
    annotations: Mapping[str, str]
    inventory: Inventory
    tree: FileTreeResult
    licenses: Mapping[str, tuple[str, ...]]  # package name -> SPDX expressions
    updates: tuple[Update, ...]
    users: Mapping[str, int]  # etc/passwd: name -> uid
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # -- minimality -------------------------------------------------------------------

    @property
    def compressed_size(self) -> int:
        return sum(self.layer_sizes)

    @property
    def layer_count(self) -> int:
        return len(self.layer_sizes)

    def packages_of(self, kind: str) -> list[str]:
        return sorted({p.name for p in self.inventory.packages if p.type == kind})

    def shells(self) -> list[str]:
        return self.tree.shells()

    def package_managers(self) -> list[str]:
        return self._present(PACKAGE_MANAGERS)

    def compilers(self) -> list[str]:
        found = set(self._present(COMPILERS))
        found.update(
            p for p in self.tree.files if _VERSIONED_COMPILER.match(p) and self._is_file(p)
        )
        return sorted(found)

    def setuid_files(self) -> list[str]:
        return self.tree.setuid_files()

    def world_writable(self, allowed: tuple[str, ...] = ("tmp",)) -> list[str]:
        """World-writable paths outside `allowed` directories (relative, no leading /)."""
        keep = tuple(a.strip("/") for a in allowed)
        return [
            p
            for p in self.tree.world_writable()
            if not any(p == a or p.startswith(f"{a}/") for a in keep)
        ]

    # -- identity -------------------------------------------------------------------------

    @property
    def user(self) -> str:
        """The default user as the config gives it ("" means root)."""
        cfg = self.config.get("config")
        value = cfg.get("User", "") if isinstance(cfg, dict) else ""
        return str(value or "")

    @property
    def uid(self) -> int | None:
        """The default user's uid (None when a name is not in etc/passwd)."""
        name = self.user.split(":", 1)[0]
        if name in ROOT_USERS:
            return 0
        if name.isdigit():
            return int(name)
        return self.users.get(name)

    @property
    def runs_as_root(self) -> bool:
        return self.uid == 0

    # -- ecosystem ------------------------------------------------------------------------

    def ca_bundle(self) -> str:
        found = self._present(CA_BUNDLES)
        return found[0] if found else ""

    def has_tzdata(self) -> bool:
        return self.tree.resolve("usr/share/zoneinfo/UTC") is not None

    def libc(self) -> str:
        """`glibc VERSION`, `musl`, or "" for an image without a C library."""
        for pkg in self.inventory.packages:
            if pkg.type == "deb" and pkg.name == "libc6":
                return f"glibc {pkg.version}"
        if any(re.match(r"^lib/ld-musl-", p) for p in self.tree.files):
            return "musl"
        if any(re.search(r"(^|/)libc\.so\.6$", p) for p in self.tree.files):
            return "glibc"
        return ""

    def runtimes(self) -> dict[str, str]:
        """Language runtimes found: name -> version (from its package) or 'present'."""
        out: dict[str, str] = {}
        for name, paths in RUNTIMES.items():
            if not self._present(paths):
                continue
            pattern = RUNTIME_PACKAGES[name]
            versions = [
                p.version
                for p in self.inventory.packages
                if p.type == "deb" and pattern.match(p.name)
            ]
            out[name] = versions[0] if versions else "present"
        return out

    # -- helpers --------------------------------------------------------------------------

    def _is_file(self, path: str) -> bool:
        target = self.tree.resolve(path)
        return target is not None and self.tree.files[target].kind in ("file", "hardlink")

    def _present(self, paths: tuple[str, ...]) -> list[str]:
        return [p for p in paths if self._is_file(p)]


def _wanted(path: str) -> bool:
    return (
        wants(path)
        or path in EXTRA_FILES
        or bool(COPYRIGHT.match(path))
        or bool(CHANGELOG.match(path))
    )


def collect_facts(
    ref: str | ImageRef, *, insecure: bool = False, arch: str | None = None
) -> ImageFacts:
    """Read one image (default platform amd64, or the first) and measure it."""
    if isinstance(ref, str):
        ref = parse_reference(ref)
    if ref.transport == "dir":
        if ref.path is None:
            raise UsageError(f"'{ref}' names no directory")
        tree = walk_dir(ref.path, _wanted, inspector=BinaryInspector())
        return _facts(ref, None, [], tree)
    with open_source(ref, insecure=insecure) as source:
        images = source.resolve_all()
        image = _pick(images, arch, ref)
        tree = walk_layers(source, image, _wanted, inspector=BinaryInspector())
        top = source.top()
    facts = _facts(ref, image, images, tree)
    facts.extra["top_media_type"] = top.media_type
    return facts


def _pick(images: list[ResolvedImage], arch: str | None, ref: ImageRef) -> ResolvedImage:
    if arch:
        for image in images:
            if image.config.get("architecture") == arch:
                return image
        raise ImageError(f"{ref} has no {arch} image")
    for image in images:
        if image.config.get("architecture") == "amd64":
            return image
    return images[0]


def _facts(
    ref: ImageRef,
    image: ResolvedImage | None,
    images: list[ResolvedImage],
    tree: FileTreeResult,
) -> ImageFacts:
    warnings: list[str] = []
    if tree.skipped:
        warnings.append(f"{len(tree.skipped)} layer members were skipped as unsafe")
    config: dict[str, Any] = image.config if image else {}
    inv = inventory_from_tree(
        tree,
        reference=str(ref),
        digest=image.manifest.digest if image else "",
        architecture=str(config.get("architecture", "")),
    )
    annotations: dict[str, str] = {}
    if image is not None:
        raw = image.manifest_json.get("annotations")
        if isinstance(raw, dict):
            annotations = {str(k): str(v) for k, v in raw.items()}
    platforms = tuple(
        Platform(
            str(i.config.get("os", "")),
            str(i.config.get("architecture", "")),
            str(i.config.get("variant", "") or ""),
        )
        for i in images
    )
    return ImageFacts(
        reference=str(ref),
        transport=ref.transport,
        digest=image.manifest.digest if image else "",
        index_digest=(image.index_digest or "") if image else "",
        platforms=platforms,
        architecture=inv.architecture,
        manifest_media_type=image.manifest.media_type if image else "",
        config_media_type=(
            str(image.manifest_json.get("config", {}).get("mediaType", "")) if image else ""
        ),
        layer_media_types=tuple(d.media_type for d in image.layers) if image else (),
        layer_sizes=tuple(d.size for d in image.layers) if image else (),
        uncompressed_size=sum(f.size for f in tree.files.values() if f.kind == "file"),
        file_count=tree.file_count,
        config=config,
        annotations=annotations,
        inventory=inv,
        tree=tree,
        licenses=_licenses(tree, inv),
        updates=_updates(tree, inv),
        users=_passwd(tree),
        warnings=tuple(warnings),
    )


def _licenses(tree: FileTreeResult, inv: Inventory) -> dict[str, tuple[str, ...]]:
    from hardbase.sbom.licenses import normalize_declared, parse_copyright

    out: dict[str, tuple[str, ...]] = {}
    for pkg in inv.packages:
        if pkg.type == "deb":
            data = tree.read(f"usr/share/doc/{pkg.name}/copyright")
            if data is None:
                continue
            found = parse_copyright(data).licenses
        else:
            found = normalize_declared(pkg.licenses) if pkg.licenses else ()
        if found:
            out[pkg.name if pkg.type == "deb" else f"{pkg.type}:{pkg.name}"] = tuple(found)
    return out


def _updates(tree: FileTreeResult, inv: Inventory) -> tuple[Update, ...]:
    out: dict[str, Update] = {}
    for pkg in inv.packages:
        if pkg.type != "deb" or not STABLE_UPDATE.search(pkg.version):
            continue
        date = _changelog_date(tree, pkg.name)
        previous = out.get(pkg.source_name or pkg.name)
        if previous is None or (date and date > previous.date):
            out[pkg.source_name or pkg.name] = Update(pkg.name, pkg.version, date)
    return tuple(sorted(out.values(), key=lambda u: (u.date, u.package), reverse=True))


def _changelog_date(tree: FileTreeResult, package: str) -> str:
    data = tree.read(f"usr/share/doc/{package}/changelog.Debian.gz")
    if data is None:
        return ""
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, MAX_CHANGELOG_HEAD)
    except (zlib.error, gzip.BadGzipFile):
        return ""
    for line in head.decode("utf-8", "replace").splitlines():
        if line.startswith(" -- ") and "  " in line[4:]:
            try:
                when = parsedate_to_datetime(line[4:].split("  ", 1)[1].strip())
            except (TypeError, ValueError):
                return ""
            return when.astimezone(UTC).date().isoformat()
    return ""


def _passwd(tree: FileTreeResult) -> dict[str, int]:
    data = tree.read("etc/passwd")
    users: dict[str, int] = {}
    if data is None:
        return users
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            users.setdefault(fields[0], int(fields[2]))
    return users


def dpkg_package_count(tree: FileTreeResult) -> int:
    """Installed Debian packages as dpkg records them (status.d entries or the status file)."""
    names: set[str] = set()
    for path, content in tree.contents.items():
        if path == "var/lib/dpkg/status" or (
            path.startswith("var/lib/dpkg/status.d/") and wants(path)
        ):
            for para in parse_control(content.data.decode("utf-8", "replace")):
                status = para.get("Status", "install ok installed")
                if para.get("Package") and status.endswith(" installed"):
                    names.add(para["Package"])
    return len(names)


def now_utc() -> datetime:
    return datetime.now(UTC)


def is_oci(media_type: str) -> bool:
    return media_type.startswith("application/vnd.oci.")


def layer_types_known(types: tuple[str, ...]) -> bool:
    return all(t in mt.LAYER_TYPES for t in types)
