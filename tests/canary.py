"""Host canaries for hostile-input tests: prove that nothing outside the target changed.

A test that feeds hardbase a hostile archive, lock file or layout takes the
`host_canary` fixture (tests/conftest.py). It gets a canary directory, placed
where an escaping write would land (the test points its symlinks and `..`
members at it), and the fixture fails the test if, afterwards, anything in
that directory was created, removed or changed, or if the host's `/dev/null`
is no longer the character device 1:3 that it was.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

DEV_NULL = Path("/dev/null")


def _entry(path: Path) -> tuple[object, ...]:
    st = path.lstat()
    kind = stat.S_IFMT(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        content: object = hashlib.sha256(path.read_bytes()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        content = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        content = st.st_rdev
    else:
        content = None
    return (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, content)


def fingerprint(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below `root` (not following symlinks): type, mode, owner, mtime, content."""
    prints = {".": _entry(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            prints[str(path.relative_to(root))] = _entry(path)
    return prints


def dev_null_print() -> tuple[object, ...]:
    """/dev/null's type, device numbers and mode (not its times, which every write changes)."""
    st = DEV_NULL.lstat()
    return (stat.S_IFMT(st.st_mode), st.st_rdev, stat.S_IMODE(st.st_mode), st.st_uid)


@dataclass
class HostCanary:
    """A canary directory with some content, and the fingerprints taken before the test."""

    root: Path
    before: dict[str, tuple[object, ...]] = field(default_factory=dict)
    null_before: tuple[object, ...] = ()

    @classmethod
    def plant(cls, root: Path) -> HostCanary:
        root.mkdir(parents=True, exist_ok=True)
        (root / "keep").write_text("canary: must not change\n")
        (root / "sub").mkdir(exist_ok=True)
        (root / "sub" / "file").write_text("canary: must not change\n")
        canary = cls(root)
        canary.before = fingerprint(root)
        canary.null_before = dev_null_print()
        assert stat.S_ISCHR(DEV_NULL.lstat().st_mode), "/dev/null is not a device before the test"
        return canary

    def changes(self) -> list[str]:
        """What changed since `plant`, as sentences; empty when nothing did."""
        problems: list[str] = []
        after = fingerprint(self.root) if self.root.exists() else {}
        for name in sorted(set(self.before) | set(after)):
            if name not in after:
                problems.append(f"canary {name} was removed")
            elif name not in self.before:
                problems.append(f"canary {name} was created")
            elif after[name] != self.before[name] and name != ".":
                problems.append(f"canary {name} was changed")
        if dev_null_print() != self.null_before:
            problems.append(f"/dev/null changed: {dev_null_print()} != {self.null_before}")
        return problems

    def check(self) -> None:
        problems = self.changes()
        assert not problems, "; ".join(problems)
