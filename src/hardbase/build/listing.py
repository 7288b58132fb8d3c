"""What a layer holds, as the inventory sees it, recorded while the build writes the layer.

The build's SBOMs come from these listings instead of from reading its layers
back: `layers.write_tar` hands every member to a `Recorder`, which keeps its
metadata, the content of the files the inventory and the SBOM read (dpkg
`status.d`, os-release, Python and npm metadata, copyright files, as
`vuln/inventory.wants` and `sbom/generate.wants_copyright` choose them), the
inspector's result for executables and Java archives, and the parsed licences of
each copyright file: what `oci/filetree.walk_layers` keeps from the same tar.
`tree()` merges the listings of an image's layers into the FileTreeResult the
walk would have built, so the SBOM is the same document, byte for byte.

Listings live in the layer cache by diff_id, under a directory named for the
code that decides what is kept (a change there starts afresh), so a warm build
has them without unpacking anything. A missing or damaged listing is not an
error: the caller reads the image instead.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hardbase.build.tree import DIR, SYMLINK, Entry
from hardbase.oci.layercache import seal, unseal

if TYPE_CHECKING:
    from hardbase.oci.filetree import FileTreeResult
    from hardbase.sbom.licenses import PackageLicenses

log = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"hardbase-layer-listing\n"
_KINDS = {DIR: "dir", SYMLINK: "symlink"}  # the rest are regular files ("file")

# license_expression builds its tokenizer lazily on first use, which is not thread-safe,
# and tiers are built on parallel threads: one parse at a time.
_PARSE_LOCK = threading.Lock()

# (path, kind, mode, uid, gid, size, link), as oci/safetar's Member gives them
Member = tuple[str, str, int, int, int, int, str]


@dataclass
class Listing:
    """One layer's members in tar order, the kept contents and the inspector's results."""

    members: list[Member] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    inspected: dict[str, bytes] = field(default_factory=dict)
    # parsed copyright files by the sha256 of their bytes: (licenses, texts, machine_readable)
    licenses: dict[str, tuple[tuple[str, ...], dict[str, str], bool]] = field(default_factory=dict)


class Recorder:
    """Builds a Listing from the entries `write_tar` writes, in the order it writes them."""

    def __init__(self) -> None:
        from hardbase.oci.filetree import MAX_INSPECT, MAX_KEEP
        from hardbase.sbom.generate import wants_copyright
        from hardbase.vuln.inventory import BinaryInspector, wants

        self.listing = Listing()
        self._wants_copyright = wants_copyright
        self._wants: Callable[[str], bool] = lambda p: wants(p) or wants_copyright(p)
        self._inspector = BinaryInspector()
        self._max_keep, self._max_inspect = MAX_KEEP, MAX_INSPECT

    def add(self, entry: Entry) -> None:
        kind = _KINDS.get(entry.kind, "file")
        size = entry.size if kind == "file" else 0
        link = entry.target if kind == "symlink" else ""
        path = entry.path
        self.listing.members.append(
            (path, kind, entry.mode & 0o7777, entry.uid, entry.gid, size, link)
        )
        if kind != "file":
            return
        if self._wants(path):
            if size > self._max_keep:
                return  # the walk lists such a file but keeps nothing of it
            data = entry.content()
            self.listing.contents[path] = data
            if self._wants_copyright(path):
                self._parse_licenses(data)
        elif self._inspector.wants(path, entry.mode & 0o7777, size) and size <= self._max_inspect:
            found = self._inspector.inspect(path, entry.content())
            if found is not None:
                self.listing.inspected[path] = found

    def _parse_licenses(self, data: bytes) -> None:
        from hardbase.sbom.licenses import parse_copyright

        key = hashlib.sha256(data).hexdigest()
        if key not in self.listing.licenses:
            with _PARSE_LOCK:
                parsed = parse_copyright(data)
            self.listing.licenses[key] = (
                parsed.licenses,
                dict(parsed.texts),
                parsed.machine_readable,
            )


@functools.cache
def code_key() -> str:
    """A hash of the code that decides what a listing keeps (and of this format)."""
    from hardbase.debian import control
    from hardbase.oci import filetree
    from hardbase.sbom import generate, licenses
    from hardbase.vuln import inventory
    from hardbase.vuln.lang import golang, java, rust

    digest = hashlib.sha256(f"{FORMAT}".encode())
    for module in (sys.modules[__name__], filetree, generate, licenses, control, inventory,
                   golang, java, rust):  # fmt: skip
        source = getattr(module, "__file__", None)
        digest.update(module.__name__.encode() + b"\0")
        if source:
            digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:32]


def encode(listing: Listing) -> bytes:
    """The listing as a layer-cache entry (`oci.layercache.seal`)."""
    blob = bytearray()

    def put(data: bytes) -> list[int]:
        blob.extend(data)
        return [len(blob) - len(data), len(data)]

    header = {
        "format": FORMAT,
        "members": listing.members,
        "contents": {p: put(d) for p, d in listing.contents.items()},
        "inspected": {p: put(d) for p, d in listing.inspected.items()},
        "licenses": {k: [list(v[0]), v[1], v[2]] for k, v in listing.licenses.items()},
    }
    return seal(MAGIC, header, bytes(blob))


def decode(data: bytes) -> Listing:
    """The listing in `data`; ValueError when it is not one this code wrote whole."""
    body, header, start = unseal(MAGIC, data, "a layer listing")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError("a listing of another format")
    blob = memoryview(body)[start:]

    def get(ref: list[int]) -> bytes:
        offset, length = ref
        return bytes(blob[offset : offset + length])

    return Listing(
        members=[(m[0], m[1], m[2], m[3], m[4], m[5], m[6]) for m in header["members"]],
        contents={p: get(r) for p, r in header["contents"].items()},
        inspected={p: get(r) for p, r in header["inspected"].items()},
        licenses={k: (tuple(v[0]), dict(v[1]), bool(v[2])) for k, v in header["licenses"].items()},
    )


def tree(layers: Sequence[tuple[str, Listing]]) -> FileTreeResult:
    """The FileTreeResult of layers (blob digest, listing), bottom first, as walk_layers
    builds it from the tars (the build's layers have no whiteouts and no hard links)."""
    from hardbase.oci.filetree import replay_members

    return replay_members(
        [
            (digest, listing.members, listing.contents, listing.inspected)
            for digest, listing in layers
        ]
    )


def licenses_of(layers: Sequence[Listing]) -> Callable[[bytes], PackageLicenses]:
    """`parse_copyright` answered from the listings' parsed copyright files."""
    from hardbase.sbom.licenses import PackageLicenses, parse_copyright

    known = {k: v for listing in layers for k, v in listing.licenses.items()}

    def parse(data: bytes) -> PackageLicenses:
        found = known.get(hashlib.sha256(data).hexdigest())
        if found is None:
            return parse_copyright(data)
        return PackageLicenses(found[0], dict(found[1]), found[2])

    return parse
