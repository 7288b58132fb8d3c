"""An image's dpkg database as patch-image reads and rewrites it, without running dpkg.

Two layouts are read: Debian's own (`var/lib/dpkg/status` and `info/PKG.list`,
`.md5sums`, maintainer scripts) and the distroless one (`status.d/PKG` with
`status.d/PKG.md5sums`, no lists and no scripts: the md5sums file stands for the
list). Each upgrade becomes the files dpkg itself would leave after `dpkg --unpack`
and `--configure`: the new paragraph (Status kept, Conffiles with the new files'
md5), `info/PKG.list` in the order of the data archive, and every control file but
`control`. A package the patch adds (a new dependency) gets the same files, its
paragraph appended to the status file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from hardbase.build.tree import REG, Entry
from hardbase.debian.control import parse_fields, split_paragraphs
from hardbase.errors import ImageError
from hardbase.oci.filetree import FileTreeResult

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
SCRIPTS = ("preinst", "postinst", "prerm", "postrm")
OWNER = "hardbase"


@dataclass(frozen=True)
class Installed:
    """One installed package as the image's database records it."""

    name: str
    arch: str
    version: str
    fields: dict[str, str]  # its paragraph
    info_name: str  # `NAME` or `NAME:ARCH`, the stem of its info/ files
    paragraph: str = ""  # its paragraph as written (status layout)


@dataclass
class Database:
    """The dpkg database of one image."""

    layout: str  # "status" | "status.d"
    where: str
    packages: dict[str, Installed] = field(default_factory=dict)  # by name
    status_text: str = ""  # the whole status file (status layout)
    lists: dict[str, list[str]] = field(default_factory=dict)  # info_name -> paths listed

    def scripts(self, tree: FileTreeResult, pkg: Installed) -> dict[str, bytes]:
        """The maintainer scripts dpkg kept for `pkg` (none in the status.d layout)."""
        out = {}
        for script in SCRIPTS:
            data = tree.read(f"{INFO}{pkg.info_name}.{script}")
            if data is not None:
                out[script] = data
        return out

    def info_files(self, tree: FileTreeResult, pkg: Installed) -> list[str]:
        """The paths of `pkg`'s files in info/."""
        prefix = f"{INFO}{pkg.info_name}."
        return sorted(p for p in tree.files if p.startswith(prefix) and "/" not in p[len(prefix) :])


def wants(path: str) -> bool:
    """The database files read: status, status.d and info/."""
    return path.startswith("var/lib/dpkg/") and path.count("/") == 4 or path == STATUS


def read_database(tree: FileTreeResult, where: str) -> Database:
    """The image's dpkg database; ImageError when it has none or it cannot be read."""
    if STATUS in tree.files:
        text = _text(tree, STATUS, where)
        db = Database("status", where, status_text=text)
        for paragraph in split_paragraphs(text):
            fields = parse_fields(paragraph)
            if not _installed(fields):
                continue
            pkg = _installed_package(fields, tree, paragraph)
            db.packages[pkg.name] = pkg
        for path in tree.files:
            if path.startswith(INFO) and path.endswith(".list"):
                stem = path[len(INFO) : -len(".list")]
                db.lists[stem] = _text(tree, path, where).splitlines()
        if not db.packages:
            raise ImageError(f"/{STATUS} in {where} lists no installed package")
        return db
    entries = sorted(p for p in tree.files if p.startswith(STATUS_D) and not p.endswith(".md5sums"))
    if not entries:
        raise ImageError(
            f"{where} has no dpkg database (/{STATUS} or /{STATUS_D}); patch-image patches "
            "Debian-format images only"
        )
    db = Database("status.d", where)
    for path in entries:
        if tree.files[path].kind != "file":
            continue
        for paragraph in split_paragraphs(_text(tree, path, where)):
            fields = parse_fields(paragraph)
            if "Status" in fields and not _installed(fields):
                continue
            name = PurePosixPath(path).name
            pkg = Installed(
                fields.get("Package", ""), fields.get("Architecture", ""),
                fields.get("Version", ""), fields, name, paragraph,
            )  # fmt: skip
            if pkg.name:
                db.packages[pkg.name] = pkg
                db.lists[name] = _md5sums_paths(tree, f"{path}.md5sums", where)
    return db


def _md5sums_paths(tree: FileTreeResult, path: str, where: str) -> list[str]:
    """The files an md5sums file lists: the old file list where dpkg keeps no .list."""
    if path not in tree.files:
        return []
    out = []
    for line in _text(tree, path, where).splitlines():
        _, _, name = line.partition("  ")
        if name.strip():
            out.append("/" + name.strip().lstrip("/"))
    return out


