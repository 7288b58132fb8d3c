"""Java archives (.jar, .war, .ear, .par): Maven coordinates from what the archive says.

In order: every `META-INF/maven/**/pom.properties` (shaded copies included);
when there is none, `MANIFEST.MF` when it gives Maven-like coordinates (group
from `Implementation-Vendor-Id` or `Bundle-SymbolicName`); else the file name
(`name-1.2.3.jar`, no group). Archives nested inside are read the same way, to
a bounded depth. An archive is untrusted input: members
are read with a size bound whatever their headers claim, and names with `..`
or an absolute path are skipped with a warning (nothing is ever extracted).
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zipfile

log = logging.getLogger(__name__)

SUFFIXES = (".jar", ".war", ".ear", ".par")
MAX_DEPTH = 3  # an archive inside an archive inside an archive
MAX_NESTED = 64 << 20  # bytes of one nested archive, uncompressed (Spring Boot's are < 20 MB)
MAX_TEXT = 1 << 20  # bytes of one pom.properties or MANIFEST.MF
MAX_TOTAL = 1 << 30  # bytes read from one top-level archive, all members together
MAX_MEMBERS = 200_000
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+~-]*$")
_FILE_NAME = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^-]*(?:-SNAPSHOT)?)$")


class JarError(ValueError):
    """An archive that is not read (not a zip, a zip bomb, too deep)."""


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str
    path: str  # the archive it was found in: `opt/app.jar` or `opt/app.jar/BOOT-INF/lib/x.jar`
    evidence: str = "pom.properties"  # or "MANIFEST.MF", "file name"

    @property
    def name(self) -> str:
        return f"{self.group}:{self.artifact}" if self.group else self.artifact


def is_archive(path: str) -> bool:
    return path.lower().endswith(SUFFIXES)


def parse(data: bytes, path: str) -> list[Artifact]:
    """Every artifact the archive at `path` declares (nested archives included)."""
    budget = [MAX_TOTAL]
    return _parse(data, path, 0, budget)


def _parse(data: bytes, path: str, depth: int, budget: list[int]) -> list[Artifact]:
    import zipfile  # only images with Java archives pay for it

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise JarError(f"{path} is not a zip archive ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise JarError(f"{path} has {len(members)} members, more than {MAX_MEMBERS}")
        found: list[Artifact] = []
        manifest: dict[str, str] = {}
        has_pom = False
        unsafe = ""
        for member in members:
            name = member.filename
            if name.startswith("/") or ".." in name.replace("\\", "/").split("/"):
                unsafe = unsafe or name
                continue
            base = name.rsplit("/", 1)[-1]
            if base == "pom.properties" and name.startswith("META-INF/maven/"):
                props = _properties(_read(archive, member, MAX_TEXT, path, budget))
                art = Artifact(
                    props.get("groupId", ""), props.get("artifactId", ""),
                    props.get("version", ""), path,
                )  # fmt: skip
                if art.group and art.artifact and art.version:
                    found.append(art)
                    has_pom = True
            elif name == "META-INF/MANIFEST.MF":
                manifest = _manifest(_read(archive, member, MAX_TEXT, path, budget))
            elif is_archive(name) and not member.is_dir():
                inner_path = f"{path}/{name}"
                if depth + 1 >= MAX_DEPTH:
                    log.warning(
                        "not reading /%s: Java archives nest deeper than %d levels",
                        inner_path, MAX_DEPTH,
                    )  # fmt: skip
                    continue
                try:
                    inner = _read(archive, member, MAX_NESTED, path, budget)
                    found.extend(_parse(inner, inner_path, depth + 1, budget))
                except JarError as exc:
                    log.warning(
                        "ignoring the nested Java archive /%s: %s; the rest is read",
                        inner_path,
                        exc,
                    )
        if unsafe:
            log.warning(
                "the Java archive /%s has members with '..' or absolute names (such as %r); "
                "they were skipped, the rest is read", path, unsafe,
            )  # fmt: skip
    if not has_pom:
        own = _from_manifest(manifest, path) or _from_file_name(path)
        if own is not None:
            found.append(own)
    return found


def _read(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, path: str,
          budget: list[int]) -> bytes:  # fmt: skip
    # the header's size is the archive's claim; the bound is what is actually inflated
    import zipfile

    allowed = min(limit, budget[0])
    try:
        with archive.open(member) as fh:
            data = fh.read(allowed + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError) as exc:
        raise JarError(f"member {member.filename} of {path} cannot be read ({exc})") from None
    except RuntimeError as exc:  # encrypted members
        raise JarError(f"member {member.filename} of {path} cannot be read ({exc})") from None
    if len(data) > allowed:
        raise JarError(
            f"member {member.filename} of {path} expands past {allowed} bytes (a zip bomb?)"
        )
    budget[0] -= len(data)
    return data


def _properties(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def _manifest(data: bytes) -> dict[str, str]:
    """The main section's attributes (continuation lines, which start with a space, joined)."""
    out: dict[str, str] = {}
    key = ""
    for line in data.decode("utf-8", "replace").splitlines():
        if not line:
            break  # the main section ends at the first blank line
        if line.startswith(" ") and key:
            out[key] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key = ""
            continue
        key = key.strip()
        out.setdefault(key, value.strip())
    return {k: v.strip() for k, v in out.items() if v.strip() and not v.strip().startswith("%")}


def _from_manifest(manifest: dict[str, str], path: str) -> Artifact | None:
    # Only attributes that hold Maven-style identifiers: a Vendor or Title in prose
    # ("The Apache Software Foundation", "Apache Log4j Core") is no group or artifact.
    symbolic = manifest.get("Bundle-SymbolicName", "").split(";", 1)[0].strip()
    title = manifest.get("Implementation-Title", "")
    group = manifest.get("Implementation-Vendor-Id", "")
    artifact = title if _IDENTIFIER.match(title) else ""
    if symbolic and _IDENTIFIER.match(symbolic) and "." in symbolic:
        prefix, _, last = symbolic.rpartition(".")
        group = group or prefix
        artifact = artifact or last
    version = (
        manifest.get("Implementation-Version")
        or manifest.get("Bundle-Version")
        or manifest.get("Specification-Version")
        or ""
    )
    if _IDENTIFIER.match(group) and _IDENTIFIER.match(artifact) and _IDENTIFIER.match(version):
        return Artifact(group, artifact, version, path, "MANIFEST.MF")
    return None


def _from_file_name(path: str) -> Artifact | None:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    m = _FILE_NAME.match(stem)
    if m is None:
        return None
    return Artifact("", m.group("artifact"), m.group("version"), path, "file name")
