"""Deterministic layer tars and the layer cache."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from isal import igzip

from hardbase.build import layers
from hardbase.build.layers import LayerCache, gzip_bytes, layer_key, tar_entries
from hardbase.build.skeleton import skeleton_entries
from hardbase.build.tree import DIR, REG, SYMLINK, Entry, Spool, normalize


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


def test_a_cache_record_with_a_bad_digest_is_a_miss(tmp_path: Path) -> None:
    import json

    cache = LayerCache(tmp_path)
    key = layer_key("tier", {"x": 1})
    tar, files = tar_entries(sample(0), None)
    built = cache.put(key, tar, files)
    meta_path = tmp_path / "keys" / f"{key}.json"
    meta = json.loads(meta_path.read_bytes())
    for field in ("digest", "diff_id"):
        meta_path.write_text(json.dumps({**meta, field: "sha256:../../outside"}))
        assert cache.get(key) is None  # and the layer is built again, never read from there
    meta_path.write_text(json.dumps(meta))
    assert cache.get(key) == built


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


def spooled(path: str, data: bytes) -> Entry:
    """An entry whose content lives in a spool file, as read_package makes large members."""
    payload = Spool().append(io.BytesIO(data), len(data))
    return Entry(path, REG, 0o644, 0, 0, 1700000000, payload=payload)


def test_streamed_write_of_a_small_layer_is_the_one_shot_blob(tmp_path: Path) -> None:
    # Up to IN_MEMORY the streaming writer gives the bytes gzip_bytes(tar_entries) gave.
    big = os.urandom(3 << 20)
    entries = [*sample(0), spooled("usr/lib/big", big)]
    tar, files = tar_entries(entries, None)
    in_memory = Entry("usr/lib/big", REG, 0o644, 0, 0, 1700000000, data=big)
    assert tar == tar_entries([*sample(0), in_memory], None)[0]
    one_shot = LayerCache(tmp_path / "a").put("k", tar, files)
    streamed = LayerCache(tmp_path / "b").write("k", entries, None)
    assert streamed.blob.read_bytes() == one_shot.blob.read_bytes() == gzip_bytes(tar)
    assert (streamed.digest, streamed.diff_id, streamed.files) == (
        one_shot.digest,
        one_shot.diff_id,
        files,
    )


def test_large_layer_is_compressed_in_fixed_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over IN_MEMORY the tar goes to the blob in CHUNK pieces: valid gzip of the same tar,
    # the same blob every time, and no temp file left beside the blobs.
    monkeypatch.setattr(layers, "IN_MEMORY", 1 << 20)
    big = os.urandom(2 << 20) + bytes(5 << 20)
    entries = [*sample(0), spooled("usr/lib/big", big)]
    tar, files = tar_entries(entries, None)
    cache = LayerCache(tmp_path / "a")
    first = cache.write("k", entries, None)
    again = LayerCache(tmp_path / "b").write("k", list(reversed(entries)), None)
    blob = first.blob.read_bytes()
    assert igzip.decompress(blob) == tar
    assert first.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert first.digest == "sha256:" + hashlib.sha256(blob).hexdigest() == again.digest
    assert first.size == len(blob) and first.files == files == 3
    assert blob[:10] == gzip_bytes(b"")[:10]  # the fixed header: no name, mtime 0
    assert subprocess.run(["gzip", "-t", str(first.blob)], check=False).returncode == 0
    assert cache.get("k") == first
    assert sorted(p.name for p in (tmp_path / "a" / "blobs").iterdir()) == [first.digest[7:]]


def test_spooled_payload_reads_back_in_chunks() -> None:
    data = os.urandom((1 << 20) * 2 + 123)
    entry = spooled("usr/lib/x", data)
    assert entry.payload is not None and entry.data == b""
    assert entry.size == len(data)
    assert entry.payload.sha256 == hashlib.sha256(data).hexdigest()
    assert entry.content() == data
    with entry.open() as fh:
        assert fh.read(10) == data[:10]
        assert fh.read() == data[10:]
    assert [len(c) for c in entry.payload.chunks()] == [1 << 20, 1 << 20, 123]
    # equal when size and sha256 are, wherever the bytes are stored
    assert spooled("usr/lib/x", data) == entry
    assert spooled("usr/lib/x", data[:-1] + b"!") != entry
