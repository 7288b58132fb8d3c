"""Reading .deb files: real ones built by dpkg-deb, and hostile or broken ones."""

from __future__ import annotations

import bz2
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from archive_fixture import FixtureArchive, write_ar
from hardbase.debian.deb import open_data_tar, read_control, read_members
from hardbase.errors import ArchiveError

HELLO = b"#!/bin/true\n"
FILES: dict[str, bytes | str] = {"/usr/bin/hello": HELLO, "/usr/share/doc/hello/copyright": "PD\n"}


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _control_tar() -> bytes:
    return _tar({"./control": b"Package: x\nVersion: 1\nArchitecture: all\n"})


@pytest.mark.parametrize("compression", ["xz", "zstd", "gzip", "none"])
def test_reads_control_and_data_of_real_debs(
    fixture_archive: FixtureArchive, compression: str
) -> None:
    deb = fixture_archive.add_package(
        "hello", "1:2.10-3", depends="libc6", files=FILES, modes={"/usr/bin/hello": 0o755},
        symlinks={"/usr/bin/hi": "hello"}, compression=compression,
    )  # fmt: skip
    path = fixture_archive.path_of(deb)
    control, md5sums = read_control(path)
    assert "Package: hello\n" in control and "Depends: libc6\n" in control
    assert md5sums is not None
    assert f"{hashlib.md5(HELLO).hexdigest()}  usr/bin/hello" in md5sums.decode()
    seen = {}
    with open_data_tar(path) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                seen[name] = (extracted.read(), member.mode)
            elif member.issym():
                seen[name] = (member.linkname.encode(), member.mode)
    assert seen["usr/bin/hello"] == (b"#!/bin/true\n", 0o755)
    assert seen["usr/share/doc/hello/copyright"][0] == b"PD\n"
    assert seen["usr/bin/hi"][0] == b"hello"
    assert [m.name for m in read_members(path)][0] == "debian-binary"


def test_reads_bz2_data_and_uncompressed_control(tmp_path: Path) -> None:
    data = bz2.compress(_tar({"./etc/motd": b"hi\n"}))
    deb = write_ar(tmp_path / "x.deb", [
        ("debian-binary", b"2.0\n"), ("control.tar", _control_tar()), ("data.tar.bz2", data),
    ])  # fmt: skip
    assert read_control(deb) == ("Package: x\nVersion: 1\nArchitecture: all\n", None)
    with open_data_tar(deb) as tar:
        assert [m.name for m in tar] == ["./etc/motd"]


def test_garbage_is_not_a_deb(tmp_path: Path) -> None:
    path = tmp_path / "garbage.deb"
    path.write_bytes(b"this is not a deb at all" * 10)
    with pytest.raises(ArchiveError, match="is not a .deb"):
        read_control(path)
    with pytest.raises(ArchiveError, match="is not a .deb"):
        with open_data_tar(path):
            pass


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="cannot read .*nope.deb"):
        read_control(tmp_path / "nope.deb")


def test_truncated_deb(fixture_archive: FixtureArchive, tmp_path: Path) -> None:
    deb = fixture_archive.add_package("hello", "1", files=FILES)
    data = fixture_archive.path_of(deb).read_bytes()
    cut = tmp_path / "cut.deb"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(ArchiveError, match="truncated"):
        read_control(cut)


def test_member_size_beyond_the_file(tmp_path: Path) -> None:
    path = write_ar(tmp_path / "x.deb", [("debian-binary", b"2.0\n")])
    raw = bytearray(path.read_bytes())
    raw[8 + 48 : 8 + 58] = b"999999    "
    path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="truncated: member 'debian-binary' needs 999999"):
        read_control(path)


def test_bad_member_header(tmp_path: Path) -> None:
    path = write_ar(tmp_path / "x.deb", [("debian-binary", b"2.0\n")])
    raw = bytearray(path.read_bytes())
    raw[8 + 58 : 8 + 60] = b"XX"
    path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="bad ar member header"):
        read_control(path)


def test_wrong_format_version(tmp_path: Path) -> None:
    deb = write_ar(tmp_path / "x.deb", [
        ("debian-binary", b"3.0\n"), ("control.tar", _control_tar()), ("data.tar", _tar({})),
    ])  # fmt: skip
    with pytest.raises(ArchiveError, match="format b?'3.0'"):
        read_control(deb)


def test_first_member_must_be_debian_binary(tmp_path: Path) -> None:
    deb = write_ar(tmp_path / "x.deb", [("control.tar", _control_tar())])
    with pytest.raises(ArchiveError, match="first member is not debian-binary"):
        read_control(deb)


def test_unknown_compression(tmp_path: Path) -> None:
    deb = write_ar(tmp_path / "x.deb", [
        ("debian-binary", b"2.0\n"), ("control.tar", _control_tar()), ("data.tar.lz4", b"x"),
    ])  # fmt: skip
    with pytest.raises(ArchiveError, match="data.tar.lz4, a compression hardbase does not read"):
        with open_data_tar(deb):
            pass


def test_corrupt_compressed_data(tmp_path: Path) -> None:
    deb = write_ar(tmp_path / "x.deb", [
        ("debian-binary", b"2.0\n"), ("control.tar", _control_tar()),
        ("data.tar.xz", b"\xfd7zXZ\x00" + b"\x00" * 200),
    ])  # fmt: skip
    with pytest.raises(ArchiveError, match="data.tar.xz of .*x.deb"):
        with open_data_tar(deb) as tar:
            list(tar)


def test_corruption_found_while_iterating_is_an_archive_error(
    fixture_archive: FixtureArchive, tmp_path: Path
) -> None:
    big: dict[str, bytes | str] = {
        f"/usr/share/hello/{i}": bytes(range(256)) * 400 * (i + 1) for i in range(8)
    }
    deb = fixture_archive.add_package("hello", "1", files=big, compression="gzip")
    path = fixture_archive.path_of(deb)
    members = {m.name: m for m in read_members(path)}
    data = members["data.tar.gz"]
    raw = bytearray(path.read_bytes())
    for i in range(data.offset + data.size // 2, data.offset + data.size // 2 + 64):
        raw[i] ^= 0x55
    broken = tmp_path / "broken.deb"
    broken.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="data.tar.gz of .*broken.deb"):
        with open_data_tar(broken) as tar:
            for member in tar:
                extracted = tar.extractfile(member)
                if extracted is not None:
                    extracted.read()


def test_control_without_control_file(tmp_path: Path) -> None:
    deb = write_ar(tmp_path / "x.deb", [
        ("debian-binary", b"2.0\n"), ("control.tar", _tar({"./postinst": b"#!/bin/sh\n"})),
        ("data.tar", _tar({})),
    ])  # fmt: skip
    with pytest.raises(ArchiveError, match="has no control file"):
        read_control(deb)
