"""Go binaries: the module list the Go toolchain embeds (`go version -m` shows it).

The linker writes a 32-byte header starting `\\xff Go buildinf:` into the data
segment (`.go.buildinfo` on ELF). Since Go 1.18 the toolchain version and the
module text follow it inline as varint-prefixed strings (flag bit 2); before,
the header held two pointers to Go string headers that have to be followed
through the program's load segments. The module text has `path`, `mod`, `dep`,
`=>` (replacement of the line above) and `build` lines, framed by 16-byte
sentinels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardbase.vuln.lang import elf

MAGIC = b"\xff Go buildinf:"
_HEADER = 32
_ALIGN = 16
_MAX_STRING = 16 << 20  # a module list longer than this is not a real one
_DEVEL = "(devel)"


class GoBuildInfoError(ValueError):
    """A Go binary's build information cannot be read."""


@dataclass(frozen=True)
class Module:
    path: str
    version: str


@dataclass(frozen=True)
class GoBinary:
    """What the build information says: toolchain, main package path and module, deps."""

    go_version: str  # as written: "go1.24.4", "go1.25-20250209-RC00 cl/... X:boringcrypto"
    path: str  # the main package: github.com/docker/distribution/cmd/registry
    main: Module | None  # None when built outside module mode (Debian's dh-golang builds)
    deps: tuple[Module, ...]  # replacements applied
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def stdlib_version(self) -> str:
        """`v1.24.4` for go1.24.4, as go.mod and the Go vulnerability database write it."""
        word = self.go_version.split(" ", 1)[0]
        return "v" + word.removeprefix("go")


def looks_like_go(data: bytes) -> bool:
    return MAGIC in data


def parse(data: bytes) -> GoBinary | None:
    """The build information of an ELF Go binary; None when `data` is not one.

    Raises GoBuildInfoError when the magic is there but what follows is not
    readable (truncated, pointers outside the file, malformed module text).
    """
    if not elf.is_elf(data) or MAGIC not in data:
        return None
    try:
        image = elf.parse(data)
    except elf.ElfError as exc:
        raise GoBuildInfoError(str(exc)) from None
    at = _find_header(image)
    if at is None:
        return None
    header = data[at : at + _HEADER]
    if len(header) < _HEADER:
        raise GoBuildInfoError("the build information header is truncated")
    ptr_size, flags = header[14], header[15]
    if flags & 2:
        version, end = _varint_string(data, at + _HEADER)
        mod, _ = _varint_string(data, end)
    else:
        if ptr_size not in (4, 8):
            raise GoBuildInfoError(f"pointer size {ptr_size} is not 4 or 8")
        big = flags & 1
        order = "big" if big else "little"
        try:
            version = _pointer_string(image, header, 16, ptr_size, order)
            mod = _pointer_string(image, header, 16 + ptr_size, ptr_size, order)
        except elf.ElfError as exc:
            raise GoBuildInfoError(str(exc)) from None
    if not version:
        raise GoBuildInfoError("the build information names no Go version")
    if len(mod) >= 33 and mod[-17] == ord("\n"):
        mod = mod[16:-16]
    else:
        mod = b""
    try:
        text = mod.decode("utf-8")
        go_version = version.decode("utf-8")
    except UnicodeDecodeError:
        raise GoBuildInfoError("the build information is not UTF-8") from None
    if not re.match(r"^(?:go|devel )", go_version):
        raise GoBuildInfoError(f"{go_version[:40]!r} is not a Go version")
    return _parse_modinfo(go_version, text)


def _find_header(image: elf.Elf) -> int | None:
    section = image.sections.get(".go.buildinfo")
    if section is not None and image.data[section[0] : section[0] + len(MAGIC)] == MAGIC:
        return section[0]
    at = image.data.find(MAGIC)
    while at >= 0:
        if at % _ALIGN == 0:
            return at
        at = image.data.find(MAGIC, at + 1)
    return None


def _varint_string(data: bytes, at: int) -> tuple[bytes, int]:
    length = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise GoBuildInfoError("a build information string length is truncated")
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    if length > _MAX_STRING or at + length > len(data):
        raise GoBuildInfoError("a build information string runs past the end of the file")
    return data[at : at + length], at + length


def _pointer_string(image: elf.Elf, header: bytes, at: int, size: int, order: str) -> bytes:
    # header[at] points at a Go string header {data pointer, length} in the image's memory
    pointer = int.from_bytes(header[at : at + size], order)  # type: ignore[arg-type]
    string_header = image.read(pointer, 2 * size)
    address = int.from_bytes(string_header[:size], order)  # type: ignore[arg-type]
    length = int.from_bytes(string_header[size:], order)  # type: ignore[arg-type]
    if length == 0:
        return b""
    if length > _MAX_STRING:
        raise GoBuildInfoError("a build information string is implausibly long")
    return image.read(address, length)


def _parse_modinfo(go_version: str, text: str) -> GoBinary:
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    last: str = ""  # what a `=>` line replaces: "mod" or "dep"
    for number, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            path = rest
        elif kind in ("mod", "dep"):
            if len(fields) not in (2, 3) or not fields[0] or not fields[1]:
                raise GoBuildInfoError(f"line {number} of the module list is malformed")
            module = Module(fields[0], fields[1])
            if kind == "mod":
                main = module
            else:
                deps.append(module)
            last = kind
        elif kind == "=>":
            if len(fields) not in (2, 3) or not fields[0] or not last:
                raise GoBuildInfoError(f"line {number} of the module list is malformed")
            replacement = Module(fields[0], fields[1])
            if last == "mod":
                main = replacement
            else:
                deps[-1] = replacement
            last = ""
        elif kind == "build":
            key, _, value = rest.partition("=")
            settings.append((key, value))
        else:
            raise GoBuildInfoError(f"line {number} of the module list starts with {kind[:20]!r}")
    if main is not None and main.version == _DEVEL:
        main = Module(main.path, "")
    deps = [Module(d.path, "") if d.version == _DEVEL else d for d in deps]
    return GoBinary(go_version, path, main, tuple(deps), tuple(settings))
