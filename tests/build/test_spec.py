"""Spec validation and preset merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.build.spec import load_spec, parse_spec
from hardbase.errors import SpecError


def spec(data: dict[str, object]) -> object:
    return parse_spec(data, Path("/specs/test.yaml"))


def test_python3_preset_tiers_per_release() -> None:
    trixie = spec({"name": "py", "extends": "python3"})
    assert [t.name for t in trixie.tiers] == ["static", "base", "cc", "python3"]
    assert "libssl3t64" in trixie.tiers[1].roots
    assert "gcc-14-base" in trixie.tiers[2].roots
    bookworm = spec({"name": "py", "extends": "python3", "release": "bookworm"})
    assert "libssl3" in bookworm.tiers[1].roots
    assert "gcc-12-base" in bookworm.tiers[2].roots
    assert trixie.entrypoint == ("/usr/bin/python3",)


def test_debug_variant_adds_busybox_tier() -> None:
    debug = spec({"name": "py", "extends": "python3-debug"})
    assert debug.tiers[-1].roots == ("busybox",)
    assert debug.debug


def test_default_sources_cover_updates_and_security() -> None:
    s = spec({"name": "py", "extends": "base"})
    suites = [suite for src in s.sources for suite in src.suites]
    assert suites == ["trixie", "trixie-updates", "trixie-security"]


def test_resolution_hash_ignores_runtime_settings() -> None:
    a = spec({"name": "py", "extends": "base"})
    b = spec({"name": "py", "extends": "base", "entrypoint": ["/x"], "env": {"A": "1"}})
    c = spec({"name": "py", "extends": "base", "packages": ["zlib1g"]})
    assert a.resolution_hash() == b.resolution_hash() != c.resolution_hash()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "py", "extends": "base", "archs": ["mips"]}, "archs.0"),
        ({"name": "Py!", "extends": "base"}, "name"),
        ({"name": "py", "extends": "base", "release": "sid"}, "release"),
        ({"name": "py", "extends": "base", "colour": "blue"}, "colour"),
        ({"name": "py", "packages": ["Bad Name"]}, "packages"),
        ({"name": "py", "extends": "base", "files": [{"dst": "../x"}]}, "files.0.dst"),
        ({"name": "py", "extends": "base", "user": "alice"}, "user"),
        (
            {"name": "py", "sources": [{"uris": ["ftp://x"], "suites": ["a"]}], "packages": ["a"]},
            "sources.0.uris",
        ),
    ],
)
def test_invalid_fields_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(SpecError) as info:
        spec(data)
    assert f"field '{field}'" in info.value.diagnostics()


def test_every_problem_is_listed_with_its_path_and_close_names() -> None:
    with pytest.raises(SpecError) as info:
        spec(
            {"name": "py", "extends": "base", "pakages": ["curl"], "archs": ["mips"],
             "prune": {"mans": False}, "files": [{"dst": "/x", "mod": 1}]}
        )  # fmt: skip
    text = info.value.diagnostics()
    assert text.count("field '") == 4 and text.startswith("/specs/test.yaml: 4 problems: (1) ")
    assert "field 'archs.0': Input should be 'amd64' or 'arm64'" in text
    assert "field 'pakages' is not a field of a spec (did you mean 'packages'?)" in text
    assert "field 'prune.mans' is not a field of 'prune' (did you mean 'man'?)" in text
    assert "field 'files.0.mod' is not a field of 'files' (did you mean 'mode'?)" in text
    assert "more)" not in text


def test_a_misspelt_preset_gets_the_close_one() -> None:
    with pytest.raises(
        SpecError, match=r"unknown preset 'pyton3-debug' \(did you mean 'python3-debug'\?\)"
    ):
        spec({"name": "py", "extends": "pyton3-debug"})
    with pytest.raises(SpecError) as info:
        spec({"name": "py", "extends": "ruby"})
    assert "did you mean" not in info.value.diagnostics()


def test_unknown_preset() -> None:
    with pytest.raises(SpecError, match="unknown preset 'ruby'"):
        spec({"name": "py", "extends": "ruby"})


def test_empty_spec_refused() -> None:
    with pytest.raises(SpecError, match="no packages"):
        spec({"name": "py"})


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec(listy)


def test_shipped_example_specs_validate() -> None:
    images = Path(__file__).parents[2] / "images"
    for path in sorted(images.glob("*.yaml")):
        load_spec(path)
