"""An image's final filesystem, seen by streaming its layers once, never unpacked to disk.

`walk_layers` applies each layer in order with OCI whiteout semantics and keeps
a listing of every final path (type, mode, owner, size, link target, layer),
plus the content of the few files a caller asks for. An `Inspector` can also
look at other files (binaries, archives) as they stream past and keep only a
small result per file. `walk_dir` gives the same view of a root filesystem
directory (the `dir:` transport).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol, TypeGuard, cast

from hardbase.errors import ImageError, IntegrityError
from hardbase.oci.layercache import (
    MAX_BLOBS,
    LayerCache,
    LayerRecord,
    MemberOp,
    Op,
    WhiteoutOp,
    capture_warnings,
    replay_warnings,
)
from hardbase.oci.layout import Descriptor
from hardbase.oci.safetar import DEFAULT_LIMITS, LayerReader, Limits, Member, Skipped
from hardbase.oci.transports.interface import ImageSource, ResolvedImage, VerifyingReader

log = logging.getLogger(__name__)

FileKind = Literal["file", "dir", "symlink", "hardlink"]
Want = Callable[[str], bool]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_KEEP = 64 << 20  # a wanted file larger than this is listed but its content not kept
MAX_INSPECT = 512 << 20  # an inspected file larger than this is listed, not inspected
_MAX_HOPS = 40  # symlinks followed in one resolution, as Linux's MAXSYMLINKS
SHELLS = ("bin/sh", "bin/bash", "bin/dash", "bin/ash", "bin/busybox", "bin/zsh")


@dataclass(frozen=True)
class FileInfo:
    """One path of the final filesystem.

    Directories a layer implies without an entry of their own are listed as
    `dir`, mode 0755, owned by root, as a runtime would create them.
    """

    path: str  # normalised: `usr/bin/python3`
    kind: FileKind
    mode: int  # permission bits with setuid/setgid/sticky
    uid: int
    gid: int
    size: int
    link: str = ""  # symlink target as written, or hardlink target path
    layer: str = ""  # digest of the layer that provided it ("" for dir:)

    @property
    def is_setuid(self) -> bool:
        return self.kind in ("file", "hardlink") and bool(self.mode & (stat.S_ISUID | stat.S_ISGID))

    @property
    def is_world_writable(self) -> bool:
        return self.kind != "symlink" and bool(self.mode & stat.S_IWOTH)


class Inspector(Protocol):
    """Looks at files that are not kept: `wants` from the tar header, then `inspect`
    with the file's bytes, returning what to keep (small) or None."""

    def wants(self, path: str, mode: int, size: int) -> bool: ...

    def inspect(self, path: str, data: bytes) -> bytes | None: ...


@dataclass(frozen=True)
class FileContent:
    """The kept content of a wanted file and the layer it came from."""

    data: bytes
    layer: str


