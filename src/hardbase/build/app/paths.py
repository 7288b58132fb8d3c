"""App inputs named in the spec: paths relative to the spec, never outside its directory."""

from __future__ import annotations

from pathlib import Path

from hardbase.build.app.interface import AppError


def spec_relative(spec_path: Path, value: str, field: str, context: str | None = None) -> Path:
    """`value` resolved against the spec's directory; refuses paths that leave it.

    `context` (the app section's, relative to the spec) widens the allowed tree
    explicitly, as a build context does: paths are then relative to it.
    """
    base = spec_path.parent.resolve()
    if context is not None:
        base = (base / context).resolve()
    path = (base / value).resolve()
    if not path.is_relative_to(base):
        where = "the spec's directory" if context is None else f"the app context {base}"
        raise AppError(
            f"{spec_path}: app {field} '{value}' is outside {where}; move it next to the spec"
        )
    if not path.exists():
        raise AppError(f"{spec_path}: app {field} '{value}' does not exist")
    return path
