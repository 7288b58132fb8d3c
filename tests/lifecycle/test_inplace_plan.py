"""An in-place patch plan read back from the state database names a checked base digest."""

from __future__ import annotations

import json

import pytest

from hardbase.errors import ImageError
from hardbase.lifecycle.inplace import plan_document, read_plan
from hardbase.patch.image import PatchResult
from hardbase.util.digest import Digest


def test_the_plan_round_trips_with_its_base_digest() -> None:
    base = Digest.of(b"upstream manifest")
    doc = plan_document("docker://127.0.0.1:5000/up:1", "security", PatchResult("", base, []))
    plan = read_plan(json.dumps(doc), "the plan")
    assert isinstance(plan.base_digest, Digest) and plan.base_digest == base


def test_a_plan_with_a_bad_base_digest_is_refused() -> None:
    doc = plan_document(
        "docker://127.0.0.1:5000/up:1", "security", PatchResult("", Digest.of(b"x"), [])
    )
    doc["base"] = "sha256:not-hex"
    with pytest.raises(ImageError) as caught:
        read_plan(json.dumps(doc), "the published plan of hb/a")
    assert caught.value.diagnostics() == (
        "the published plan of hb/a is not an in-place patch plan: 'sha256:not-hex' (its base) "
        "is not a sha256 digest (sha256: followed by 64 lowercase hex digits)"
    )
