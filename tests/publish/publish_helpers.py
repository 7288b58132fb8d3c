"""Helpers and fixtures for the publishing tests: real builds, a key, the SBOM schemas.

Builds run in-process through the CLI's `main`, sharing the session's caches,
so the second image of a session only builds its own layers. (No conftest.py
here: tests/sbom's tests import theirs as `conftest`, and a second one would
shadow it when both directories are collected.)
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource

from hardbase.cli.main import main

REPO = Path(__file__).parents[2]
SBOM_SCHEMAS = REPO / "tests" / "data" / "sbom"
CDX_BASE = "http://cyclonedx.org/schema/"

Validate = Callable[[dict[str, Any]], list[str]]


def build_image(tmp: Path, spec_name: str, *extra: str) -> tuple[Path, str]:
    """Build images/SPEC_NAME.yaml into tmp/SPEC_NAME; returns the layout and its top digest."""
    spec = tmp / f"{spec_name}.yaml"
    shutil.copy(REPO / "images" / f"{spec_name}.yaml", spec)
    out = tmp / spec_name
    assert main(["-q", "build", str(spec), "--output", str(out), *extra]) == 0
    index = json.loads((out / "index.json").read_text())
    return out, str(index["manifests"][0]["digest"])


def blob_json(layout: Path, digest: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((layout / "blobs" / "sha256" / digest[7:]).read_bytes())
    return doc


def image_blobs(layout: Path, top: str) -> set[str]:
    """Config and layer digests of every manifest under the index `top`."""
    blobs: set[str] = set()
    for entry in blob_json(layout, top)["manifests"]:
        manifest = blob_json(layout, entry["digest"])
        blobs.add(manifest["config"]["digest"])
        blobs.update(layer["digest"] for layer in manifest["layers"])
    return blobs


def _schema(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SBOM_SCHEMAS / name).read_text())
    return doc


def _errors(validator: Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


@functools.cache
def spdx_errors() -> Validate:
    """Errors of a document against the official SPDX 2.3 JSON schema (empty when valid)."""
    validator = Draft7Validator(
        _schema("spdx-schema-2.3.json"), format_checker=Draft7Validator.FORMAT_CHECKER
    )
    return lambda doc: _errors(validator, doc)


@functools.cache
def cdx_errors() -> Validate:
    """Errors of a document against the official CycloneDX 1.6 JSON schema."""
    registry: Registry = Registry()
    for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"):
        registry = registry.with_resource(CDX_BASE + name, Resource.from_contents(_schema(name)))
    validator = Draft7Validator(
        _schema("bom-1.6.SNAPSHOT.schema.json"),
        registry=registry,
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )
    return lambda doc: _errors(validator, doc)