@dataclass(frozen=True)
class FileTreeResult:
    """The final filesystem of an image: a full listing and the wanted contents."""

    files: Mapping[str, FileInfo]  # every final path, in sorted order
    contents: Mapping[str, FileContent]  # wanted regular files only
    skipped: tuple[Skipped, ...] = ()
    layers: tuple[str, ...] = ()  # layer digests, bottom first
    inspected: Mapping[str, FileContent] = field(default_factory=dict)  # Inspector results

    @property
    def file_count(self) -> int:
        """Regular files (hardlinks included)."""
        return sum(1 for f in self.files.values() if f.kind in ("file", "hardlink"))

    def setuid_files(self) -> list[str]:
        """Files with the setuid or setgid bit."""
        return [p for p, f in self.files.items() if f.is_setuid]

    def world_writable(self) -> list[str]:
        """Files and directories anyone may write (sticky directories such as tmp included)."""
        return [p for p, f in self.files.items() if f.is_world_writable]

    def shells(self) -> list[str]:
        """Shell paths (bin/sh and friends, under / or /usr) that resolve to a file."""
        found = []
        for name in SHELLS:
            for path in (name, f"usr/{name}"):
                target = self.resolve(path)
                if target is not None and self.files[target].kind in ("file", "hardlink"):
                    found.append(path)
        return found

    def has_shell(self) -> bool:
        return bool(self.shells())

    def resolve(self, path: str) -> str | None:
        """The listed path `path` leads to after following symlinks inside the image."""
        parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/".join([*done, part])
            info = self.files.get(candidate)
            if info is None:
                return None
            if info.kind == "symlink":
                hops += 1
                if hops > _MAX_HOPS:
                    return None
                if info.link.startswith("/"):
                    done = []
                parts = [p for p in info.link.split("/") if p not in ("", ".")] + parts
                continue
            done.append(part)
        return "/".join(done) if done else None

    def read(self, path: str) -> bytes | None:
        """Kept content of `path` (symlinks and hardlinks followed), or None."""
        found = self._content(path)
        return found.data if found else None

    def layer_of(self, path: str) -> str:
        """Digest of the layer that provided the content of `path` ("" if unknown)."""
        found = self._content(path)
        if found:
            return found.layer
        info = self.files.get(path)
        return info.layer if info else ""

    def _content(self, path: str) -> FileContent | None:
        target = self.resolve(path)
        if target is None:
            return None
        info = self.files[target]
        if info.kind == "hardlink":
            return self.contents.get(target) or self.contents.get(info.link)
        return self.contents.get(target)


class _Node:
    __slots__ = ("info", "content", "inspected", "layer", "children")

    def __init__(self, info: FileInfo | None, layer: int) -> None:
        self.info = info  # None only for the root
        self.content: FileContent | None = None
        self.inspected: FileContent | None = None
        self.layer = layer
        self.children: dict[str, _Node] | None = {} if info is None or info.kind == "dir" else None


class _Tree:
    """The merged filesystem while layers are applied (one node per path)."""

    def __init__(self) -> None:
        self.root = _Node(None, -1)
        self._top: dict[str, _Node] = {}  # the root's children
        self.root.children = self._top

    def lookup(self, path: str) -> _Node | None:
        node = self.root
        for part in path.split("/"):
            if node.children is None or part not in node.children:
                return None
            node = node.children[part]
        return node

    def put(self, info: FileInfo, layer: int) -> _Node:
        *dirs, name = info.path.split("/")
        children = self._top
        for depth, part in enumerate(dirs):
            child = children.get(part)
            if child is None or child.children is None:
                # a deeper path implies a directory (as a runtime would create it);
                # it replaces a lower non-directory
                implied = FileInfo(
                    "/".join(dirs[: depth + 1]), "dir", 0o755, 0, 0, 0, "", info.layer
                )
                below: dict[str, _Node] = {}
                child = _Node(implied, layer)
                child.children = below
                children[part] = child
                children = below
            else:
                children = child.children
        node = children.get(name)
        if info.kind == "dir" and node is not None and node.children is not None:
            node.info = info  # directories merge with what is below
            node.layer = layer
            node.content = None
            return node
        node = _Node(info, layer)
        children[name] = node
        return node

    def whiteout(self, path: str, layer: int) -> None:
        """Hide `path` and everything under it from lower layers."""
        *dirs, name = path.split("/")
        parent = self.lookup("/".join(dirs)) if dirs else self.root
        if parent is None or parent.children is None or name not in parent.children:
            return
        if _prune(parent.children[name], layer):
            del parent.children[name]

    def opaque(self, path: str, layer: int) -> None:
        """Hide everything lower layers put under directory `path`."""
        node = self.lookup(path) if path else self.root
        if node is None or node.children is None:
            return
        for name in list(node.children):
            if _prune(node.children[name], layer):
                del node.children[name]

    def listing(
        self,
    ) -> tuple[dict[str, FileInfo], dict[str, FileContent], dict[str, FileContent]]:
        files: dict[str, FileInfo] = {}
        contents: dict[str, FileContent] = {}
        inspected: dict[str, FileContent] = {}
        for path, node in _walk(self.root, ""):
            if node.info is not None:
                files[path] = node.info
            if node.content is not None:
                contents[path] = node.content
            if node.inspected is not None:
                inspected[path] = node.inspected
        return files, contents, inspected


