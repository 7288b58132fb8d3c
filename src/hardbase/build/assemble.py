"""Assembly without maintainer scripts: .deb payloads become image tree entries.

Each package's data archive is read once, as a stream, never unpacked onto the
host's disk: small payloads are kept in memory, large ones copied in chunks to
the package's unnamed spool file (`tree.Spool`), so memory does not grow with a
member's size. Paths are normalised to merged /usr, pruned, and the files maintainer scripts
would have made are generated instead: dpkg `status.d` entries, the CA
bundle, busybox applet links.

Expanded sizes are limited, so a decompression bomb is refused before it is
read: a member to MAX_MEMBER (512 MiB), a package's regular files together to
MAX_PACKAGE (1 GiB), each settable in bytes with HARDBASE_MAX_DEB_MEMBER and
HARDBASE_MAX_DEB_PACKAGE. Measured on the preset package sets of trixie and
bookworm (529 packages, 2026-12-03): the largest member is openjdk-21-jre-headless's
lib/modules, 141,124,896 bytes; the largest package is openjdk-21-jre-headless
21.0.13.1+2-1~deb13u1, 203,500,437 bytes of regular files.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from hardbase.build.prune import Pruner
from hardbase.build.tree import (
    DIR,
    MERGED,
    REG,
    SPOOL_OVER,
    SYMLINK,
    Entry,
    Payload,
    Spool,
    normalize,
    parents,
)
from hardbase.errors import BuildError, HardbaseError, UsageError

log = logging.getLogger(__name__)

MAX_MEMBER = 512 << 20
MAX_PACKAGE = 1 << 30
CA_DIR = "usr/share/ca-certificates/"
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
STATUS_D = "var/lib/dpkg/status.d"
RUN_LINKS = {"var/run": "/run", "var/lock": "/run/lock"}
# Applets linked in -debug images; all are in Debian's busybox build.
BUSYBOX_APPLETS = (
    "sh", "ash", "cat", "cp", "ls", "mv", "rm", "mkdir", "rmdir", "ln", "echo", "env",
    "grep", "sed", "awk", "find", "head", "tail", "less", "ps", "top", "kill", "sleep",
    "id", "whoami", "wget", "vi", "du", "df", "chmod", "chown", "pwd", "printf", "test",
    "tar", "gzip", "gunzip", "xargs", "sort", "uniq", "wc", "tr", "cut", "date", "hostname",
    "uname", "which", "touch", "stat", "readlink", "true", "false", "nc", "nslookup",
)  # fmt: skip


@dataclass(frozen=True)
class PackageContents:
    """What one .deb contributes to the image."""

    name: str
    control: str
    md5sums: bytes | None
    replaces: frozenset[str]
    entries: tuple[Entry, ...]
    newest: int
    certs: tuple[Entry, ...] = ()  # CA certificates, kept for the bundle even when pruned


def read_package(path: Path, name: str, pruner: Pruner) -> PackageContents:
    """Read a .deb's control data and payload into entries, pruned."""
    from hardbase.debian.deb import open_data_tar, read_control

    limits = size_limits()
    try:
        control, md5sums = read_control(path)
        payload = _Payload(name, pruner, limits)
        with open_data_tar(path, 2 * limits[1]) as tar:
            for member in tar:
                payload.add(tar, member)
    except HardbaseError:
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BuildError(
            f"cannot read the payload of {name} ({path}); delete it from the cache"
        ) from exc
    for rel, member_name in payload.every:
        _refuse_below_link(name, rel, member_name, payload.symlinks)
    return PackageContents(
        name=name,
        control=control,
        md5sums=md5sums,
        replaces=_replaces(control),
        entries=tuple(payload.entries + payload.hard_link_copies()),
        newest=payload.newest,
        certs=tuple(payload.certs),
    )


