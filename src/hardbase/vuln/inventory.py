"""What is installed in an image: OS release, Debian, Python, npm, Go, Maven and Rust packages.

One streaming pass over the image's layers (or a `dir:` root filesystem) keeps
only the files that declare packages, plus whatever a caller's `want_paths`
asks for (the SBOM collects copyright files in the same pass). Executables and
Java archives are inspected as they stream past (`vuln/lang`): only the
packages found in them are kept.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from packageurl import PackageURL

from hardbase.debian.control import parse_control as parse_control  # evaluate.facts reads it here
from hardbase.debian.pedigree import FIELDS as PEDIGREE_FIELDS
from hardbase.errors import UsageError
from hardbase.oci import filetree, layercache, safetar
from hardbase.oci.filetree import FileTreeResult, Inspector, walk_dir, walk_layers
from hardbase.oci.layercache import LayerCache
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.oci.safetar import DEFAULT_LIMITS, Limits
from hardbase.oci.transports.open import open_source
from hardbase.util import jsondoc
from hardbase.util.paths import cache_dir
from hardbase.vuln.model import InstalledPackage, Inventory, OSRelease

if TYPE_CHECKING:
    from hardbase.vuln.lang import golang, java, rust

log = logging.getLogger(__name__)

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"

# Also below a package: vendored distributions (py/_vendored_packages/apipkg-2.0.0.dist-info).
_PY_DIST_INFO = re.compile(r"(?:^|/)(?:site|dist)-packages/(?:[^/]+/)*[^/]+\.dist-info/METADATA$")
DPKG_INFO = "var/lib/dpkg/info/"
_PY_EGG_INFO = re.compile(r"(?:^|/)[^/]+\.egg-info(?:/PKG-INFO)?$")
_NPM = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@.][^/]*/package\.json$")


class InventoryResult(NamedTuple):
    """The inventory and the file tree it was read from (unpacks as a pair)."""

    inventory: Inventory
    tree: FileTreeResult


def wants(path: str) -> bool:
    """True for the files the inventory reads."""
    if path in OS_RELEASE or path == DPKG_STATUS:
        return True
    if path.startswith(DPKG_STATUS_D):
        rest = path[len(DPKG_STATUS_D) :]
        return "/" not in rest
    if path.startswith(DPKG_INFO):
        return path.endswith(".list") and "/" not in path[len(DPKG_INFO) :]
    if path.endswith("package.json"):
        return bool(_NPM.search(path))
    return bool(_PY_DIST_INFO.search(path) or _PY_EGG_INFO.search(path))


def inventory(
    ref: str | ImageRef,
    *,
    insecure: bool = False,
    arch: str | None = None,
    want_paths: Callable[[str], bool] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    inspector: Inspector | None = None,
    cache_as: str | None = None,
    layer_cache: bool = True,
) -> InventoryResult:
    """Read the packages installed in `ref` (one platform: `arch`, default amd64 or the first).

    Hostile layer members are skipped with a warning (see `tree.skipped`); a
    corrupt layer or a digest mismatch raises ImageError / IntegrityError.

    What is read from each layer is kept in the layer cache (`layer_cache`) when
    the walk is the default one: no `want_paths`, or `want_paths` with a
    `cache_as` name that stands for it, the default inspector and limits.
    """
    if isinstance(ref, str):
        ref = parse_reference(ref)
    extra = want_paths
    cache = None
    if layer_cache and inspector is None and limits == DEFAULT_LIMITS:
        if extra is None or cache_as:
            profile = f"inventory+{cache_as}" if extra else "inventory"
            cache = layer_cache_for(profile, extra.__module__ if extra else None)
    inspector = inspector or BinaryInspector()

    def want(path: str) -> bool:
        return wants(path) or (extra is not None and extra(path))

    if ref.transport == "dir":
        if ref.path is None:
            raise UsageError(f"'{ref}' names no directory")
        tree = walk_dir(ref.path, want, inspector=inspector)
        return InventoryResult(inventory_from_tree(tree, reference=str(ref)), tree)
    with open_source(ref, insecure=insecure) as source:
        image = source.resolve(arch)
        tree = walk_layers(source, image, want, limits=limits, inspector=inspector, cache=cache)
    found = inventory_from_tree(
        tree,
        reference=str(ref),
        digest=image.manifest.digest,
        architecture=str(image.config.get("architecture", "")),
    )
    return InventoryResult(found, tree)


def layer_cache_for(profile: str, module: str | None = None) -> LayerCache:
    """The layer cache of one inventory profile; its key covers the code that reads layers
    and inspects files (and `module`, where a caller's `want_paths` is), so a change there
    starts afresh."""
    # the inspector's parsers by name: a scan answered from the cache does not import them
    parsers = [f"hardbase.vuln.lang.{name}" for name in ("elf", "golang", "java", "rust")]
    modules: list[ModuleType | str] = [
        sys.modules[__name__],
        filetree,
        safetar,
        layercache,
        *parsers,
        jsondoc,
    ]
    if module in sys.modules:
        modules.append(sys.modules[module])
    code = layercache.fingerprint(modules)
    return LayerCache(cache_dir() / "layer-inventory", profile, code=code)


def inventory_from_tree(
    tree: FileTreeResult, *, reference: str, digest: str = "", architecture: str = ""
) -> Inventory:
    """The inventory of a file tree whose wanted contents include `wants()`'s files."""
    os_release = _os_release(tree)
    packages: list[InstalledPackage] = []
    for path in sorted(tree.contents):
        if path == DPKG_STATUS:
            packages.extend(_dpkg(tree, path, os_release, require_status=True))
        elif path.startswith(DPKG_STATUS_D) and wants(path) and not path.endswith(".md5sums"):
            packages.extend(_dpkg(tree, path, os_release, require_status=False))
        elif path.endswith("package.json") and _NPM.search(path):
            packages.extend(_npm(tree, path))
        elif _PY_DIST_INFO.search(path) or _PY_EGG_INFO.search(path):
            packages.extend(_python(tree, path))
    for path, content in sorted(tree.inspected.items()):
        packages.extend(_inspected(path, content.data, content.layer))
    packages = _without_debian_owned(tree, packages)
    unique = {(p.type, p.name, p.version, p.arch, p.path): p for p in packages}
    ordered = sorted(unique.values(), key=lambda p: (p.type, p.name, p.version, p.arch, p.path))
    if not architecture:
        architecture = next((p.arch for p in ordered if p.type == "deb" and p.arch != "all"), "")
    return Inventory(reference, digest, os_release, tuple(ordered), architecture)


def _without_debian_owned(
    tree: FileTreeResult, packages: list[InstalledPackage]
) -> list[InstalledPackage]:
    """Drop language packages found in files a Debian package installed (Python
    distributions, Go and Rust binaries, Java archives): the deb is what is matched
    (Debian fixes its own builds and versions), as Trivy does. A file is Debian's
    when it is in a package's file list: dpkg's `var/lib/dpkg/info/*.list`, or the
    `status.d/NAME.md5sums` of distroless-style images (hardbase's included). The
    path alone (/usr/lib/python3/dist-packages) is not taken as proof: a file
    placed there by hand or by pip is not Debian's."""
    if not any(p.type == "deb" for p in packages):
        return packages
    owned: set[str] = set()
    for path, content in tree.contents.items():
        if path.startswith(DPKG_INFO) and path.endswith(".list"):
            text = content.data.decode("utf-8", "replace")
            owned.update(line.strip().lstrip("/") for line in text.splitlines())
        elif path.startswith(DPKG_STATUS_D) and path.endswith(".md5sums"):
            text = content.data.decode("utf-8", "replace")
            owned.update(line.split(maxsplit=1)[-1].strip().lstrip("/")
                         for line in text.splitlines() if line.strip())  # fmt: skip
    kept = []
    for package in packages:
        if package.type in LANGUAGE_TYPES and package.path in owned:
            log.debug("%s is Debian's (%s): matched as the deb", package.name, package.path)
            continue
        kept.append(package)
    return kept


def _os_release(tree: FileTreeResult) -> OSRelease:
    for path in OS_RELEASE:
        data = tree.read(path)
        if data is None:
            continue
        fields = parse_os_release(data.decode("utf-8", "replace"))
        return OSRelease(
            id=fields.get("ID", ""),
            version_id=fields.get("VERSION_ID", ""),
            version_codename=fields.get("VERSION_CODENAME", ""),
            pretty_name=fields.get("PRETTY_NAME", ""),
        )
    return OSRelease()


def parse_os_release(text: str) -> dict[str, str]:
    """os-release's shell-style `KEY=value` lines (quotes and backslash escapes undone)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value)
        except ValueError:  # unbalanced quotes: keep the text as written
            words = [value.strip()]
        fields[key.strip()] = " ".join(words)
    return fields


def _dpkg(
    tree: FileTreeResult, path: str, os_release: OSRelease, *, require_status: bool
) -> list[InstalledPackage]:
    data = tree.contents[path].data
    layer = tree.contents[path].layer
    out = []
    for para in parse_control(data.decode("utf-8", "replace")):
        name = para.get("Package", "")
        version = para.get("Version", "")
        if not name or not version:
            continue
        status = para.get("Status")
        if (require_status or status is not None) and not _installed(status or ""):
            continue
        arch = para.get("Architecture", "")
        source_name, source_version = _source(para.get("Source", ""), name, version)
        out.append(
            InstalledPackage(
                type="deb",
                name=name,
                version=version,
                source_name=source_name,
                source_version=source_version,
                arch=arch,
                purl=deb_purl(name, version, arch, os_release),
                layer=layer,
                path=path,
                # a hardbase rebuild's pedigree (hardbase.debian.pedigree), for the SBOM
                extra={k: para[k] for k in PEDIGREE_FIELDS if k in para},
            )
        )
    return out


def _installed(status: str) -> bool:
    # "want error state": hold is installed too; anything not fully installed is skipped
    words = status.split()
    return len(words) == 3 and words[0] in ("install", "hold") and words[2] == "installed"


def _source(field: str, name: str, version: str) -> tuple[str, str]:
    """`Source: foo (1.2-3)` → ("foo", "1.2-3"); missing parts default as dpkg does."""
    match = re.match(r"^\s*([^\s(]+)\s*(?:\(\s*([^)\s]+)\s*\))?", field)
    if not match:
        return name, version
    return match.group(1), match.group(2) or version


def deb_purl(name: str, version: str, arch: str, os_release: OSRelease) -> str:
    """`pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12` (ubuntu for Ubuntu)."""
    namespace = os_release.id if os_release.id in ("debian", "ubuntu") else "debian"
    qualifiers = {}
    if arch:
        qualifiers["arch"] = arch
    if os_release.id in ("debian", "ubuntu"):
        release = os_release.version_id or os_release.version_codename
        if namespace == "debian" and os_release.version_id:
            release = os_release.version_id.split(".")[0]
        if release:
            qualifiers["distro"] = f"{namespace}-{release}"
    return PackageURL(
        type="deb", namespace=namespace, name=name, version=version, qualifiers=qualifiers
    ).to_string()


def _python(tree: FileTreeResult, path: str) -> list[InstalledPackage]:
    content = tree.contents[path]
    headers = _metadata_headers(content.data.decode("utf-8", "replace"))
    name = headers.get("Name", "").strip()
    version = headers.get("Version", "").strip()
    if not name or not version:
        log.warning("ignoring %s: no Name or Version in its metadata", path)
        return []
    from packaging.utils import canonicalize_name  # imports packaging.tags: only when needed

    normalized = canonicalize_name(name)
    licenses = (headers["License-Expression"],) if headers.get("License-Expression") else ()
    return [
        InstalledPackage(
            type="pypi",
            name=normalized,
            version=version,
            purl=PackageURL(type="pypi", name=normalized, version=version).to_string(),
            layer=content.layer,
            path=path,
            licenses=licenses,
            extra={"display_name": name},
        )
    ]


def _metadata_headers(text: str) -> dict[str, str]:
    # core metadata is RFC 822: headers end at the first blank line, then the description
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        headers.setdefault(key.strip(), value.strip())
    return headers


def _npm(tree: FileTreeResult, path: str) -> list[InstalledPackage]:
    content = tree.contents[path]
    try:
        doc = jsondoc.loads(content.data)
    except ValueError as exc:  # too deep nesting included: a hostile package.json is skipped
        log.warning("ignoring %s: not valid JSON (%s)", path, exc)
        return []
    if not isinstance(doc, dict):
        return []
    full = doc.get("name")
    version = doc.get("version")
    if not isinstance(full, str) or not isinstance(version, str) or not full or not version:
        return []  # a package.json without name and version is not an installed package
    scope, _, name = full.rpartition("/")
    if scope and not scope.startswith("@"):
        return []
    license_field = doc.get("license")
    licenses = (license_field,) if isinstance(license_field, str) and license_field else ()
    purl = PackageURL(type="npm", namespace=scope or None, name=name, version=version)
    return [
        InstalledPackage(
            type="npm",
            name=full,
            version=version,
            purl=purl.to_string(),
            layer=content.layer,
            path=path,
            licenses=licenses,
        )
    ]


# -- binaries and archives ---------------------------------------------------------------

LANGUAGE_TYPES = frozenset({"pypi", "golang", "maven", "cargo"})
_MIN_BINARY = 1024  # smaller executables are scripts and stubs, never Go or Rust programs


class BinaryInspector:
    """Finds Go and cargo-auditable Rust binaries among executables, and Java archives.

    What it keeps per file is a small JSON list of packages; a file whose package
    data is corrupt is reported with one warning and left out, and the walk goes on.
    """

    def wants(self, path: str, mode: int, size: int) -> bool:
        from hardbase.vuln.lang import java  # imported on the first file a walk reads

        if java.is_archive(path):
            return True
        return bool(mode & 0o111) and size >= _MIN_BINARY

    def inspect(self, path: str, data: bytes) -> bytes | None:
        from hardbase.vuln.lang import golang, java, rust

        try:
            if java.is_archive(path):
                found = _maven(java.parse(data, path), path)
            elif data[:4] == b"\x7fELF":
                found = _go(golang.parse(data)) + _cargo(rust.parse(data))
            else:
                return None
        except java.JarError as exc:
            log.warning("ignoring the Java archive /%s: %s; the rest of the image is scanned",
                        path, exc)  # fmt: skip
            return None
        except golang.GoBuildInfoError as exc:
            log.warning("ignoring the Go build information of /%s: %s; the rest of the image "
                        "is scanned", path, exc)  # fmt: skip
            return None
        except rust.AuditDataError as exc:
            log.warning("ignoring the Rust dependency list of /%s: %s; the rest of the image "
                        "is scanned", path, exc)  # fmt: skip
            return None
        return json.dumps(found, sort_keys=True).encode() if found else None


def _go(binary: golang.GoBinary | None) -> list[dict[str, str]]:
    if binary is None:
        return []
    found = [
        _entry("golang", "stdlib", binary.stdlib_version, _go_purl("stdlib", binary.stdlib_version))
    ]
    if binary.main is not None:
        main = binary.main
        purl = _go_purl(main.path, main.version)
        found.append(_entry("golang", main.path, main.version, purl, main="true"))
    for dep in binary.deps:
        if dep.path.startswith((".", "/")):
            continue  # replaced by a local directory: no module version to name or match
        found.append(_entry("golang", dep.path, dep.version, _go_purl(dep.path, dep.version)))
    return found


def _go_purl(path: str, version: str) -> str:
    # the purl spec lowercases Go module paths (Trivy and Syft do); names keep their case
    namespace, _, name = path.lower().rpartition("/")
    return PackageURL(
        type="golang", namespace=namespace or None, name=name, version=version or None
    ).to_string()


def _cargo(crates: tuple[rust.Crate, ...] | None) -> list[dict[str, str]]:
    return [
        _entry("cargo", c.name, c.version,
               PackageURL(type="cargo", name=c.name, version=c.version).to_string())
        for c in crates or ()
    ]  # fmt: skip


def _maven(artifacts: list[java.Artifact], path: str) -> list[dict[str, str]]:
    found = []
    for a in artifacts:
        purl = PackageURL(
            type="maven", namespace=a.group or None, name=a.artifact, version=a.version
        )
        entry = _entry("maven", a.name, a.version, purl.to_string(), evidence=a.evidence)
        if a.path != path:  # inside a nested archive
            entry["archive"] = a.path
        found.append(entry)
    return found


def _entry(kind: str, name: str, version: str, purl: str, **extra: str) -> dict[str, str]:
    return {"type": kind, "name": name, "version": version, "purl": purl, **extra}


def _inspected(path: str, data: bytes, layer: str) -> list[InstalledPackage]:
    out = []
    for entry in jsondoc.loads(data):
        extra = {k: v for k, v in entry.items() if k not in ("type", "name", "version", "purl")}
        out.append(
            InstalledPackage(
                type=entry["type"], name=entry["name"], version=entry["version"],
                purl=entry["purl"], layer=layer, path=path, extra=extra,
            )
        )  # fmt: skip
    return out
