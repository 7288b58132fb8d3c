"""The spec's `files:` section: extra files, directories and links in the last layer."""

from __future__ import annotations

from hardbase.build.spec import ImageSpec
from hardbase.build.tree import DIR, REG, SYMLINK, Entry
from hardbase.errors import SpecError

MAX_FILE = 256 << 20


def _mode(value: int | str) -> int:
    return int(value, 8) if isinstance(value, str) else value


def files_entries(spec: ImageSpec, mtime: int) -> list[Entry]:
    base = spec.path.parent.resolve()
    out: list[Entry] = []
    for item in spec.model.files:
        path = item.dst.lstrip("/")
        uid, gid = (int(x) for x in item.owner.split(":"))
        mode = _mode(item.mode)
        if item.type == "dir":
            out.append(Entry(path, DIR, mode if item.mode != 0o644 else 0o755, uid, gid, mtime))
        elif item.type == "symlink":
            if not item.target:
                raise SpecError(f"{spec.path}: files entry {item.dst} is a symlink without target")
            out.append(Entry(path, SYMLINK, 0o777, uid, gid, mtime, target=item.target))
        else:
            if item.content is not None:
                data = item.content.encode()
            elif item.src is not None:
                src = (base / item.src).resolve()
                if not src.is_relative_to(base):
                    raise SpecError(
                        f"{spec.path}: files entry src '{item.src}' is outside the spec's "
                        "directory; copy it next to the spec"
                    )
                if not src.is_file():
                    raise SpecError(f"{spec.path}: files entry src '{item.src}' is not a file")
                if src.stat().st_size > MAX_FILE:
                    raise SpecError(f"{spec.path}: files entry src '{item.src}' is too large")
                data = src.read_bytes()
            else:
                raise SpecError(f"{spec.path}: files entry {item.dst} needs src or content")
            out.append(Entry(path, REG, mode, uid, gid, mtime, data=data))
    return out