def _prune(node: _Node, layer: int) -> bool:
    """Drop what lower layers put under `node`; True when `node` itself should go."""
    if node.children:
        for name in list(node.children):
            if _prune(node.children[name], layer):
                del node.children[name]
    return node.layer < layer and not node.children


def _walk(node: _Node, prefix: str) -> Iterator[tuple[str, _Node]]:
    for name in sorted(node.children or {}):
        child = (node.children or {})[name]
        path = f"{prefix}/{name}" if prefix else name
        yield path, child
        yield from _walk(child, path)


def walk_layers(
    source: ImageSource,
    image: ResolvedImage,
    want: Want,
    *,
    limits: Limits = DEFAULT_LIMITS,
    max_keep: int = MAX_KEEP,
    inspector: Inspector | None = None,
    cache: LayerCache | None = None,
) -> FileTreeResult:
    """Stream every layer of `image` from `source` and return its final filesystem.

    Each blob is read through VerifyingReader, so a digest mismatch fails with
    IntegrityError; the uncompressed stream is also checked against the
    config's diff_ids. Contents are kept only for regular files where
    `want(path)` is true; other regular files the inspector wants are passed
    to it as they stream past.

    With a `cache` (whose profile must name what `want`, `inspector`, `limits`
    and `max_keep` keep), a layer recorded before from the same blob is replayed
    from its record instead of being read, and a layer read is recorded.
    """
    tree = _Tree()
    skipped: list[Skipped] = []
    diff_ids = _diff_ids(image)
    wants = _Wants(want, max_keep, inspector)
    for index, desc in enumerate(image.layers):
        if "tar" not in desc.media_type:
            raise ImageError(
                f"layer {desc.digest} of {image.ref} has media type {desc.media_type}, "
                "not a filesystem layer; is this an artifact rather than an image?"
            )
        where = f"layer {desc.digest} of {image.ref}"
        diff_id = diff_ids[index] if diff_ids else ""
        record = None
        if cache is not None and diff_id:
            cached = cache.load(diff_id)
            if cached is not None and desc.digest in cached.blobs:
                skipped.extend(_replay(cached, desc.digest, index, tree, where))
                continue
            # the same content compressed otherwise is read (and checked) once more
            known = cached.blobs[: MAX_BLOBS - 1] if cached is not None else ()
            record = LayerRecord(blobs=(desc.digest, *known))
        with capture_warnings(where) as warnings:
            reader = _apply_layer(source, desc, where, index, tree, wants, limits, record)
        skipped.extend(reader.skipped)
        if diff_ids and reader.diff_id != diff_ids[index]:
            raise IntegrityError(
                f"{where} uncompresses to {reader.diff_id} but the image config says "
                f"{diff_ids[index]}; the image is corrupt"
            )
        if cache is not None and record is not None and warnings is not None:
            record.skipped = [(s.name, s.reason) for s in reader.skipped]
            record.warnings = warnings
            cache.store(diff_id, record)
    files, contents, inspected = tree.listing()
    return FileTreeResult(
        files, contents, tuple(skipped), tuple(d.digest for d in image.layers), inspected
    )


def _diff_ids(image: ResolvedImage) -> list[str]:
    rootfs = image.config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or len(ids) != len(image.layers):
        if ids is not None:
            log.warning(
                "the config of %s lists %s diff_ids for %d layers; not checking them",
                image.ref,
                len(ids) if isinstance(ids, list) else "no",
                len(image.layers),
            )
        return []
    return [str(i) for i in ids]


