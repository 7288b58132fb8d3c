"""Build the trixie python3 package set and compare with `mmdebstrap --variant=extract`.

Three whole processes, run by turns in each of 5 rounds (A B C, A B C, …), medians:

- A: `hardbase build` warm (lock, .debs and layers cached) into a NEW output
  directory, SBOMs on (the default): what a user building a new output sees;
- B: `mmdebstrap --variant=extract` of the same package list (apt fetches the
  indexes and .debs from the mirror: the peer's whole job);
- C: `hardbase build` with the .debs cached but no layer cache: every .deb
  unpacked (xz, zstd), every layer written and compressed, SBOMs on.

hardbase runs as installed by pip: the console script beside the interpreter
(not a pyenv shim) with its bytecode compiled (this machine sets
PYTHONDONTWRITEBYTECODE, so the bench gives it a PYTHONPYCACHEPREFIX filled by
a first, untimed run).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, Result, every_run, sh

ROUNDS = 5
MIRRORS = [
    "deb http://deb.debian.org/debian trixie trixie-updates main",
    "deb http://deb.debian.org/debian-security trixie-security main",
]


def console_script() -> str:
    """The installed entry point beside this interpreter (a pyenv shim adds its own start)."""
    beside = Path(sys.executable).parent / "hardbase"
    return str(beside) if beside.exists() else shutil.which("hardbase") or "hardbase"


def installed_env(work: Path, cache: Path) -> dict[str, str]:
    """The environment of a pip-installed hardbase: bytecode kept (in a prefix dir here;
    an empty PYTHONDONTWRITEBYTECODE is unset for Python)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="")
    env["PYTHONPYCACHEPREFIX"] = str(work.parent / "pycache")
    env["HARDBASE_CACHE"] = str(cache)
    return env


def _run(argv: list[str | Path], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(a) for a in argv], env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def _image_size(layout: Path) -> int:
    index = json.loads((layout / "index.json").read_text())
    top = index["manifests"][0]["digest"][7:]
    img_index = json.loads((layout / "blobs/sha256" / top).read_text())
    manifest = json.loads(
        (layout / "blobs/sha256" / img_index["manifests"][0]["digest"][7:]).read_text()
    )
    return sum(layer["size"] for layer in manifest["layers"])


def run(work: Path) -> list[Result]:
    spec = work / "python3.yaml"
    shutil.copy(REPO / "images/python3.yaml", spec)
    cache = work / "cache"
    env = installed_env(work, cache)
    hardbase = console_script()
    sh(hardbase, "-q", "lock", spec, env=env)
    sh(hardbase, "-q", "build", spec, "--output", work / "first", env=env)  # downloads, caches
    size = _image_size(work / "first")
    lock = json.loads((work / "python3.lock.json").read_text())
    names = ",".join(p["name"] for p in lock["archs"]["amd64"]["packages"])
    results = [Result("hardbase python3 image, compressed", size / 1e6, "MB")]
    peer = shutil.which("mmdebstrap") is not None
    if not peer:
        results.append(Result("mmdebstrap not installed: peer not measured", 0, ""))

    def warm(i: int) -> float:
        return _run([hardbase, "-q", "build", spec, "--output", work / f"warm-{i}"], env)

    def extract(i: int) -> float:
        tar = work / "extract.tar"
        t = _run(["mmdebstrap", "-q", "--variant=extract", f"--include={names}", "trixie",
                  tar, *MIRRORS], env)  # fmt: skip
        if i == 0:
            raw = tar.read_bytes()
            results.append(Result("mmdebstrap extract tar", len(raw) / 1e6, "MB"))
            gz = len(gzip.compress(raw, 6))
            results.append(Result("mmdebstrap extract tar, gzip -6", gz / 1e6, "MB"))
        tar.unlink()
        return t

    def cold_layers(i: int) -> float:
        shutil.rmtree(cache / "layers", ignore_errors=True)
        return _run([hardbase, "-q", "build", spec, "--output", work / f"nolayers-{i}"], env)

    times: dict[str, list[float]] = {"warm": [], "extract": [], "nolayers": []}
    for i in range(ROUNDS):
        times["warm"].append(warm(i))
        if peer:
            times["extract"].append(extract(i))
        times["nolayers"].append(cold_layers(i))
    med = {k: statistics.median(v) for k, v in times.items() if v}
    results += [
        Result(f"hardbase build, warm, new output dir (median of {ROUNDS})", med["warm"], "s"),
        Result(
            f"hardbase build, .debs cached, no layer cache (median of {ROUNDS})",
            med["nolayers"],
            "s",
        ),  # fmt: skip
    ]
    if peer:
        results += [
            Result(f"mmdebstrap --variant=extract (median of {ROUNDS})", med["extract"], "s"),
            Result(
                "ratio: extract / hardbase warm new dir (target >= 10)",
                med["extract"] / med["warm"],
                "x",
            ),  # fmt: skip
            Result(
                "ratio: extract / hardbase no layer cache (target >= 2)",
                med["extract"] / med["nolayers"],
                "x",
            ),  # fmt: skip
        ]
    results += every_run(times)
    return results
