"""The controller publishes the database it keeps after each sync (fleet `publish_db`).

A real pass (`hardbase watch --once`) over the lifecycle world syncs the OSV
fixture feed into the fleet's database and pushes it, signed with the fleet's
key, to the real registry; `hardbase db pull` with the public key gets the same
records back. A registry that is down is a warning and an event, and the pass
still publishes its images.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lifecycle_world import World

from hardbase.cli.main import main
from hardbase.lifecycle.state import StateDB
from hardbase.vuln.db import VulnDB

pytestmark = [pytest.mark.archive]


def events(world: World, kind: str, image: str = "*") -> list[dict[str, object]]:
    with StateDB.open(f"sqlite:///{world.root / 'state.db'}") as state:
        return [e.detail for e in state.events(image=image, kind=kind)]


def test_each_pass_publishes_the_synced_database(world: World, tmp_path: Path) -> None:
    ref = f"docker://{world.registry.host}/hardbase/vulndb:latest"
    fleet = world.fleet(images=("a",), extra=f"publish_db: {{ref: '{ref}'}}")
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 0
    published = events(world, "db-published")
    assert len(published) == 1 and published[0]["ref"] == ref
    assert str(published[0]["digest"]).startswith("sha256:") and published[0]["sources"] == ["osv"]
    pulled = tmp_path / "pulled.db"
    assert main(["-q", "db", "pull", ref, "--key", str(world.pub), "--db", str(pulled),
                 "--insecure"]) == 0  # fmt: skip
    with VulnDB.open(pulled) as got, VulnDB.open(world.root / "vuln.db") as kept:
        assert got.counts() == kept.counts() and got.counts()["affected"] > 0
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 0
    assert len(events(world, "db-published")) == 2  # after every sync


def test_a_failed_publish_is_a_warning_and_the_pass_goes_on(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = "docker://127.0.0.1:9/hardbase/vulndb:latest"  # nothing listens on port 9
    fleet = world.fleet(images=("a",), extra=f"publish_db: {{ref: '{ref}', insecure: true}}")
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 0
    failed = events(world, "db-publish-failed")
    assert len(failed) == 1 and failed[0]["ref"] == ref
    assert events(world, "published", "hardbase/a"), "the image was still published"
    assert f"publishing the database to {ref}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("publish_db: {ref: 'dir:/x'}", "publish_db.ref dir:/x must be docker://HOST/REPO[:TAG]"),
        ("publish_db: {ref: 'nope'}", "publish_db.ref: 'nope' is not an image reference"),
        ("publish_db: {ref: 'oci:/x', insecure: maybe}", "publish_db.insecure"),
    ],
)
def test_bad_publish_db_settings(
    world: World, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    fleet = world.fleet(images=("a",), extra=extra)
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (world.root / "state.db").exists()


def test_publish_db_needs_a_sqlite_database(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = world.fleet(images=("a",), extra="publish_db: {ref: 'oci:/x'}")
    text = fleet.read_text().replace(
        f"vulndb: {world.root / 'vuln.db'}", "vulndb: postgresql://h/db"
    )
    fleet.write_text(text)
    assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 2
    assert "publish_db needs a SQLite vulndb" in capsys.readouterr().err
