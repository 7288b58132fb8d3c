"""`hardbase db push|pull` and `db update --from`: the database as a signed OCI artifact.

Round trips through a real registry (docker-registry, tests/registry_fixture.py) with
keys made by `hardbase keygen`'s code; the database is filled from the fixture feeds
in tests/data/vuln (fixtures, not real advisories).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardbase.attest.keys import write_keypair
from hardbase.cli.main import main
from hardbase.oci.layout import canonical_json
from hardbase.oci.registry import RegistryClient
from hardbase.vuln.db import VulnDB
from hardbase.vuln.publish import LAYER_TYPE
from registry_fixture import KEY_PASSWORD, RegistryServer, running_registry

DATA = Path(__file__).parents[1] / "data" / "vuln"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with running_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def keypair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", KEY_PASSWORD)
    return write_keypair(tmp_path / "keys" / "db", KEY_PASSWORD)


@pytest.fixture
def source_db(tmp_path: Path) -> Path:
    path = tmp_path / "source.db"
    code = main(["-q", "db", "update", "--db", str(path), "--source", f"osv={DATA / 'osv'}",
                 "--source", f"debian-tracker={DATA / 'tracker.json'}"])  # fmt: skip
    assert code == 0
    return path


def _rows(path: Path) -> list[tuple[str, ...]]:
    with VulnDB.open(path) as db:
        rows = db.affected_for({"debian:12": ["fixture-openssl", "fixture-zlib"], "pypi": ["x"]})
        return sorted((r.advisory_id, r.source, r.package, r.fixed_version) for r in rows)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_push_and_pull_round_trip_with_the_signature_verified(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, registry: RegistryServer,
    keypair: tuple[Path, Path], source_db: Path,
) -> None:  # fmt: skip
    ref = f"docker://{registry.host}/hardbase/vulndb:1"
    code, out, err = run(capsys, "db", "push", ref, "--key", str(keypair[0]),
                         "--db", str(source_db), "--insecure")  # fmt: skip
    assert code == 0, err
    digest = out.strip()
    assert digest.startswith("sha256:") and "pushed and signed" in err
    client = RegistryClient(registry.host, "hardbase/vulndb", insecure=True)
    manifest = json.loads(client.get_manifest("1")[0])
    assert manifest["artifactType"] == "application/vnd.hardbase.vulndb.v1"
    assert f"sha256-{digest.split(':')[1]}.sig" in client.list_tags()
    pulled = tmp_path / "pulled" / "vuln.db"
    code, _, err = run(capsys, "db", "pull", ref, "--key", str(keypair[1]),
                       "--db", str(pulled), "--insecure")  # fmt: skip
    assert code == 0, err
    assert f"pulled {ref} (" in err and "signature verified" in err
    assert _rows(pulled) == _rows(source_db) and _rows(pulled)
    with VulnDB.open(pulled) as db, VulnDB.open(source_db) as src:
        assert db.counts() == src.counts()
        assert [s.name for s in db.sources()] == ["debian-tracker", "osv"]
    # pulling again over a database in use replaces it in place
    with VulnDB.open(pulled) as db:
        db.counts()
        assert main(["-q", "db", "pull", ref, "--key", str(keypair[1]), "--db", str(pulled),
                     "--insecure"]) == 0  # fmt: skip
        assert db.counts()["affected"] > 0
    client.close()


def test_a_tampered_artifact_is_refused_and_nothing_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, registry: RegistryServer,
    keypair: tuple[Path, Path], source_db: Path, other_db: Path,
) -> None:  # fmt: skip
    ref = f"docker://{registry.host}/hardbase/vulndb:latest"
    assert main(["-q", "db", "push", ref, "--key", str(keypair[0]), "--db", str(source_db),
                 "--insecure"]) == 0  # fmt: skip
    # swap the layer for another database, under the same tag, without signing
    client = RegistryClient(registry.host, "hardbase/vulndb", insecure=True)
    manifest = json.loads(client.get_manifest("latest")[0])
    import zstandard

    data = zstandard.ZstdCompressor().compress(other_db.read_bytes())
    from hardbase.attest.store import open_store

    with open_store(ref, insecure=True) as store:
        layer = store.put_blob(data, LAYER_TYPE)
    manifest["layers"][0].update(digest=layer.digest, size=layer.size)
    client.put_manifest("latest", canonical_json(manifest), manifest["mediaType"])
    client.close()
    target = tmp_path / "target.db"
    code, _, err = run(capsys, "db", "pull", ref, "--key", str(keypair[1]), "--db", str(target),
                       "--insecure")  # fmt: skip
    assert code == 2
    assert "refusing the database" in err and "Traceback" not in err
    assert not target.exists()
    # a database signed by another key is refused too
    other = write_keypair(tmp_path / "keys" / "other", "", unencrypted=True)
    assert main(["-q", "db", "push", ref, "--key", str(keypair[0]), "--db", str(source_db),
                 "--insecure"]) == 0  # fmt: skip
    code, _, err = run(capsys, "db", "pull", ref, "--key", str(other[1]), "--db", str(target),
                       "--insecure")  # fmt: skip
    assert code == 2 and "refusing the database" in err and not target.exists()


@pytest.fixture
def other_db(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    assert main(["-q", "db", "update", "--db", str(path), "--source", f"osv={DATA / 'osv'}"]) == 0
    return path


def test_update_from_a_published_database_then_incrementally(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, registry: RegistryServer,
    keypair: tuple[Path, Path], other_db: Path,
) -> None:  # fmt: skip
    ref = f"docker://{registry.host}/hardbase/vulndb:latest"
    assert main(["-q", "db", "push", ref, "--key", str(keypair[0]), "--db", str(other_db),
                 "--insecure"]) == 0  # fmt: skip
    local = tmp_path / "local.db"
    code, _, err = run(capsys, "db", "update", "--from", ref, "--key", str(keypair[1]),
                       "--insecure", "--db", str(local),
                       "--source", f"debian-tracker={DATA / 'tracker.json'}")  # fmt: skip
    assert code == 0, err
    with VulnDB.open(local) as db:
        assert [s.name for s in db.sources()] == ["debian-tracker", "osv"]  # pulled + updated
    code, _, err = run(capsys, "db", "update", "--from", ref, "--db", str(local))
    assert code == 2 and "--from needs --key" in err


def test_push_and_pull_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    empty = tmp_path / "empty.db"
    VulnDB.open(empty).close()
    code, _, err = run(capsys, "db", "push", f"oci:{tmp_path / 'out'}:db", "--key",
                       str(keypair[0]), "--db", str(empty))  # fmt: skip
    assert code == 2 and "is empty; run `hardbase db update` first" in err
    assert not (tmp_path / "out").exists()
    code, _, err = run(capsys, "db", "pull", "docker-archive:/x.tar", "--key", str(keypair[1]),
                       "--db", str(tmp_path / "x.db"))  # fmt: skip
    assert code == 2 and "pushed to and pulled from docker://" in err
    code, _, err = run(capsys, "db", "pull", "oci:/nonexistent:db", "--key", str(keypair[1]),
                       "--db", "postgresql://u@127.0.0.1:1/x")  # fmt: skip
    assert code == 2 and "is not a SQLite file" in err
