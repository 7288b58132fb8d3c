"""Validate a document hardbase wrote against its shipped JSON Schema (Draft 2020-12)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from hardbase.schemas import load


def errors(name: str, doc: Any) -> list[str]:
    """Every violation of schema `name` by `doc`, as `path: message` lines."""
    validator = Draft202012Validator(load(name), format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def check(name: str, doc: Any) -> None:
    """Fail the test when `doc` does not match schema `name` (a field added, renamed, retyped)."""
    problems = errors(name, doc)
    assert not problems, (
        f"{name} output drifted from src/hardbase/schemas/{name}.schema.json:\n"
        + ("\n".join(problems))
    )