@dataclass
class _Payload:
    """What reading one package's data archive has collected so far."""

    name: str
    pruner: Pruner
    limits: tuple[int, int]  # (per member, per package) expanded bytes
    entries: list[Entry] = field(default_factory=list)
    regular: dict[str, Entry] = field(default_factory=dict)
    links: list[tuple[str, str, tarfile.TarInfo]] = field(default_factory=list)
    certs: list[Entry] = field(default_factory=list)
    symlinks: set[str] = field(default_factory=set)
    every: list[tuple[str, str]] = field(default_factory=list)  # (path, member), pruned or not
    newest: int = 0
    expanded: int = 0
    spool: Spool | None = None

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = normalize(member.name)
        if rel is None:
            if _is_root(member.name):
                return
            raise BuildError(
                f"{self.name} ships the member {member.name!r}, an absolute path or one "
                "with '..'; Debian packages never need one, so hardbase refuses it"
            )
        self.every.append((rel, member.name))
        if rel in MERGED:
            return  # the skeleton layer owns the merged-/usr links
        self.newest = max(self.newest, int(member.mtime))
        if member.islnk():
            self.links.append((rel, member.linkname, member))
            return
        entry = self._entry(tar, member, rel)
        if not self.pruner.cuts(rel, entry.kind == SYMLINK):
            self.entries.append(entry.with_owner(self.name))

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str) -> Entry:
        mtime = int(member.mtime)
        if member.isdir() and rel in RUN_LINKS:
            # base-files' postinst makes these links to /run; nothing is world-writable
            self.symlinks.add(rel)
            return Entry(rel, SYMLINK, 0o777, 0, 0, mtime, target=RUN_LINKS[rel])
        if member.isdir():
            return Entry(rel, DIR, member.mode & 0o7777, member.uid, member.gid, mtime)
        if member.issym():
            self.symlinks.add(rel)
            return Entry(rel, SYMLINK, 0o777, member.uid, member.gid, mtime, target=member.linkname)
        if member.isreg():
            return self._regular(tar, member, rel)
        raise BuildError(
            f"{self.name} ships {member.name}, which is not a file, directory or link; "
            "hardbase does not put device files or fifos in images"
        )

    def _regular(self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str) -> Entry:
        self.expanded += member.size
        if member.size > self.limits[0] or self.expanded > self.limits[1]:
            raise BuildError(_too_large(self.name, member, self.expanded, self.limits))
        fh = tar.extractfile(member)
        data, payload = b"", None
        if fh is not None and member.size > SPOOL_OVER:
            self.spool = self.spool or Spool()
            payload = self.spool.append(fh, member.size)
        elif fh is not None:
            data = fh.read()
        entry = _regular_entry(rel, member, data, payload)
        self.regular[rel] = entry
        if rel.startswith(CA_DIR) and rel.endswith(".crt"):
            self.certs.append(entry.with_owner(self.name))
        return entry

    def hard_link_copies(self) -> list[Entry]:
        """The hard links as regular copies: their target may be pruned or in another layer."""
        copies = []
        for rel, linkname, member in self.links:
            target = self.regular.get(normalize(linkname) or "")
            if target is None:
                raise BuildError(
                    f"{self.name} has a hard link {rel} to {linkname}, which it does not ship"
                )
            if not self.pruner.cuts(rel):
                copy = _regular_entry(rel, member, target.data, target.payload)
                copies.append(copy.with_owner(self.name))
        return copies


def _regular_entry(
    rel: str, member: tarfile.TarInfo, data: bytes, payload: Payload | None
) -> Entry:
    return Entry(
        rel,
        REG,
        member.mode & 0o7777,
        member.uid,
        member.gid,
        int(member.mtime),
        data=data,
        payload=payload,
    )


def size_limits() -> tuple[int, int]:
    """The per-member and per-package expanded-size limits, from the environment or defaults."""
    out = []
    for var, default in (
        ("HARDBASE_MAX_DEB_MEMBER", MAX_MEMBER),
        ("HARDBASE_MAX_DEB_PACKAGE", MAX_PACKAGE),
    ):
        value = os.environ.get(var, "")
        if value and not value.isdigit():
            raise UsageError(f"{var}='{value}' is not a whole number of bytes")
        out.append(int(value) if value else default)
    return out[0], out[1]


def _too_large(name: str, member: tarfile.TarInfo, expanded: int, limits: tuple[int, int]) -> str:
    if member.size > limits[0]:
        what = f"its member {member.name} expands to {member.size} bytes (limit {limits[0]})"
    else:
        what = f"its files expand to {expanded} bytes by {member.name} (limit {limits[1]})"
    return (
        f"{name} is refused: {what}; raise HARDBASE_MAX_DEB_MEMBER or "
        "HARDBASE_MAX_DEB_PACKAGE if the package is genuine"
    )


def _is_root(name: str) -> bool:
    """True for the tar member that names the root itself ("./", "." or "/")."""
    return all(part in ("", ".") for part in name.split("/"))


