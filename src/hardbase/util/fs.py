"""Safe writes on the host: atomic files (absent or complete, never half written), and
`RootDir`, which writes a tree below a directory without ever following a symlink;
and the one bounded read of a cache entry, which a damaged entry never crashes."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from hardbase.errors import HardbaseError

log = logging.getLogger(__name__)

T = TypeVar("T")
# what a decoder of a damaged entry raises (struct.error, a bad offset, a missing key, …)
DECODE_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces `path` only if the block completes.

    A `path` that is not a regular file, such as `-o /dev/null`, `/dev/stdout` or
    a named pipe, is written in place: renaming a temp file over it would put a
    plain file where the device or pipe was (it once turned the host's /dev/null
    into a regular file).
    """
    if _is_special(path):
        with path.open("wb") as fh:
            yield fh
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _is_special(path: Path) -> bool:
    """True for a path that exists and is neither a regular file nor a directory."""
    try:
        kind = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(kind) or stat.S_ISDIR(kind))


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically."""
    with atomic_writer(path, mode) as fh:
        fh.write(data)


def read_cache_entry(
    path: Path,
    limit: int,
    decode: Callable[[bytes], T],
    *,
    cache: str,
    instead: str,
    errors: tuple[type[Exception], ...] = DECODE_ERRORS,
) -> T | None:
    """The entry at `path` as `decode` reads it, or None when there is none to use.

    A missing entry is None in silence; one that cannot be read, is larger than
    `limit` bytes, or that `decode` rejects (raising one of `errors`) is None with
    a warning that names the `cache` ("layer", "licence") and what the caller does
    `instead` ("reading the layer"). A damaged cache slows a run; it never fails it.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the %s cache entry %s (%s); %s", cache, path, exc.strerror,
                    instead)  # fmt: skip
        return None
    try:
        if len(data) > limit:
            raise ValueError(f"larger than {limit} bytes, the most an entry holds")
        return decode(data)
    except errors as exc:
        log.warning("ignoring the %s cache entry %s: %s; %s again", cache, path, exc, instead)
        return None


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically, never replacing a file that exists.

    The content goes to a temp file that is hard-linked into place, so the link
    fails with FileExistsError when `path` exists, even if it appeared after a
    check; a reader sees either no file or the whole of it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of the file at `path`, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


class RootPathError(HardbaseError):
    """A write below a RootDir would go through a symlink or a non-directory."""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class RootDir:
    """A directory on the host that hardbase writes below, never through a symlink.

    Every path is relative to the root and walked one component at a time from
    the root's file descriptor (`openat` with O_NOFOLLOW), so a symlink on the
    way, whoever planted it, is refused instead of followed, and nothing the
    host would resolve (`Path.resolve`, a cache of checked directories) is
    trusted. The last component is never followed either: a symlink there is
    replaced, never written through.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, _DIR_FLAGS)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RootDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def mkdir(self, rel: str, mode: int = 0o755, *, uid: int = -1, gid: int = -1) -> None:
        """Make directory `rel` (and missing parents); a symlink already there stays a link."""
        with self._parent(rel) as (fd, name):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=fd)
            try:
                dirfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if _is_link(fd, name):
                    return  # a directory entry over a link keeps the link, as dpkg does
                raise RootPathError(f"/{rel} exists and is not a directory") from exc
            try:
                os.fchmod(dirfd, mode & 0o7777)
                if uid >= 0 or gid >= 0:
                    os.fchown(dirfd, uid, gid)
            finally:
                os.close(dirfd)

    def write(self, rel: str, data: bytes | IO[bytes], mode: int = 0o644) -> None:
        """Write file `rel` (bytes, or a stream copied in chunks), replacing whatever was at
        that path (a symlink is not followed)."""
        with self._parent(rel) as (fd, name):
            _clear(fd, name)
            out = os.open(name, _NEW_FILE, 0o600, dir_fd=fd)
            with os.fdopen(out, "wb") as fh:
                if isinstance(data, bytes):
                    fh.write(data)
                else:
                    shutil.copyfileobj(data, fh, 1 << 20)
                os.fchmod(fh.fileno(), mode & 0o7777)

    def symlink(self, rel: str, target: str) -> None:
        """Make `rel` a symlink to `target` (never resolved here), replacing what was there."""
        with self._parent(rel) as (fd, name):
            _clear(fd, name)
            os.symlink(target, name, dir_fd=fd)

    def ensure_file(self, rel: str, mode: int = 0o644) -> None:
        """Make `rel` a regular file unless it is one already (say, a bind-mount target)."""
        with self._parent(rel) as (fd, name):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    return
            _clear(fd, name)
            os.close(os.open(name, _NEW_FILE, mode, dir_fd=fd))

    @contextlib.contextmanager
    def _parent(self, rel: str) -> Iterator[tuple[int, str]]:
        """The open parent directory of `rel` (made if missing) and `rel`'s last name."""
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") or "\0" in p for p in parts):
            raise RootPathError(f"'{rel}' is not a plain relative path below {self.path}")
        fd = os.dup(self._fd)
        try:
            for depth, part in enumerate(parts[:-1], 1):
                child = _open_dir(fd, part, rel, "/".join(parts[:depth]))
                os.close(fd)
                fd = child
            yield fd, parts[-1]
        finally:
            os.close(fd)


def _open_dir(fd: int, name: str, rel: str, where: str) -> int:
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.mkdir(name, 0o755, dir_fd=fd)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        kind = "a symlink" if _is_link(fd, name) else "not a directory"
        raise RootPathError(f"/{rel} would be written through /{where}, which is {kind}") from exc


def _is_link(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _clear(fd: int, name: str) -> None:
    """Remove what is at `name` in directory `fd`: a file, a symlink (not its target), a tree."""
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=fd)  # fd-based: never follows a symlink inside
    else:
        os.unlink(name, dir_fd=fd)