@dataclass(frozen=True)
class _Wants:
    want: Want
    max_keep: int
    inspector: Inspector | None


def _apply_layer(
    source: ImageSource,
    desc: Descriptor,
    where: str,
    index: int,
    tree: _Tree,
    wants: _Wants,
    limits: Limits,
    record: LayerRecord | None = None,
) -> LayerReader:
    with VerifyingReader(source.open_blob(desc), desc, str(source.ref)) as raw:
        reader = LayerReader(cast(IO[bytes], raw), where, limits=limits, size=desc.size)
        for member in reader:
            op = _apply_member(member, reader, desc.digest, index, tree, wants)
            if record is not None and op is not None:
                record.ops.append(op)
    return reader


def _apply_member(
    member: Member,
    reader: LayerReader,
    digest: str,
    index: int,
    tree: _Tree,
    wants: _Wants,
) -> Op | None:
    """Apply one member to the tree; returns what a layer record keeps of it."""
    head, _, name = member.path.rpartition("/")
    if name.startswith(WHITEOUT):
        if name == OPAQUE:
            tree.opaque(head, index)
            return WhiteoutOp(head, opaque=True)
        hidden = name[len(WHITEOUT) :]
        if hidden.startswith(WHITEOUT) or hidden in ("", ".", ".."):
            return None  # aufs bookkeeping (.wh..wh.plnk and the like), never a path
        path = f"{head}/{hidden}" if head else hidden
        tree.whiteout(path, index)
        return WhiteoutOp(path, opaque=False)
    wanted = wants.want(member.path)
    content = inspected = None
    if member.kind == "file" and not wanted:
        info = _info(member, digest)
        if _inspects(wants.inspector, info):
            inspected = wants.inspector.inspect(member.path, reader.read(MAX_INSPECT))
    elif member.kind == "file":
        if member.size > wants.max_keep:
            log.warning(
                "not keeping %s from %s: larger than %d bytes",
                member.path,
                reader.where,
                wants.max_keep,
            )
        else:
            content = reader.read(wants.max_keep)
    op = MemberOp(member.path, member.kind, member.mode, member.uid, member.gid, member.size,
                  member.link, wanted, content, inspected)  # fmt: skip
    _place(op, digest, index, tree)
    return op


def _info(op: Member | MemberOp, digest: str) -> FileInfo:
    kind = cast(FileKind, op.kind)
    return FileInfo(op.path, kind, op.mode, op.uid, op.gid, op.size, op.link, digest)


def _place(op: MemberOp, digest: str, index: int, tree: _Tree) -> None:
    """Put a member into the tree with what was kept of it (streamed or recorded)."""
    node = tree.put(_info(op, digest), index)
    if op.kind == "hardlink":
        target = tree.lookup(op.link)
        if target is None:
            return
        kept = target.content if op.wanted else target.inspected
        if kept is not None:
            if op.wanted:
                node.content = FileContent(kept.data, digest)
            else:
                node.inspected = FileContent(kept.data, digest)
    elif op.content is not None:
        node.content = FileContent(op.content, digest)
    elif op.inspected is not None:
        node.inspected = FileContent(op.inspected, digest)


def _replay(record: LayerRecord, digest: str, index: int, tree: _Tree, where: str) -> list[Skipped]:
    """Apply a recorded layer as `_apply_layer` applied it; returns its skipped members."""
    for op in record.ops:
        if isinstance(op, WhiteoutOp):
            if op.opaque:
                tree.opaque(op.path, index)
            else:
                tree.whiteout(op.path, index)
        else:
            _place(op, digest, index, tree)
    replay_warnings(record, where)
    return [Skipped(where, name, reason) for name, reason in record.skipped]