def _installed_package(fields: dict[str, str], tree: FileTreeResult, paragraph: str) -> Installed:
    name, arch = fields.get("Package", ""), fields.get("Architecture", "")
    qualified = f"{name}:{arch}"
    info_name = qualified if f"{INFO}{qualified}.list" in tree.files else name
    return Installed(name, arch, fields.get("Version", ""), fields, info_name, paragraph)


def _text(tree: FileTreeResult, path: str, where: str) -> str:
    info = tree.files[path]
    data = tree.read(path) if info.kind == "file" else None
    if data is None:
        raise ImageError(
            f"cannot read /{path} in {where}: it is a {info.kind} or too large, not a dpkg "
            "database file"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImageError(f"cannot read /{path} in {where}: it is not UTF-8 text") from None


def _installed(fields: dict[str, str]) -> bool:
    words = fields.get("Status", "").split()
    return len(words) == 3 and words[0] in ("install", "hold") and words[2] == "installed"


def new_paragraph(old: Installed, control: str, conffiles: list[tuple[str, str]]) -> str:
    """The status paragraph of the upgraded package: the new control, Status as it was."""
    status = old.fields.get("Status", "install ok installed")
    lines = control.rstrip("\n").splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("Description:") and conffiles:
            out.append("Conffiles:")
            out += [f" {path} {md5}" for path, md5 in conffiles]
        out.append(line)
        if i == 0:
            out.append(f"Status: {status}")
    return "\n".join(out) + "\n"


def new_package(db: Database, control: str) -> Installed:
    """The record of a package added by the patch: installed, with no paragraph yet.

    Its info/ stem is `NAME:ARCH` for a `Multi-Arch: same` package, as dpkg names it.
    """
    fields = parse_fields(control)
    name, arch = fields.get("Package", ""), fields.get("Architecture", "")
    same = db.layout == "status" and fields.get("Multi-Arch") == "same"
    info_name = f"{name}:{arch}" if same else name
    return Installed(name, arch, fields.get("Version", ""), {"Status": "install ok installed"},
                     info_name)  # fmt: skip


def database_entries(
    db: Database,
    tree: FileTreeResult,
    upgrades: list[tuple[Installed, str, dict[str, bytes], list[str], list[tuple[str, str]]]],
    mtime: int,
) -> tuple[list[Entry], set[str]]:
    """The database files for `upgrades` (old, new control, control files, list, conffiles).

    Returns the entries and the info/ paths the old versions had that the new ones lack
    (to be whited out).
    """
    entries: list[Entry] = []
    gone: set[str] = set()
    if db.layout == "status":
        text = db.status_text
        for old, control, _, _, conffiles in upgrades:
            paragraph = new_paragraph(old, control, conffiles).rstrip("\n")
            if old.paragraph:
                text = text.replace(old.paragraph, paragraph)
            else:  # a package added by the patch
                text = text.rstrip("\n") + "\n\n" + paragraph + "\n"
        entries.append(_like(tree, STATUS, text.encode(), mtime))
        for old, _, files, listed, _ in upgrades:
            new_paths = {f"{INFO}{old.info_name}.list"}
            entries.append(
                _like(tree, f"{INFO}{old.info_name}.list", "".join(p + "\n" for p in listed)
                      .encode(), mtime)
            )  # fmt: skip
            for name, data in sorted(files.items()):
                if name == "control":
                    continue
                path = f"{INFO}{old.info_name}.{name}"
                new_paths.add(path)
                mode = 0o755 if name in SCRIPTS else 0o644
                entries.append(Entry(path, REG, mode, mtime=mtime, data=data, owner=OWNER))
            gone |= set(db.info_files(tree, old)) - new_paths
        return entries, gone
    for old, control, files, _, conffiles in upgrades:
        path = f"{STATUS_D}{old.info_name}"
        paragraph = new_paragraph(old, control, conffiles)
        entries.append(_like(tree, path, paragraph.encode(), mtime))
        sums = files.get("md5sums")
        if sums is not None:
            entries.append(_like(tree, f"{path}.md5sums", sums, mtime))
        elif f"{path}.md5sums" in tree.files:
            gone.add(f"{path}.md5sums")
    return entries, gone


def _like(tree: FileTreeResult, path: str, data: bytes, mtime: int) -> Entry:
    info = tree.files.get(path)
    mode, uid, gid = (info.mode, info.uid, info.gid) if info else (0o644, 0, 0)
    return Entry(path, REG, mode, uid, gid, mtime=mtime, data=data, owner=OWNER)


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
