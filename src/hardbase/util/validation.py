"""Validating YAML documents (specs, fleets, policies) with field-level errors.

Every problem is reported, each with its field path (`images.1.tags`), and a
field name that is not in the schema gets the closest one it has ("did you
mean 'packages'?"), as a spelling slip is the most common cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from hardbase.errors import HardbaseError, SpecError

M = TypeVar("M")
E = TypeVar("E", bound=StrEnum)


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.75) -> str:
    """` (did you mean 'X'?)` for the closest of `choices`, or '' when none is close."""
    import difflib  # only on an error; its import costs a command's start-up

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def stored(kind: type[E], value: str, error: type[HardbaseError], what: str, hint: str) -> E:
    """`kind(value)` for a value read back from a database; one that this hardbase does
    not know is `error` ("the state database has a job in state 'x', ...; `hint`")."""
    try:
        return kind(value)
    except ValueError:
        raise error(f"{what} {value!r}, which this hardbase does not know; {hint}") from None


def validate(model: type[M], data: Any, where: str, what: str) -> M:
    """`model.model_validate(data)`, or a SpecError naming every bad field."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise SpecError(f"{where}: {what} must be a YAML mapping")
    try:
        result: M = model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        problems = [_problem(model, dict(error), what) for error in exc.errors()]
        if len(problems) == 1:
            raise SpecError(f"{where}: {problems[0]}") from None
        listed = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise SpecError(f"{where}: {len(problems)} problems: {listed}") from None
    return result


def _problem(model: type[Any], error: dict[str, Any], what: str) -> str:
    loc: Sequence[Any] = error.get("loc", ())
    path = ".".join(str(p) for p in loc) or "(top level)"
    if error.get("type") == "extra_forbidden" and loc:
        hint = did_you_mean(str(loc[-1]), _field_names(model, loc[:-1]))
        return f"field '{path}' is not a field of {_place(loc, what)}{hint}"
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"field '{path}': {message}"


def _place(loc: Sequence[Any], what: str) -> str:
    parents = [str(p) for p in loc[:-1] if not isinstance(p, int)]
    return f"'{'.'.join(parents)}'" if parents else what


def _field_names(model: type[Any], loc: Sequence[Any]) -> list[str]:
    """The YAML names (aliases included) of the fields of the model at `loc`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if info is None:
            return []
        current = _model_of(info.annotation)
        if current is None:
            return []
    names = []
    for name, info in getattr(current, "model_fields", {}).items():
        names.append(info.alias or name)
    return names


def _model_of(annotation: Any) -> Any:
    """The pydantic model an annotation holds (inside list[...] or X | None), if any."""
    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
