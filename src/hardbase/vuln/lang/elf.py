"""Just enough ELF to find a named section and read memory by virtual address.

Input is an untrusted file from an image: every offset is bounds-checked, and a
malformed header raises `ElfError` (a ValueError) instead of reading past the end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"\x7fELF"
_MAX_SECTIONS = 4096
_MAX_SEGMENTS = 512


class ElfError(ValueError):
    """The file is not an ELF file hardbase can read."""


@dataclass(frozen=True)
class _Segment:
    vaddr: int
    offset: int
    filesz: int
    memsz: int


@dataclass(frozen=True)
class Elf:
    """An ELF file's bytes, byte order, word size, sections (name → slice) and loads."""

    data: bytes
    little: bool
    wordsize: int  # 4 or 8
    sections: dict[str, tuple[int, int]]  # name → (file offset, size)
    segments: tuple[_Segment, ...]

    def section(self, name: str) -> bytes | None:
        found = self.sections.get(name)
        if found is None:
            return None
        offset, size = found
        return self.data[offset : offset + size]

    def read(self, vaddr: int, size: int) -> bytes:
        """`size` bytes at virtual address `vaddr` of a PT_LOAD segment (zeros past its
        file data, as the loader maps .bss)."""
        for seg in self.segments:
            if seg.vaddr <= vaddr and vaddr + size <= seg.vaddr + max(seg.memsz, seg.filesz):
                start = vaddr - seg.vaddr
                chunk = b""
                if start < seg.filesz:
                    stop = min(start + size, seg.filesz)
                    chunk = self.data[seg.offset + start : seg.offset + stop]
                    if len(chunk) != stop - start:
                        break  # the segment claims more file data than the file has
                return chunk + bytes(size - len(chunk))
        raise ElfError(f"address {vaddr:#x} is not in the file")

    def word(self, raw: bytes) -> int:
        return int.from_bytes(raw, "little" if self.little else "big")


def is_elf(data: bytes) -> bool:
    return data[:4] == MAGIC


def parse(data: bytes) -> Elf:
    """The section and segment tables of `data` (an ELF file)."""
    if len(data) < 52 or not is_elf(data):
        raise ElfError("not an ELF file")
    klass, order = data[4], data[5]
    if klass not in (1, 2) or order not in (1, 2):
        raise ElfError("unknown ELF class or byte order")
    wide = klass == 2
    end = "<" if order == 1 else ">"
    try:
        if wide:
            phoff, shoff = struct.unpack_from(end + "QQ", data, 0x20)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                end + "HHHHH", data, 0x36
            )
        else:
            phoff, shoff = struct.unpack_from(end + "II", data, 0x1C)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                end + "HHHHH", data, 0x2A
            )
        segments = _segments(data, end, wide, phoff, phentsize, min(phnum, _MAX_SEGMENTS))
        sections = _sections(data, end, wide, shoff, shentsize, min(shnum, _MAX_SECTIONS), shstrndx)
    except struct.error as exc:
        raise ElfError(f"truncated ELF header ({exc})") from None
    return Elf(data, order == 1, 8 if wide else 4, sections, segments)


def _segments(
    data: bytes, end: str, wide: bool, off: int, size: int, count: int
) -> tuple[_Segment, ...]:
    out = []
    for i in range(count):
        at = off + i * size
        if wide:
            p_type, _, p_offset, p_vaddr, _, p_filesz, p_memsz = struct.unpack_from(
                end + "IIQQQQQ", data, at
            )
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, p_memsz = struct.unpack_from(
                end + "IIIIII", data, at
            )
        if p_type == 1:  # PT_LOAD
            out.append(_Segment(p_vaddr, p_offset, p_filesz, p_memsz))
    return tuple(out)


def _sections(
    data: bytes, end: str, wide: bool, off: int, size: int, count: int, strndx: int
) -> dict[str, tuple[int, int]]:
    if off == 0 or count == 0 or strndx >= count:
        return {}  # stripped of section headers: callers fall back to searching
    raw: list[tuple[int, int, int]] = []
    for i in range(count):
        at = off + i * size
        if wide:
            name, _, _, _, offset, sh_size = struct.unpack_from(end + "IIQQQQ", data, at)
        else:
            name, _, _, _, offset, sh_size = struct.unpack_from(end + "IIIIII", data, at)
        raw.append((name, offset, sh_size))
    _, str_off, str_size = raw[strndx]
    names = data[str_off : str_off + str_size]
    out: dict[str, tuple[int, int]] = {}
    for name_at, offset, sh_size in raw:
        stop = names.find(b"\0", name_at)
        if stop < 0 or offset + sh_size > len(data):
            continue  # NOBITS sections (.bss) and bad entries carry no file data
        out.setdefault(names[name_at:stop].decode("latin-1"), (offset, sh_size))
    return out
