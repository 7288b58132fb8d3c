"""util/fs.atomic_writer on paths that are not regular files: they are written in place.

Renaming a temp file over `-o /dev/null` once turned the host's /dev/null into a
regular file, and every later tool that wrote to it (apt inside mmdebstrap, for
one) failed. A named pipe stands for any such path; /dev/null itself is checked
with the host canary, and put back if a regression replaced it.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from hardbase.util.fs import atomic_writer, write_atomic


def test_a_named_pipe_is_written_not_replaced(tmp_path: Path) -> None:
    pipe = tmp_path / "out.fifo"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()), daemon=True)
    reader.start()
    write_atomic(pipe, b"document\n")
    reader.join(timeout=10)
    assert stat.S_ISFIFO(pipe.lstat().st_mode), "the pipe was replaced by a file"
    assert got == [b"document\n"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]


def test_dev_null_stays_the_device(host_canary: object) -> None:
    null = Path("/dev/null")
    try:
        write_atomic(null, b"discarded\n")
        with atomic_writer(null) as fh:
            fh.write(b"discarded too\n")
        assert stat.S_ISCHR(null.lstat().st_mode)
        assert not list(Path("/dev").glob(".null.*.tmp"))
    finally:
        if not stat.S_ISCHR(null.lstat().st_mode):  # a regression: give the host its device back
            null.unlink()
            os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.chmod(null, 0o666)


def test_a_regular_file_is_still_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]
