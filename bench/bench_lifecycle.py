"""Remediation latency of the lifecycle controller, on a local signed archive and a real registry.

1. python3: the trixie python3 package set (real .debs from deb.debian.org) in a
   fixture archive on 127.0.0.1; publish a fixed libffi8 (a dpkg-deb rebuild
   of the real .deb with a `+deb13uN` version: a fixture) into trixie-security
   and time from that publish to the `published` event (tags moved in the
   registry), one `watch` pass started at once. Median of 5.
2. fleet of 50 images sharing base layers (the static preset, 50 names): fix
   netbase (a fixture rebuild) and time the pass that republishes all 50.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, Result

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "lifecycle"))


def _real_debs(spec_text: str, work: Path) -> dict[str, Path]:
    from hardbase.build.fetch import cached_path, fetch_packages
    from hardbase.build.lock import resolve_lock
    from hardbase.build.spec import load_spec

    work.mkdir(parents=True, exist_ok=True)
    spec = work / "mirror.yaml"
    spec.write_text(spec_text)
    lock = resolve_lock(load_spec(spec))
    packages = lock.packages["amd64"]
    fetch_packages(packages)
    return {p.name: cached_path(p) for p in packages}


def _world(work: Path, debs: dict[str, Path]):  # type: ignore[no-untyped-def]
    from archive_fixture import FixtureArchive
    from hardbase.attest.keys import write_keypair
    from registry_fixture import RegistryServer

    archive = FixtureArchive(work / "archive")
    for deb in debs.values():
        archive.add_deb(deb, suite="trixie")
    archive.publish("trixie")
    archive.publish("trixie-security")
    registry = RegistryServer(work / "registry")
    registry.start()
    key, _ = write_keypair(work / "keys" / "cosign", "", unencrypted=True)
    return archive, registry, key


def _spec(archive, path: Path, name: str, body: str) -> Path:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"name: {name}\nrelease: trixie\n{body}sources:\n  - uris: ['{archive.url}']\n"
        f"    suites: [trixie, trixie-security]\n    signed-by: {archive.keyring}\n"
    )
    return path


def _fleet(  # type: ignore[no-untyped-def]
    work: Path, registry, key: Path, images: list[tuple[Path, str]], conc: int
) -> Path:
    lines = [
        f"registry: {{url: '{registry.host}', insecure: true}}",
        f"state: {work / 'state.db'}",
        f"vulndb: {work / 'vuln.db'}",
        f"sign_key: {key}",
        f"workdir: {work / 'jobs'}",
        f"concurrency: {conc}",
        "images:",
    ]
    for spec, repo in images:
        lines += [f"  - spec: {spec}", f"    repository: {repo}", "    tags: [latest]"]
    path = work / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _controller(fleet_path: Path):  # type: ignore[no-untyped-def]
    from hardbase.lifecycle.controller import Controller
    from hardbase.lifecycle.fleet import load_fleet
    from hardbase.lifecycle.state import StateDB

    fleet = load_fleet(fleet_path)
    state = StateDB.open(fleet.state)
    return Controller(fleet, state, key_password=b""), state


def _python3(work: Path) -> list[Result]:
    from lifecycle_world import repack

    debs = _real_debs("name: py\nrelease: trixie\nextends: python3\n", work)
    archive, registry, key = _world(work, debs)
    try:
        spec = _spec(archive, work / "images" / "python3.yaml", "python3", "extends: python3\n")
        ctl, state = _controller(_fleet(work, registry, key, [(spec, "hardbase/python3")], 2))
        ctl.run_once()  # first publish
        base = subprocess.run(
            ["dpkg-deb", "--field", str(debs["libffi8"]), "Version"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        latencies = []
        for n in range(1, 6):
            fixed = repack(debs["libffi8"], f"{base}+deb13u{n}", work / f"libffi8-{n}.deb")
            archive.add_deb(fixed, suite="trixie-security")
            archive.publish("trixie-security")
            appeared = time.time()
            report = ctl.run_once()
            assert report.count("published") == 1, report
            published = state.events(image="hardbase/python3", kind="published")[-1].ts
            latencies.append(published - appeared)
        state.close()
        return [
            Result(
                "python3: fix in archive -> tag moved (median of 5)",
                statistics.median(latencies),
                "s",
                "target < 30 s",
            ),  # fmt: skip
            Result("python3: slowest of 5", max(latencies), "s"),
        ]
    finally:
        registry.stop()
        archive.close()


def _fleet50(work: Path) -> list[Result]:
    from lifecycle_world import repack

    debs = _real_debs("name: st\nrelease: trixie\nextends: static\n", work)
    archive, registry, key = _world(work, debs)
    try:
        images = [
            (_spec(archive, work / "images" / f"s{i:02d}.yaml", f"s{i:02d}", "extends: static\n"),
             f"hardbase/s{i:02d}")
            for i in range(50)
        ]  # fmt: skip
        conc = max(2, (os.cpu_count() or 2) * 2)
        ctl, state = _controller(_fleet(work, registry, key, images, conc))
        start = time.perf_counter()
        first = ctl.run_once()
        first_s = time.perf_counter() - start
        assert first.count("published") == 50, first
        fixed = repack(debs["netbase"], "6.5+deb13u1", work / "netbase.deb")
        archive.add_deb(fixed, suite="trixie-security")
        archive.publish("trixie-security")
        start = time.perf_counter()
        report = ctl.run_once()
        total = time.perf_counter() - start
        assert report.count("published") == 50, report
        state.close()
        return [
            Result("fleet of 50: first publish, total", first_s, "s"),
            Result(
                "fleet of 50: netbase fixed, all 50 republished, total",
                total,
                "s",
                f"concurrency {conc}",
            ),  # fmt: skip
            Result("fleet of 50: per image", total / 50, "s"),
        ]
    finally:
        registry.stop()
        archive.close()


def run(work: Path) -> list[Result]:
    os.environ.setdefault("HARDBASE_CACHE", str(work / "cache"))
    os.environ.pop("HARDBASE_KEY_PASSWORD", None)
    results = _python3(work / "python3")
    results += _fleet50(work / "fleet50")
    shutil.rmtree(work / "python3" / "jobs", ignore_errors=True)
    return results
