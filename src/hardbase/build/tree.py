"""The in-memory image tree: entries read from .deb data archives, keyed by path.

Paths are relative and normalised ("usr/bin/python3"), with the merged-/usr
layout applied: what a package ships under /bin, /sbin or /lib lands in /usr.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

REG, DIR, SYMLINK = "file", "dir", "symlink"
MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Entry:
    path: str
    kind: str
    mode: int
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    data: bytes = b""
    target: str = ""  # symlink target
    owner: str = ""  # package (or "hardbase") that put it there

    def with_owner(self, owner: str) -> Entry:
        return replace(self, owner=owner)


def normalize(name: str) -> str | None:
    """A tar member name as a clean relative path; None for the root or a hostile name."""
    if "\x00" in name or name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return merged_usr("/".join(parts))


def merged_usr(path: str) -> str:
    head, sep, rest = path.partition("/")
    if head in MERGED and sep:
        return f"usr/{head}/{rest}"
    return path


def parents(path: str) -> list[str]:
    """Ancestor directories of `path`, outermost first."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
