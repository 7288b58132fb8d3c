"""Fixtures for the lifecycle tests: real .debs in a signed fixture archive, a real registry,
a fleet of two images, a webhook receiver and PostgreSQL.

The .debs of trixie's `static` preset (base-files, ca-certificates, media-types,
netbase, tzdata: about 560 kB), and for the tests that need an executable busybox
with libc6 (about 3.5 MB), are downloaded once from deb.debian.org into pytest's
cache directory. "A newer netbase" is a fixture: the real
netbase_6.5_all.deb unpacked and rebuilt by dpkg-deb as 6.5+deb13u1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lifecycle_world import STATIC, WEBHOOK_SECRET, WebhookReceiver, World

from archive_fixture import FixtureArchive
from hardbase.attest.keys import write_keypair
from registry_fixture import KEY_PASSWORD, running_registry


def _real_closure(pytestconfig: pytest.Config, store_name: str, spec_body: str) -> dict[str, Path]:
    """name -> real .deb of the trixie closure of `spec_body`, downloaded once into the cache."""
    assert pytestconfig.cache is not None
    store = Path(pytestconfig.cache.mkdir(store_name))
    manifest = store / "manifest.json"
    if manifest.is_file():
        listed = json.loads(manifest.read_text())
        paths = {name: store / entry["file"] for name, entry in listed.items()}
        if all(
            p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == listed[n]["sha256"]
            for n, p in paths.items()
        ):
            return paths
    from hardbase.build.lock import resolve_lock
    from hardbase.build.spec import load_spec
    from hardbase.errors import FetchError
    from hardbase.util.http import download

    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "closure.yaml"
        spec_path.write_text(f"name: closure\nrelease: trixie\n{spec_body}")
        try:
            lock = resolve_lock(load_spec(spec_path))
        except FetchError as exc:  # no mirror here: these tests cannot run
            pytest.skip(f"deb.debian.org is not reachable: {exc.diagnostics()}")
    listed = {}
    for pkg in lock.packages["amd64"]:
        name = f"{pkg.name}_{pkg.version.replace(':', '%3a')}_{pkg.arch}.deb"
        download(pkg.url, store / name, max_size=64 << 20, sha256=pkg.sha256, size=pkg.size)
        listed[pkg.name] = {"file": name, "sha256": pkg.sha256, "version": pkg.version}
    manifest.write_text(json.dumps(listed, indent=1))
    return {name: store / entry["file"] for name, entry in listed.items()}


@pytest.fixture(scope="session")
def real_debs(pytestconfig: pytest.Config) -> dict[str, Path]:
    """name -> real .deb of trixie's static preset, downloaded once from deb.debian.org."""
    debs = _real_closure(pytestconfig, "hardbase-lifecycle-debs", "extends: static\n")
    assert set(debs) == set(STATIC), debs
    return debs


@pytest.fixture(scope="session")
def busybox_debs(pytestconfig: pytest.Config, real_debs: dict[str, Path]) -> dict[str, Path]:
    """name -> real .deb of busybox and what it needs beyond the static preset (libc6, ...)."""
    debs = _real_closure(
        pytestconfig, "hardbase-lifecycle-busybox", "extends: static\npackages: [busybox]\n"
    )
    return {name: path for name, path in debs.items() if name not in real_debs}


@pytest.fixture
def world(
    tmp_path: Path, real_debs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", KEY_PASSWORD)
    monkeypatch.setenv("HARDBASE_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    with make_world(tmp_path, real_debs) as made:
        yield made


@contextlib.contextmanager
def make_world(root: Path, debs: dict[str, Path]) -> Iterator[World]:
    """The archive (trixie holding `debs`, an empty trixie-security), keys, webhook receiver
    and registry of a World under `root` (also used by tests/serve)."""
    archive = FixtureArchive(root / "archive")
    for deb in debs.values():
        archive.add_deb(deb, suite="trixie")
    archive.publish("trixie")
    archive.publish("trixie-security")
    key, pub = write_keypair(root / "keys" / "cosign", KEY_PASSWORD)
    webhook = WebhookReceiver(WEBHOOK_SECRET)
    try:
        with running_registry(root / "registry") as registry:
            yield World(root, archive, registry, webhook, debs, key, pub)
    finally:
        webhook.close()
        archive.close()
