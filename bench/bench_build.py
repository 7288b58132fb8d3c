"""Build the trixie python3 package set three ways and compare with mmdebstrap.

hardbase warm (lock, .debs and layers cached), hardbase with downloaded .debs
but no layer cache, `mmdebstrap --variant=extract` and `--variant=essential`
on the same package set; plus compressed sizes.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from common import REPO, Result, sh, timed

MIRRORS = [
    "deb http://deb.debian.org/debian trixie trixie-updates main",
    "deb http://deb.debian.org/debian-security trixie-security main",
]


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
    env = {"HARDBASE_CACHE": str(cache)}
    out = work / "out"
    sh("hardbase", "-q", "lock", spec, env=env)
    sh("hardbase", "-q", "build", spec, "--output", out, env=env)  # downloads, fills caches
    warm = timed(lambda: sh("hardbase", "-q", "build", spec, "--output", out, env=env), 5)

    def cold_layers() -> None:
        shutil.rmtree(cache / "layers", ignore_errors=True)
        sh("hardbase", "-q", "build", spec, "--output", out, env=env)

    nolayers = timed(cold_layers, 3)
    size = _image_size(out)

    lock = json.loads((work / "python3.lock.json").read_text())
    names = ",".join(p["name"] for p in lock["archs"]["amd64"]["packages"])
    results = [
        Result("hardbase build, warm caches (median of 5)", warm, "s"),
        Result("hardbase build, .debs cached, no layer cache (median of 3)", nolayers, "s"),
        Result("hardbase python3 image, compressed", size / 1e6, "MB"),
    ]
    if shutil.which("mmdebstrap") is None:
        results.append(Result("mmdebstrap not installed: peer not measured", 0, ""))
        return results
    tar = work / "extract.tar"
    extract = timed(
        lambda: sh(
            "mmdebstrap", "--variant=extract", f"--include={names}", "trixie", tar, *MIRRORS
        ),
        1,
    )
    raw = tar.read_bytes()
    gz = len(gzip.compress(raw, 6))
    # The same, with our downloaded .debs seeded into apt's cache (apt still fetches indexes).
    seed = work / "seed"
    seed.mkdir()
    for pkg in lock["archs"]["amd64"]["packages"]:
        src = cache / "debs" / pkg["sha256"][:2] / f"{pkg['sha256']}.deb"
        shutil.copy(src, seed / pkg["url"].rsplit("/", 1)[-1])
    hook = f'mkdir -p "$1/var/cache/apt/archives" && cp {seed}/*.deb "$1/var/cache/apt/archives/"'
    seeded = timed(
        lambda: sh(
            "mmdebstrap",
            "--variant=extract",
            f"--include={names}",
            "--skip=download/empty",
            f"--setup-hook={hook}",
            "trixie",
            work / "seeded.tar",
            *MIRRORS,
        ),
        1,
    )
    essential = timed(
        lambda: sh(
            "mmdebstrap",
            "--variant=essential",
            f"--include={names}",
            "trixie",
            work / "essential.tar",
            *MIRRORS,
        ),
        1,
    )
    results += [
        Result("mmdebstrap --variant=extract", extract, "s"),
        Result("mmdebstrap --variant=extract, .debs seeded", seeded, "s"),
        Result("mmdebstrap --variant=essential", essential, "s"),
        Result("mmdebstrap extract tar", len(raw) / 1e6, "MB"),
        Result("mmdebstrap extract tar, gzip -6", gz / 1e6, "MB"),
        Result("ratio: extract / hardbase warm (target >= 10)", extract / warm, "x"),
        Result("ratio: extract / hardbase no layer cache (target >= 2)", extract / nolayers, "x"),
        Result("ratio: seeded extract / hardbase warm", seeded / warm, "x"),
        Result("ratio: seeded extract / hardbase no layer cache", seeded / nolayers, "x"),
        Result("ratio: essential / hardbase no layer cache", essential / nolayers, "x"),
        Result("size: hardbase / extract gzipped (target <= 0.80)", size / gz, ""),
    ]
    return results
