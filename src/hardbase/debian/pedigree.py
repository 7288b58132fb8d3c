"""What a hardbase rebuild says about itself, in its own binary packages' control fields.

`hardbase patch build` adds these fields to the source stanza of `debian/control`
(as `XB-…`, so that dpkg-gencontrol copies them into every binary package):

    Hardbase-Patched-From: sqlite3 (= 3.40.1-2+deb12u2)
    Hardbase-Fixes: CVE-2026-11822 CVE-2026-11824
    Hardbase-Patches:
     54-CVE-2026-11822_CVE-2026-11824.patch <sha256> backport CVE-2026-11822,CVE-2026-11824
    Hardbase-Patch-Data:
     <base64 of the gzip of a JSON object: patch name -> the patch as applied>

They travel with the .deb: into REPO's signed Packages index (the .deb's sha256 is
there), into the dpkg status of every image that installs it, and from there into
the SBOM pedigree and the OpenVEX statements. Nothing is guessed later: a reader
takes what the fields say, and a patch's diff only when its sha256 matches.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import logging
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PATCHED_FROM = "Hardbase-Patched-From"
FIXES = "Hardbase-Fixes"
PATCHES = "Hardbase-Patches"
PATCH_DATA = "Hardbase-Patch-Data"
FIELDS = (PATCHED_FROM, FIXES, PATCHES, PATCH_DATA)
KINDS = ("backport", "cherry-pick", "unofficial")  # CycloneDX patch types hardbase writes
MAX_DATA = 4 << 20  # decoded patch text, all patches together
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_FROM = re.compile(r"^([a-z0-9][a-z0-9+.-]+) \(= ([^\s()]+)\)$")


@dataclass(frozen=True)
class PatchInfo:
    """One patch of a rebuild: its name in debian/patches, what it fixes, its text."""

    name: str
    sha256: str
    kind: str  # one of KINDS
    resolves: tuple[str, ...]
    diff: str  # "" when the text was not carried or did not match its sha256


@dataclass(frozen=True)
class Pedigree:
    """A rebuilt package's Debian ancestor (source name and version) and its patches."""

    source: str
    version: str
    fixes: tuple[str, ...]
    patches: tuple[PatchInfo, ...]


def patch_kind(debian: bool) -> str:
    """A patch taken from a newer Debian suite is a backport; the user's is a cherry-pick."""
    return "backport" if debian else "cherry-pick"


def control_fields(pedigree: Pedigree) -> dict[str, str]:
    """The field values (without the XB- prefix), as deb822 multi-line values."""
    lines = [f"{p.name} {p.sha256} {p.kind} {','.join(p.resolves)}" for p in pedigree.patches]
    data = json.dumps({p.name: p.diff for p in pedigree.patches}, sort_keys=True).encode()
    encoded = base64.b64encode(gzip.compress(data, mtime=0)).decode()
    return {
        PATCHED_FROM: f"{pedigree.source} (= {pedigree.version})",
        FIXES: " ".join(pedigree.fixes),
        PATCHES: "".join(f"\n {line}" for line in lines),
        PATCH_DATA: "".join(f"\n {chunk}" for chunk in textwrap.wrap(encoded, 76)),
    }


def add_to_control(control: Path, pedigree: Pedigree) -> None:
    """Add the fields, as `XB-…`, to the source stanza of a `debian/control` file."""
    text = control.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\n\n")
    kept = _drop_fields(head.rstrip("\n").splitlines(), FIELDS)
    added = [f"XB-{name}:{value if value.startswith(chr(10)) else ' ' + value}"
             for name, value in control_fields(pedigree).items()]  # fmt: skip
    control.write_text("\n".join(kept + added) + "\n" + (sep[1:] + rest if sep else ""))


def _drop_fields(lines: Sequence[str], names: Sequence[str]) -> list[str]:
    """`lines` without the named fields (also as XB-…) and their continuation lines."""
    wanted = {n.lower() for n in names} | {f"xb-{n.lower()}" for n in names}
    out, dropping = [], False
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not dropping:
                out.append(line)
            continue
        dropping = line.partition(":")[0].strip().lower() in wanted
        if not dropping:
            out.append(line)
    return out


def read(fields: Mapping[str, str]) -> Pedigree | None:
    """The pedigree a package's control fields state, None when they state none.

    Malformed fields are logged and ignored (an image is outside input): a field
    that does not parse gives no pedigree, a diff that does not match its sha256
    is left out.
    """
    origin = fields.get(PATCHED_FROM, "").strip()
    if not origin:
        return None
    match = _FROM.match(origin)
    fixes = tuple(fields.get(FIXES, "").split())
    if match is None or not fixes or not all(_CVE.match(c) for c in fixes):
        log.warning("ignoring malformed %s/%s fields: %r", PATCHED_FROM, FIXES, origin)
        return None
    diffs = _diffs(fields.get(PATCH_DATA, ""))
    patches = []
    for line in fields.get(PATCHES, "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if (len(parts) != 4 or not re.fullmatch(r"[0-9a-f]{64}", parts[1])
                or parts[2] not in KINDS):  # fmt: skip
            log.warning("ignoring malformed %s line %r", PATCHES, line)
            continue
        name, sha256, kind, resolves = parts
        diff = diffs.get(name, "")
        if diff and hashlib.sha256(diff.encode("utf-8", "surrogateescape")).hexdigest() != sha256:
            log.warning("the carried text of %s does not match its sha256; left out", name)
            diff = ""
        cves = tuple(c for c in resolves.split(",") if _CVE.match(c))
        patches.append(PatchInfo(name, sha256, kind, cves, diff))
    return Pedigree(match.group(1), match.group(2), fixes, tuple(patches))


def _diffs(encoded: str) -> dict[str, str]:
    if not encoded.strip():
        return {}
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
            data = fh.read(MAX_DATA + 1)
        if len(data) > MAX_DATA:
            raise ValueError(f"more than {MAX_DATA} bytes")
        doc = json.loads(data)
    except (ValueError, OSError, EOFError) as exc:
        log.warning("ignoring an unreadable %s field (%s)", PATCH_DATA, exc)
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(k, str) and isinstance(v, str)}
