"""safetar: hostile members are skipped and counted, corrupt streams fail with one ImageError."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import logging
import lzma

import pytest

from data.images.fixture_images import (
    Entry,
    device,
    directory,
    fifo,
    file,
    gz,
    hardlink,
    symlink,
    tar_bytes,
    zst,
)
from hardbase.errors import ImageError
from hardbase.oci.safetar import (
    LayerReader,
    Limits,
    detect_compression,
    link_escapes,
    normalize_name,
)

WHERE = "layer sha256:fixture of oci:fixture"


def read_all(blob: bytes, limits: Limits | None = None) -> tuple[LayerReader, dict[str, bytes]]:
    reader = LayerReader(io.BytesIO(blob), WHERE, limits=limits or Limits())
    contents = {}
    for member in reader:
        contents[member.path] = reader.read() if member.kind == "file" else b""
    return reader, contents


CLEAN = tar_bytes(
    [
        directory("./etc"),
        file("./etc/hostname", "fixture\n"),
        symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
        symlink("usr/bin/sh", "../../bin/dash"),
        hardlink("etc/hostname2", "./etc/hostname"),
        file("usr/bin/su", "x", mode=0o4755),
    ]
)


@pytest.mark.parametrize(
    ("blob", "compression"),
    [
        (CLEAN, "none"),
        (gz(CLEAN), "gzip"),
        (zst(CLEAN), "zstd"),
        (lzma.compress(CLEAN), "xz"),
        (bz2.compress(CLEAN), "bzip2"),
    ],
)
def test_reads_every_compression_by_magic(blob: bytes, compression: str) -> None:
    reader, contents = read_all(blob)
    assert reader.compression == compression
    assert contents["etc/hostname"] == b"fixture\n"
    assert sorted(contents) == [
        "etc",
        "etc/hostname",
        "etc/hostname2",
        "etc/localtime",
        "usr/bin/sh",
        "usr/bin/su",
    ]
    assert reader.diff_id == "sha256:" + hashlib.sha256(CLEAN).hexdigest()
    assert reader.expanded == len(CLEAN)
    assert not reader.skipped


def test_member_fields_are_normalised() -> None:
    reader = LayerReader(io.BytesIO(CLEAN), WHERE)
    members = {m.path: m for m in reader}
    assert members["etc/hostname2"].kind == "hardlink"
    assert members["etc/hostname2"].link == "etc/hostname"
    assert members["usr/bin/su"].mode == 0o4755
    assert members["etc/localtime"].link == "/usr/share/zoneinfo/UTC"


def test_normalize_name() -> None:
    assert normalize_name("./usr//bin/./python3/") == ("usr/bin/python3", "")
    assert normalize_name("./") == ("", "")
    assert normalize_name("/etc/passwd")[1] == "absolute name"
    assert normalize_name("usr/../../etc")[1] == "name has a '..' component"
    assert normalize_name("etc/pass\x00wd")[1] == "name contains a NUL byte"


def test_link_escapes() -> None:
    assert not link_escapes("usr/bin/sh", "/bin/dash")  # absolute: resolved in the image
    assert not link_escapes("usr/bin/sh", "../../bin/dash")
    assert link_escapes("usr/bin/sh", "../../../etc/shadow")
    assert link_escapes("evil", "..")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (file("../escape", "x"), "'..'"),
        (file("usr/../../escape", "x"), "'..'"),
        (file("/etc/absolute", "x"), "absolute"),
        (symlink("etc/evil", "../../../../etc/shadow"), "escapes the image root"),
        (hardlink("etc/evil", "../../etc/shadow"), "escapes the root"),
        (hardlink("etc/evil", "/etc/shadow"), "escapes the root"),
        (device("dev/sda"), "device file"),
        (fifo("run/pipe"), "fifo"),
    ],
)
def test_hostile_member_is_skipped_with_a_warning(
    entry: Entry, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    blob = gz(tar_bytes([file("before", "1"), entry, file("after", "2")]))
    with caplog.at_level(logging.WARNING, logger="hardbase.oci.safetar"):
        reader, contents = read_all(blob)
    assert contents == {"before": b"1", "after": b"2"}
    assert len(reader.skipped) == 1
    assert reason in reader.skipped[0].reason
    assert any(reason in r.getMessage() and WHERE in r.getMessage() for r in caplog.records)


def test_member_over_the_per_file_limit_is_skipped() -> None:
    blob = tar_bytes([file("big", b"x" * 5000), file("small", "ok")])
    reader, contents = read_all(blob, Limits(max_file=4096))
    assert contents == {"small": b"ok"}
    assert "larger than 4096" in reader.skipped[0].reason


def test_expansion_past_the_total_limit_fails() -> None:
    bomb = gz(tar_bytes([file("zeros", bytes(4 << 20))]))  # fixture: 4 MiB of zeros, ~4 KiB gz
    assert len(bomb) < 64 << 10
    with pytest.raises(ImageError) as err:
        read_all(bomb, Limits(max_total=1 << 20))
    assert WHERE in str(err.value)
    assert "expands past 1048576 bytes" in str(err.value)


TWO_FILES = tar_bytes([file("a", b"a" * 3000), file("b", bytes(range(256)) * 40)])


@pytest.mark.parametrize(
    "truncated",
    [
        gz(TWO_FILES)[:-40],  # truncated gzip
        zst(TWO_FILES)[:-40],  # truncated zstd frame
        TWO_FILES[:6000],  # plain tar cut inside the data of the last member
    ],
    ids=["gzip", "zstd", "tar"],
)
def test_truncated_stream_fails_naming_the_layer(truncated: bytes) -> None:
    with pytest.raises(ImageError) as err:
        read_all(truncated)
    message = err.value.diagnostics()
    assert WHERE in message
    assert "\n" not in message


def test_tar_cut_at_a_header_boundary_fails() -> None:
    # tarfile alone would take a missing end-of-archive marker for a clean end
    tar = tar_bytes([file("a", b"a" * 512), file("b", b"b" * 512)])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_all(tar[:1024])


def test_garbage_fails() -> None:
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_all(b"\x1f\x8b" + b"garbage" * 100)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_all(b"not a tar at all" * 100)


def test_empty_layer_has_no_members() -> None:
    reader, contents = read_all(b"")
    assert contents == {}
    reader, contents = read_all(gz(tar_bytes([])))
    assert contents == {}


def test_detect_compression() -> None:
    assert detect_compression(b"\x1f\x8b\x08") == "gzip"
    assert detect_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert detect_compression(b"usr/") == "none"


def test_a_blob_larger_than_the_read_ahead_is_streamed_from_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A blob whose compressed size alone is over IN_MEMORY cannot fit: its first
    # IN_MEMORY bytes are not read ahead (and held), the tar is streamed at once.
    from hardbase.oci import safetar

    blob = gz(tar_bytes([file(f"f{i}", bytes([i]) * 4096) for i in range(64)]))
    _, expected = read_all(blob)
    monkeypatch.setattr(safetar, "IN_MEMORY", len(blob) - 1)
    read_ahead: list[int] = []
    real = safetar._read_up_to

    def spy(counter: safetar._Counting, limit: int) -> bytes | None:
        read_ahead.append(limit)
        return real(counter, limit)

    monkeypatch.setattr(safetar, "_read_up_to", spy)
    reader = LayerReader(io.BytesIO(blob), WHERE, size=len(blob))
    got = {m.path: reader.read() for m in reader}
    assert got == expected
    assert not read_ahead
    assert reader.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    # without the size (or with a small one) the read-ahead is tried as before
    reader = LayerReader(io.BytesIO(blob), WHERE)
    assert {m.path: reader.read() for m in reader} == expected
    assert read_ahead == [len(blob) - 1]