def _inspects(inspector: Inspector | None, info: FileInfo) -> TypeGuard[Inspector]:
    """True when `inspector` is set, wants the file and the file is small enough for it."""
    if inspector is None or not inspector.wants(info.path, info.mode, info.size):
        return False
    if info.size > MAX_INSPECT:
        log.warning("not inspecting %s: larger than %d bytes", info.path, MAX_INSPECT)
        return False
    return True


def _inspect(inspector: Inspector, node: _Node, path: str, data: bytes, layer: str) -> None:
    result = inspector.inspect(path, data)
    if result is not None:
        node.inspected = FileContent(result, layer)


def walk_dir(
    root: Path, want: Want, *, max_keep: int = MAX_KEEP, inspector: Inspector | None = None
) -> FileTreeResult:
    """The same view of a root filesystem directory; symlinks are listed, never followed."""
    if not root.is_dir():
        raise ImageError(f"{root} is not a directory; dir: needs a root filesystem directory")
    tree = _Tree()
    skipped: list[Skipped] = []
    where = f"dir:{root}"

    def on_error(exc: OSError) -> None:
        log.warning("cannot read %s in %s: %s", exc.filename, where, exc.strerror)

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        for name in sorted(dirnames + filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
                info = _stat_info(rel, full, st)
            except OSError as exc:
                log.warning("cannot read %s in %s: %s", rel, where, exc.strerror)
                continue
            if info is None:
                skipped.append(Skipped(where, rel, "device, fifo or socket"))
                continue
            node = tree.put(info, 0)
            if info.kind == "file" and want(rel):
                data = _read_file(full, rel, where, max_keep)
                if data is not None:
                    node.content = FileContent(data, "")
            elif info.kind == "file" and _inspects(inspector, info):
                data = _read_file(full, rel, where, MAX_INSPECT)
                if data is not None:
                    _inspect(inspector, node, rel, data, "")
    files, contents, inspected = tree.listing()
    return FileTreeResult(files, contents, tuple(skipped), (), inspected)


def _stat_info(rel: str, full: str, st: os.stat_result) -> FileInfo | None:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        return FileInfo(rel, "file", mode, st.st_uid, st.st_gid, st.st_size)
    if stat.S_ISDIR(st.st_mode):
        return FileInfo(rel, "dir", mode, st.st_uid, st.st_gid, 0)
    if stat.S_ISLNK(st.st_mode):
        return FileInfo(rel, "symlink", mode, st.st_uid, st.st_gid, 0, os.readlink(full))
    return None


def _read_file(full: str, rel: str, where: str, max_keep: int) -> bytes | None:
    # O_NOFOLLOW: a file swapped for a symlink after the walk must not lead outside root
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        log.warning("cannot read %s in %s: %s", rel, where, exc.strerror)
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > max_keep:
                log.warning("not keeping %s from %s: larger than %d bytes", rel, where, max_keep)
                return None
            return fh.read(max_keep + 1)[:max_keep]
    except OSError as exc:
        log.warning("cannot read %s in %s: %s", rel, where, exc.strerror)
        return None


def replay_members(
    layers: list[
        tuple[
            str,
            list[tuple[str, str, int, int, int, int, str]],
            Mapping[str, bytes],
            Mapping[str, bytes],
        ]
    ],
) -> FileTreeResult:
    """The final filesystem of layers known without reading them: for each, bottom first,
    (blob digest, members as (path, kind, mode, uid, gid, size, link) in tar order, kept
    contents, inspector results), as `walk_layers` would have met them in the tars."""
    tree = _Tree()
    for index, (digest, members, contents, inspected) in enumerate(layers):
        for path, kind, mode, uid, gid, size, link in members:
            info = FileInfo(path, cast(FileKind, kind), mode, uid, gid, size, link, digest)
            node = tree.put(info, index)
            if path in contents:
                node.content = FileContent(contents[path], digest)
            elif path in inspected:
                node.inspected = FileContent(inspected[path], digest)
    files, kept, found = tree.listing()
    return FileTreeResult(files, kept, (), tuple(d for d, *_ in layers), found)
