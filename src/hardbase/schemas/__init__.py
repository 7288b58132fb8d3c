"""JSON Schemas (Draft 2020-12) of the JSON documents hardbase writes for users.

`scan` (`scan --format json`), `policy-check` (`policy check --format json`),
`status` (`status --format json`), `lock` (`SPEC.lock.json`), `scorecard`
(`compare --json`) and `patch-find` (`patch find --json`); docs/schemas.md
describes them. Each file is `<name>.schema.json` in this package, so tools can
read them from an installed hardbase.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

NAMES = ("scan", "policy-check", "status", "lock", "scorecard", "patch-find")


def load(name: str) -> dict[str, Any]:
    """The schema called `name` (one of NAMES), parsed."""
    if name not in NAMES:
        raise KeyError(f"hardbase has no schema {name!r}; it has {', '.join(NAMES)}")
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
