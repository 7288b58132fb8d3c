"""Fixtures of the service tests: one fixture world for the module (the lifecycle tests'
signed archive with real trixie .debs, a real registry), two real `hardbase watch --once`
passes (first publish, then a fixed netbase), and `hardbase serve` on it."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

LIFECYCLE = Path(__file__).parents[1] / "lifecycle"
sys.path.insert(0, str(LIFECYCLE))

from lifecycle_world import STATIC, World  # noqa: E402
from serve_world import ENV, Service, create_token, start_service  # noqa: E402

_spec = importlib.util.spec_from_file_location("lifecycle_conftest", LIFECYCLE / "conftest.py")
assert _spec is not None and _spec.loader is not None
_lifecycle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_lifecycle)


@pytest.fixture(scope="session")
def static_debs(pytestconfig: pytest.Config) -> dict[str, Path]:
    debs: dict[str, Path] = _lifecycle._real_closure(
        pytestconfig, "hardbase-lifecycle-debs", "extends: static\n"
    )
    assert set(debs) == set(STATIC), debs
    return debs


def _fleet(world: World, feeds: list[str]) -> Path:
    fleet = world.fleet(feeds=feeds, extra="serve: {sla_target: 1h}")
    fleet.write_text(fleet.read_text().replace("interval: 1s", "interval: 10m"))
    return fleet


@pytest.fixture(scope="module")
def watched(
    tmp_path_factory: pytest.TempPathFactory, static_debs: dict[str, Path]
) -> Iterator[World]:
    """A world whose fleet (images a and b) was published, rebuilt for a fixed netbase, and
    then has one open no-fix critical finding."""
    from hardbase.cli.main import main

    root = tmp_path_factory.mktemp("serve-world")
    old = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        with _lifecycle.make_world(root, static_debs) as world:
            fleet = _fleet(world, ["osv-fix"])
            assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 0
            world.fix_netbase()
            assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 0
            # a no-fix critical finding in the new netbase (a fixture record): open, nothing
            # to rebuild
            _fleet(world, ["osv-fix", "osv-critical"])
            assert main(["-q", "watch", "--fleet", str(fleet), "--once"]) == 0
            yield world
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def service(watched: World) -> Iterator[Service]:
    fleet = watched.root / "fleet.yaml"
    tokens = {role: create_token(fleet, role) for role in ("read", "admin")}
    svc = start_service(fleet, watched.root / "serve.log", env=ENV)
    svc.tokens = tokens
    try:
        yield svc
    finally:
        code = svc.stop()
        assert code == 0, svc.log.read_text()[-3000:]
