"""`hardbase scan` and `hardbase sbom` against `trivy image --format cyclonedx`, cold and warm.

On the trixie python3, nodejs and java images (built from the presets) and the
mmdebstrap reference (debian:trixie-slim + python3, scripts/reference-image.sh), six
whole processes per image:

- `hardbase scan REF --format json` with the full debian-changelog database, cold
  (`--no-layer-cache`: every layer read) and warm (each layer's record in the cache);
- `hardbase sbom REF --format cyclonedx-json`, cold and warm likewise;
- `trivy image --input LAYOUT --format cyclonedx` (Trivy 0.76, offline: its inventory;
  its vulnerability database cannot be downloaded here), cold (`--cache-backend
  memory`) and warm (its layer cache filled).

Paired: each of 5 rounds runs the six in a rotating order after one warm-up of each;
medians of the wall times, of the CPU times (user + system) and of the peak RSS
(`/usr/bin/time -f "%M %U %S"`). hardbase runs
with bytecode written on the warm-up (PYTHONPYCACHEPREFIX in the work directory), as
an installed package has it; this machine's shell sets PYTHONDONTWRITEBYTECODE.

HARDBASE_BENCH_VULN_DB=/path/to/vuln.db gives the database (else it is built here
with `db update --source debian-changelog`, minutes); HARDBASE_BENCH_IMAGES=DIR reuses
layouts DIR/{python3,nodejs,java,reference} built before.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, Result, sh

IMAGES = ("python3", "nodejs", "java", "reference")
ROUNDS = 5
TIME = "/usr/bin/time"


def _hardbase() -> list[str]:
    beside = Path(sys.executable).parent / "hardbase"
    return [str(beside) if beside.exists() else shutil.which("hardbase") or "hardbase"]


def _images(work: Path, env: dict[str, str]) -> dict[str, Path]:
    given = os.environ.get("HARDBASE_BENCH_IMAGES")
    root = Path(given) if given else work / "images"
    layouts = {name: root / name for name in IMAGES}
    for name in IMAGES[:3]:
        if not (layouts[name] / "index.json").exists():
            spec = work / f"{name}.yaml"
            spec.write_text(f"name: {name}\nrelease: trixie\nextends: {name}\n")
            sh(*_hardbase(), "-q", "build", spec, "--output", layouts[name], env=env)
    if not (layouts["reference"] / "index.json").exists():
        sh(REPO / "scripts/reference-image.sh", layouts["reference"], "trixie", env=env)
    return layouts


def _database(work: Path, env: dict[str, str]) -> Path:
    given = os.environ.get("HARDBASE_BENCH_VULN_DB")
    if given:
        return Path(given)
    from bench_scan import _db_update

    db = work / "vuln.db"
    _db_update(db, env, "bookworm", "trixie")
    return db


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in KiB, CPU seconds: user + system) of one whole process.

    CPU time is reported beside the wall time because this machine is shared: other
    work stretches wall times by how much of the two cores it takes, CPU times far less.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        subprocess.run(
            [TIME, "-f", "%M %U %S", "-o", rss.name, *argv],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        peak, user, system = rss.read().split()[-3:]
        return elapsed, int(peak), float(user) + float(system)


def run(work: Path) -> list[Result]:
    if shutil.which("trivy") is None or not Path(TIME).exists():
        return [Result("trivy or /usr/bin/time missing (make setup): not measured", 0, "")]
    sys.path.insert(0, str(REPO / "tests"))
    from lang_subjects import trivy_env

    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env = {**base, "HARDBASE_CACHE": str(work / "cache"), "PYTHONPYCACHEPREFIX": str(work / "pyc")}
    layouts = _images(work, env)
    db = _database(work, env)
    trivy = trivy_env(work)
    hardbase = _hardbase()
    results: list[Result] = []
    for name, layout in layouts.items():
        ref = f"oci:{layout}:latest"
        scan = [*hardbase, "-q", "scan", ref, "--db", str(db), "--format", "json",
                "-o", str(work / f"{name}.scan.json")]  # fmt: skip
        sbom = [*hardbase, "-q", "sbom", ref, "--format", "cyclonedx-json",
                "-o", str(work / f"{name}.cdx.json")]  # fmt: skip
        peer = ["trivy", "image", "--input", str(layout), "--offline-scan",
                "--skip-java-db-update", "--format", "cyclonedx", "--quiet",
                "-o", str(work / f"{name}.trivy.json")]  # fmt: skip
        commands = {
            "hardbase scan, cold": ([*scan, "--no-layer-cache"], env),
            "hardbase scan, warm": (scan, env),
            "hardbase sbom, cold": ([*sbom, "--no-layer-cache"], env),
            "hardbase sbom, warm": (sbom, env),
            "trivy image, cold": ([*peer, "--cache-backend", "memory"], trivy),
            "trivy image, warm": (peer, trivy),
        }
        for argv, environ in commands.values():  # warm-up: caches, bytecode, page cache
            _run(argv, environ)
        seconds: dict[str, list[float]] = {k: [] for k in commands}
        peaks: dict[str, list[int]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        order = list(commands)
        for round_ in range(ROUNDS):
            for label in order[round_ % len(order) :] + order[: round_ % len(order)]:
                wall, rss, cpu = _run(*commands[label])
                seconds[label].append(wall)
                peaks[label].append(rss)
                cpus[label].append(cpu)
        for label in order:
            wall = statistics.median(seconds[label])
            mib = statistics.median(peaks[label]) / 1024
            cpu = statistics.median(cpus[label])
            note = f"peak {mib:.0f} MiB, CPU {cpu:.3f} s"
            if label.startswith("hardbase"):
                peer_label = "trivy image, " + label.rsplit(", ", 1)[1]
                ratio = wall / statistics.median(seconds[peer_label])
                peer_mib = statistics.median(peaks[peer_label]) / 1024
                peer_cpu = statistics.median(cpus[peer_label])
                note += (f"; {ratio:.2f}x Trivy's time, {cpu / peer_cpu:.2f}x its CPU, "
                         f"{mib / peer_mib:.2f}x its memory")  # fmt: skip
            results.append(Result(f"{name}: {label} (median of {ROUNDS})", wall, "s", note))
    return results
