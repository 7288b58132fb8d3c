"""Deterministic layer tars and the layer cache."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from hardbase.build.layers import LayerCache, layer_key, tar_entries
from hardbase.build.skeleton import skeleton_entries
from hardbase.build.tree import DIR, REG, SYMLINK, Entry, normalize


def sample(order: int) -> list[Entry]:
    entries = [
        Entry("usr/bin/tool", REG, 0o4755, 0, 0, 1700000000, data=b"#!x"),
        Entry("usr/share/a", REG, 0o644, 0, 0, 1700000500, data=b"a"),
        Entry("etc/link", SYMLINK, 0o777, 0, 0, 1700000000, target="../usr/share/a"),
        Entry("usr", DIR, 0o755, 0, 0, 1600000000),
    ]
    return entries if order == 0 else list(reversed(entries))


def test_same_entries_same_bytes_whatever_the_order() -> None:
    a, _ = tar_entries(sample(0), None)
    b, _ = tar_entries(sample(1), None)
    assert a == b


def test_tar_is_sorted_with_parents_numeric_owners_and_clamped() -> None:
    data, files = tar_entries(sample(0), 1700000100)
    assert files == 2
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {"etc", "usr/bin", "usr/share"} <= set(names)
    for m in members:
        assert m.uname == "" and m.gname == ""
        assert m.mtime <= 1700000100
    tool = next(m for m in members if m.name == "usr/bin/tool")
    assert tool.mode == 0o4755


def test_cache_roundtrip(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    key = layer_key("tier", {"x": 1})
    assert cache.get(key) is None
    tar, files = tar_entries(sample(0), None)
    built = cache.put(key, tar, files)
    again = cache.get(key)
    assert again == built
    assert built.blob.read_bytes()[:2] == b"\x1f\x8b"
    # the same tar compresses to the same blob (fixed gzip header)
    assert cache.put(layer_key("tier", {"x": 2}), tar, files).digest == built.digest


def test_skeleton_accounts_and_tmp() -> None:
    entries = {e.path: e for e in skeleton_entries("amd64", 0)}
    assert entries["tmp"].mode == 0o1777
    passwd = entries["etc/passwd"].data.decode()
    assert "root:x:0:0:" in passwd and "nonroot:x:65532:65532:" in passwd
    assert "nobody:x:65534:65534:" in passwd
    assert entries["home/nonroot"].uid == 65532
    assert entries["bin"].target == "usr/bin"
    assert "lib64" not in {e.path for e in skeleton_entries("arm64", 0)}


def test_normalize_merged_usr_and_hostile_names() -> None:
    assert normalize("./bin/sh") == "usr/bin/sh"
    assert normalize("./lib/x86_64-linux-gnu/libc.so.6") == "usr/lib/x86_64-linux-gnu/libc.so.6"
    assert normalize("./etc/passwd") == "etc/passwd"
    assert normalize("./") is None
    assert normalize("../etc/passwd") is None
    assert normalize("/etc/passwd") is None
    assert normalize("usr/../../x") is None
