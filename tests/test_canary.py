"""The host canary (tests/canary.py) notices a created and a changed file."""

from pathlib import Path

from canary import HostCanary


def test_canary_sees_writes(tmp_path: Path) -> None:
    c = HostCanary.plant(tmp_path / "c")
    assert c.changes() == []
    (c.root / "sub" / "pwned").write_text("x")
    (c.root / "keep").write_text("y")
    assert any("created" in p for p in c.changes())
    assert any("keep was changed" in p for p in c.changes())


def test_fixture(host_canary: HostCanary) -> None:
    assert host_canary.root.is_dir()
