"""Rust binaries built with cargo-auditable: the crate list in the `.dep-v0` section.

cargo-auditable stores zlib-compressed JSON, `{"packages": [{"name", "version",
"source", "kind", "dependencies", "root"}]}`; `kind` is "runtime" unless it
says "build" (build-time only crates are not in the binary and are left out,
as Trivy and `cargo audit bin` do).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from hardbase.util import jsondoc
from hardbase.vuln.lang import elf

SECTION = ".dep-v0"
MAX_JSON = 8 << 20  # decompressed; real lists of a thousand crates are ~100 KB


class AuditDataError(ValueError):
    """A `.dep-v0` section that cannot be read."""


@dataclass(frozen=True)
class Crate:
    name: str
    version: str
    source: str  # crates.io, local, git, registry, ...
    root: bool = False


def parse(data: bytes) -> tuple[Crate, ...] | None:
    """The runtime crates recorded in an ELF binary; None when it has no `.dep-v0`."""
    if not elf.is_elf(data) or SECTION.encode() not in data:
        return None
    try:
        section = elf.parse(data).section(SECTION)
    except elf.ElfError as exc:
        raise AuditDataError(str(exc)) from None
    if section is None:
        return None
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(section, MAX_JSON + 1)
    except zlib.error as exc:
        raise AuditDataError(f"the {SECTION} section is not zlib data ({exc})") from None
    if len(raw) > MAX_JSON:
        raise AuditDataError(f"the {SECTION} section expands past {MAX_JSON} bytes")
    try:
        doc = jsondoc.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuditDataError(f"the {SECTION} section is not JSON ({exc})") from None
    packages = doc.get("packages") if isinstance(doc, dict) else None
    if not isinstance(packages, list):
        raise AuditDataError(f"the {SECTION} section has no package list")
    crates = []
    for entry in packages:
        if not isinstance(entry, dict):
            raise AuditDataError(f"a {SECTION} package is not an object")
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            raise AuditDataError(f"a {SECTION} package has no name or version")
        if entry.get("kind", "runtime") != "runtime":
            continue
        source = entry.get("source")
        crates.append(
            Crate(
                name, version, source if isinstance(source, str) else "", entry.get("root") is True
            )
        )
    return tuple(crates)
