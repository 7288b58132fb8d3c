"""The layer cache on real images (a hardbase python3 build and the mmdebstrap reference,
built once a session; marked `archive`): scan JSON and both SBOMs are byte for byte the
same read from the layers, with an empty cache, and replayed from a warm one."""

from __future__ import annotations

from pathlib import Path

import pytest

from cache_outputs import scan_and_sbom_outputs
from evaluate.real_images import fixture_db, python3_image, reference_image

pytestmark = [pytest.mark.archive, pytest.mark.slow]


@pytest.mark.parametrize("image", [python3_image, reference_image], ids=["python3", "reference"])
def test_outputs_are_the_same_read_and_replayed(
    image: object,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert callable(image)
    ref = image()
    db = fixture_db()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setenv("HARDBASE_CACHE", str(tmp_path / "cache"))

    def outputs(*extra: str) -> list[tuple[int, str]]:
        return [(code, out) for code, out, _ in scan_and_sbom_outputs(capsys, ref, db, *extra)]

    read = outputs("--no-layer-cache")
    assert not (tmp_path / "cache" / "layer-inventory").exists()
    cold = outputs()
    assert list((tmp_path / "cache" / "layer-inventory").rglob("sha256-*"))
    warm = outputs()
    assert cold == read
    assert warm == read