def _refuse_below_link(
    name: str, rel: str, member: str, symlinks: set[str] | dict[str, str]
) -> None:
    # In a layer, a file below a symlink is written through the link by some
    # runtimes and not by others; hardbase's own scanner calls such a layer hostile.
    for parent in parents(rel):
        if parent in symlinks:
            owner = symlinks[parent] if isinstance(symlinks, dict) else name
            whose = "its" if owner == name else f"{owner}'s"
            raise BuildError(
                f"{name} ships {member} below {whose} symlink /{parent}; Debian packages "
                "never need that, so hardbase refuses the package"
            )


def _replaces(control: str) -> frozenset[str]:
    match = re.search(r"^Replaces:(.*(?:\n[ \t].*)*)", control, re.MULTILINE)
    if not match:
        return frozenset()
    names = set()
    for part in re.split(r"[,|]", match.group(1)):
        name = part.strip().split(" ")[0].split(":")[0].split("(")[0]
        if name:
            names.add(name)
    return frozenset(names)


def generated_entries(contents: list[PackageContents], mtime: int) -> list[Entry]:
    """Files maintainer scripts would have made for these packages."""
    out: list[Entry] = []
    for pkg in contents:
        paragraph = pkg.control.rstrip("\n")
        if "\nStatus:" not in paragraph:
            head, sep, rest = paragraph.partition("\n")
            paragraph = f"{head}\nStatus: install ok installed{sep}{rest}"
        out.append(
            Entry(
                f"{STATUS_D}/{pkg.name}",
                REG,
                0o644,
                mtime=mtime,
                data=(paragraph + "\n").encode(),
                owner=pkg.name,
            )
        )
        if pkg.md5sums is not None:
            out.append(
                Entry(
                    f"{STATUS_D}/{pkg.name}.md5sums",
                    REG,
                    0o644,
                    mtime=mtime,
                    data=pkg.md5sums,
                    owner=pkg.name,
                )
            )
    certs = sorted((e for pkg in contents for e in pkg.certs), key=lambda e: e.path)
    if certs:
        pems = [c.content() for c in certs]
        bundle = b"".join(pem if pem.endswith(b"\n") else pem + b"\n" for pem in pems)
        out.append(Entry(CA_BUNDLE, REG, 0o644, mtime=mtime, data=bundle, owner=certs[0].owner))
    paths = {e.path for pkg in contents for e in pkg.entries}
    out.extend(_alternatives(contents, paths, mtime))
    if "usr/bin/busybox" in paths:
        for applet in BUSYBOX_APPLETS:
            link = f"usr/bin/{applet}"
            if link not in paths:
                out.append(
                    Entry(link, SYMLINK, 0o777, mtime=mtime, target="busybox", owner="busybox")
                )
    return out


# Commands that update-alternatives would link from /usr/bin (postinst scripts).
_ALTERNATIVES = re.compile(r"^usr/lib/jvm/([^/]+)/bin/(java|keytool|jfr|jrunscript|rmiregistry)$")


def _alternatives(contents: list[PackageContents], paths: set[str], mtime: int) -> list[Entry]:
    out = []
    for pkg in contents:
        for entry in pkg.entries:
            match = _ALTERNATIVES.match(entry.path)
            link = f"usr/bin/{match.group(2)}" if match else ""
            if match and link not in paths:
                paths.add(link)
                out.append(
                    Entry(
                        link, SYMLINK, 0o777, mtime=mtime, target=f"/{entry.path}", owner=pkg.name
                    )
                )
    return out


def _same(a: Entry, b: Entry) -> bool:
    return a.data == b.data and a.payload == b.payload


def check_conflicts(tiers: list[list[PackageContents]]) -> None:
    """Two packages shipping different content at one path is an error unless Replaces allows,
    and no package may ship a path below another package's symlink."""
    seen: dict[str, Entry] = {}
    replaces = {pkg.name: pkg.replaces for tier in tiers for pkg in tier}
    symlinks = {
        e.path: pkg.name for tier in tiers for pkg in tier for e in pkg.entries if e.kind == SYMLINK
    }
    for tier in tiers:
        for pkg in tier:
            for entry in pkg.entries:
                _refuse_below_link(pkg.name, entry.path, f"/{entry.path}", symlinks)
                if entry.kind != REG:
                    continue
                prior = seen.get(entry.path)
                if prior is not None and prior.owner != pkg.name and not _same(prior, entry):
                    other = prior.owner
                    if other not in replaces[pkg.name] and pkg.name not in replaces.get(other, ()):
                        raise BuildError(
                            f"{pkg.name} and {other} both ship /{entry.path} with different "
                            "content and neither Replaces the other; drop one of them from the spec"
                        )
                seen[entry.path] = entry
