"""Checks every JSON answer against the service's own OpenAPI document, by schema validator."""

from __future__ import annotations

import json
import re
from typing import Any

from openapi_schema_validator import OAS31Validator


class OpenAPI:
    def __init__(self, doc: dict[str, Any]) -> None:
        from openapi_spec_validator import validate

        validate(doc)  # the document itself is valid OpenAPI
        self.doc = doc
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}:]+(:path)?\}", _segment, path) + "$"), path)
            for path in doc["paths"]
        ]

    def template(self, path: str) -> str:
        # the longest template first: /images/{name}/rebuild before /images/{name}
        found = [t for rx, t in self.routes if rx.match(path)]
        assert found, f"{path} is not in the OpenAPI document"
        return max(found, key=len)

    def check(self, method: str, path: str, status: int, body: bytes) -> Any:
        """Validate `body` against the documented response; returns it parsed."""
        template = self.template(path.split("?", 1)[0])
        responses = self.doc["paths"][template][method.lower()]["responses"]
        assert str(status) in responses, f"{method} {template} does not document {status}"
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        value = json.loads(body)
        validator = OAS31Validator({**schema, "components": self.doc["components"]})
        errors = sorted(validator.iter_errors(value), key=str)
        assert not errors, f"{method} {path} {status}: {errors[0].message}"
        return value


def _segment(match: re.Match[str]) -> str:
    return ".+" if match.group(1) or "name" in match.group(0) else "[^/]+"
