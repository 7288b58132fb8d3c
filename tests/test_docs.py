"""The documentation holds together: no dead relative link, and every spec field documented.

Every relative link in README.md, SECURITY.md and docs/*.md must name a file or
directory of the repository. docs/specs.md must name every field of the spec
schema (by its YAML name, in backticks), so that a new field cannot land
undocumented.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from hardbase.build.spec_schema import SpecModel

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(markdown: Path) -> list[str]:
    links = []
    for target in LINK.findall(markdown.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # URLs and anchors within the page
        links.append(target)
    return links


@pytest.mark.parametrize("markdown", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(markdown: Path) -> None:
    dead = [t for t in relative_links(markdown) if not (markdown.parent / t.split("#")[0]).exists()]
    assert not dead, f"{markdown.relative_to(ROOT)} links to missing files: {dead}"


def test_link_checker_sees_a_dead_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [web](https://example.org) [gone](missing.md#x) [a](#top)\n")
    assert relative_links(page) == ["page.md", "missing.md#x"]


def field_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field's YAML name (alias where it has one), nested ones as `parent.child`."""
    names = []
    for name, info in model.model_fields.items():
        yaml_name = info.alias or name
        names.append(prefix + yaml_name)
        for arg in _model_types(info.annotation):
            if arg is not model:
                names += field_names(arg, f"{prefix}{yaml_name}.")
    return names


def _model_types(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        found += _model_types(arg)
    return found


def _documented(name: str, text: str) -> bool:
    """`a.b.c` is documented as `a.b.c`, `b.c` or `c` (inside its section's table)."""
    parts = name.split(".")
    return any(f"`{'.'.join(parts[i:])}`" in text for i in range(len(parts)))


def test_every_spec_field_is_documented() -> None:
    text = (ROOT / "docs" / "specs.md").read_text()
    names = field_names(SpecModel)
    assert "sources.signed-by" in names and "app.node.omit-dev" in names
    missing = [name for name in names if not _documented(name, text)]
    assert not missing, f"docs/specs.md does not document: {missing}"


def test_preset_specs_point_at_existing_docs() -> None:
    for spec in sorted((ROOT / "images").glob("*.yaml")):
        for doc in re.findall(r"docs/[\w.-]+\.md", spec.read_text()):
            assert (ROOT / doc).exists(), f"{spec.name} points at {doc}, which does not exist"
