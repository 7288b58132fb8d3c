"""A fleet image is either built from a spec or patched in place; asking one for the
other's source is one SpecError sentence, not a None deep in a pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.errors import SpecError
from hardbase.lifecycle.fleet import load_fleet
from hardbase.lifecycle.queue import plan_image
from hardbase.lifecycle.state import StateDB
from hardbase.vuln.db import VulnDB

FLEET = """
registry: {url: "127.0.0.1:5000", insecure: true}
state: state.db
sign_key: keys/cosign.key
images:
  - spec: images/app.yaml
    repository: hardbase/built
    tags: [latest]
  - image: docker://127.0.0.1:5000/upstream/app:1
    patch: in-place
    repository: hardbase/inplace
    tags: [latest]
"""


def test_each_kind_refuses_the_other_kinds_source(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    built, inplace = load_fleet(path).images
    assert built.spec_path == tmp_path / "images" / "app.yaml"
    assert inplace.inplace_source.upstream == "docker://127.0.0.1:5000/upstream/app:1"
    with pytest.raises(SpecError) as raised:
        built.inplace_source  # noqa: B018 (the property raises)
    assert raised.value.diagnostics() == (
        "image hardbase/built is built from a spec, not patched in place"
    )
    with pytest.raises(SpecError) as raised:
        inplace.spec_path  # noqa: B018
    assert raised.value.diagnostics() == (
        "image hardbase/inplace is patched in place; it has no image spec"
    )


def test_planning_a_rebuild_of_an_in_place_image_stops_before_any_write(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    _, inplace = load_fleet(path).images
    with (
        StateDB.open(f"sqlite:///{tmp_path / 'state.db'}") as state,
        VulnDB.open(str(tmp_path / "vuln.db")) as db,
    ):
        with pytest.raises(SpecError, match="hardbase/inplace is patched in place"):
            plan_image(state, inplace, db)
        assert state.image("hardbase/inplace") is None  # nothing was recorded
