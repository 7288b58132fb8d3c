"""Validating YAML documents (specs, fleets, policies) with field-level errors."""

from __future__ import annotations

from typing import Any, TypeVar

from hardbase.errors import SpecError

M = TypeVar("M")


def validate(model: type[M], data: Any, where: str, what: str) -> M:
    """`model.model_validate(data)`, or a SpecError naming the first bad field."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise SpecError(f"{where}: {what} must be a YAML mapping")
    try:
        result: M = model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SpecError(f"{where}: field '{loc}': {first['msg']}{more}") from None
    return result
