"""Collect what an SBOM says about an image, and write SBOM documents.

`collect()` reads the image once: the inventory of its packages and, in the
same pass, every `usr/share/doc/*/copyright` file. `build_input()` is the pure
half (inventory + file contents -> SbomInput), so it can be tested without an
image. `write_sboms()` is what the build calls after it writes an image.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import get_args

from hardbase.errors import UsageError
from hardbase.oci.reference import ImageRef, parse_reference
from hardbase.sbom import SbomFormatName
from hardbase.sbom.interface import SbomError, SbomFormat, SbomInput, SbomPackage
from hardbase.sbom.licenses import PackageLicenses, normalize_declared, parse_copyright
from hardbase.sbom.spdx import SpdxJson
from hardbase.util.fs import write_atomic
from hardbase.vuln.model import InstalledPackage, Inventory

logger = logging.getLogger(__name__)

FORMAT_NAMES: tuple[SbomFormatName, ...] = get_args(SbomFormatName)
Reader = Callable[[str], bytes | None]


@functools.cache
def get_format(name: SbomFormatName) -> SbomFormat:
    """The format called `name`; UsageError listing the known ones otherwise.

    The CycloneDX format is imported only when asked for (it writes plain data and
    imports no CycloneDX library, but an SPDX document needs none of it).
    """
    if name == "spdx-json":
        return SpdxJson()
    if name == "cyclonedx-json":
        from hardbase.sbom.cyclonedx import CycloneDxJson

        return CycloneDxJson()
    raise UsageError(
        f"'{name}' is not an SBOM format; use one of {', '.join(sorted(FORMAT_NAMES))}"
    )


def wants_copyright(path: str) -> bool:
    """The files collect() asks the inventory pass to keep."""
    return path.startswith("usr/share/doc/") and path.endswith("/copyright")


def collect(
    ref: str,
    *,
    insecure: bool = False,
    arch: str | None = None,
    name: str | None = None,
    layer_cache: bool = True,
    subject: str | None = None,
) -> SbomInput:
    """Everything an SBOM of `ref` says, read in one pass over the image (layers read
    before come from the layer cache, and copyright files parsed before from the
    licence cache, unless `layer_cache` is false). With `subject`, the documents name
    the image by that reference (where it is published) instead of `ref`."""
    # imported here: the inventory pulls in the transports, which the formats do not need
    from hardbase.vuln.inventory import inventory

    image_ref = parse_reference(ref)
    result = inventory(
        image_ref,
        insecure=insecure,
        arch=arch,
        want_paths=wants_copyright,
        cache_as="copyright",
        layer_cache=layer_cache,
    )
    parse: Callable[[bytes], PackageLicenses] = parse_copyright
    if layer_cache:
        from hardbase.sbom.licensecache import cached_parser
        from hardbase.util.paths import cache_dir

        parse = cached_parser(cache_dir() / "copyright-licenses")
    found = result.inventory
    if subject is not None:
        image_ref = parse_reference(subject)
        found = dataclasses.replace(found, reference=str(image_ref))
    return build_input(found, result.tree.read, ref=image_ref, name=name, parse=parse)


def build_input(
    found: Inventory,
    read: Reader,
    *,
    ref: ImageRef | None = None,
    name: str | None = None,
    parse: Callable[[bytes], PackageLicenses] = parse_copyright,
) -> SbomInput:
    """Resolve every package's licenses; `read(path)` gives a kept file's bytes or None,
    `parse` reads a copyright file (the build passes the results it kept)."""
    if ref is None:
        try:
            ref = parse_reference(found.reference)
        except UsageError:
            ref = None
    texts: dict[str, str] = {}
    items: list[SbomPackage] = []
    for pkg in found.packages:
        item, pkg_texts = _licensed(pkg, read, parse)
        items.append(item)
        for license_id, text in sorted(pkg_texts.items()):
            texts.setdefault(license_id, text)
    return SbomInput(
        reference=found.reference,
        name=name or image_name(ref, found.reference),
        digest=found.digest,
        architecture=found.architecture,
        os=found.os,
        packages=tuple(items),
        license_texts=texts,
        tag=(ref.tag or "") if ref is not None else "",
        repository_url=(
            ref.docker_reference if ref is not None and ref.transport == "docker" else ""
        ),
    )


def _licensed(
    pkg: InstalledPackage, read: Reader, parse: Callable[[bytes], PackageLicenses]
) -> tuple[SbomPackage, dict[str, str]]:
    if pkg.type == "deb":
        data = read(f"usr/share/doc/{pkg.name}/copyright")
        if data is None and ":" in pkg.name:
            data = read(f"usr/share/doc/{pkg.name.partition(':')[0]}/copyright")
        if data is None:
            logger.debug("no copyright file for %s", pkg.name)
            return SbomPackage(pkg), {}
        parsed = parse(data)
        source = "copyright" if parsed.licenses else ""
        return SbomPackage(pkg, parsed.licenses, source), dict(parsed.texts)
    declared = list(pkg.licenses)
    if not declared and pkg.type == "pypi" and pkg.path:
        declared = python_metadata_licenses(read(pkg.path))
    licenses = normalize_declared(declared)
    return SbomPackage(pkg, licenses, "metadata" if licenses else ""), {}


def python_metadata_licenses(data: bytes | None) -> list[str]:
    """`License-Expression`, else the `License ::` classifiers, else a short `License:`."""
    if not data:
        return []
    expression = ""
    license_field = ""
    classifiers = []
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        key, sep, value = line.partition(":")
        if not sep or line[0] in " \t":
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "license-expression":
            expression = value
        elif key == "classifier" and value.startswith("License ::"):
            classifiers.append(value)
        elif key == "license" and not license_field:
            license_field = value
    if expression:
        return [expression]
    if classifiers:
        return classifiers
    # a License: field is often the whole license text; only a short one is a name
    if license_field and len(license_field) <= 80:
        return [license_field]
    return []


def image_name(ref: ImageRef | None, reference: str) -> str:
    """A name for the image: the repository's last part, or the layout's file name."""
    raw = ""
    if ref is not None and ref.transport == "docker" and ref.repository:
        raw = ref.repository.rsplit("/", 1)[-1]
    elif ref is not None and ref.path is not None:
        raw = ref.path.resolve().name if ref.path.name in ("", ".", "..") else ref.path.name
        for suffix in (".tar.gz", ".tgz", ".tar"):
            if raw.endswith(suffix):
                raw = raw[: -len(suffix)]
    if not raw:
        raw = reference
    clean = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-.")
    return clean or "image"


def render(
    sbom: SbomInput, format_name: SbomFormatName, *, created: datetime | None = None
) -> bytes:
    """The document of `sbom` in the named format."""
    return get_format(format_name).render(sbom, created=created)


def write_sboms(
    ref: str,
    out_dir: Path,
    *,
    insecure: bool = False,
    arch: str | None = None,
    created: datetime | None = None,
    name: str | None = None,
) -> dict[str, Path]:
    """Write `sbom.spdx.json` and `sbom.cdx.json` for `ref` into `out_dir`.

    Returns the written paths by format name. The image is read once; each
    file is replaced atomically.
    """
    sbom = collect(ref, insecure=insecure, arch=arch, name=name)
    written: dict[str, Path] = {}
    for fmt in map(get_format, FORMAT_NAMES):
        path = out_dir / fmt.filename
        data = fmt.render(sbom, created=created)
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise SbomError(
                f"could not write {path}; check that the directory is writable"
            ) from exc
        written[fmt.name] = path
    return written
