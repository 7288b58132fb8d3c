"""`ImageRef.local_path`: a registry or containers-storage reference handed to code that
reads a local layout is one UsageError sentence naming it, never a None path."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.errors import UsageError
from hardbase.oci.reference import parse_reference
from hardbase.oci.transports.oci_layout import OCILayoutSource


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("docker://127.0.0.1:5000/fixture/app:1", "docker://127.0.0.1:5000/fixture/app:1"),
        ("containers-storage:localhost/fixture:1", "containers-storage:localhost/fixture:1"),
    ],
)
def test_a_reference_without_a_path_has_no_local_path(text: str, shown: str) -> None:
    ref = parse_reference(text)
    with pytest.raises(UsageError) as raised:
        OCILayoutSource(ref)  # the layout reader given a reference that is not a layout
    assert raised.value.diagnostics() == (
        f"the image reference {shown} names no local file or directory"
    )


def test_a_local_reference_gives_its_path(tmp_path: Path) -> None:
    assert parse_reference(f"oci:{tmp_path}/layout:v1").local_path == tmp_path / "layout"
    assert parse_reference(f"oci-archive:{tmp_path}/a.tar").local_path == tmp_path / "a.tar"
