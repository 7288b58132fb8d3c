"""`hardbase patch-image` on the real bookworm point-release image against a full rebuild.

The image: mmdebstrap `--variant=minbase` bookworm + python3 from the suite `bookworm`
alone (as tests/patch/test_patch_image_real.py builds it), its findings from the real
debian-changelog feed. Paired rounds: `hardbase patch-image` (archive indexes and .debs
cached after the first) and `mmdebstrap` building the updated package set (bookworm,
-updates, -security, the same packages) into an OCI image. Medians of ROUNDS; the size
line compares the patch layer (compressed) with the whole rebuilt image's layers.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from common import Result, every_run, sh

from hardbase.evaluate.reference import build_reference_image
from hardbase.vuln.inventory import inventory

ROUNDS = 3


def _layers(layout: Path) -> list[int]:
    """The compressed sizes of the layers of the layout's only image."""
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].partition(":")[2]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    if "manifests" in manifest:  # an index: its first image
        digest = manifest["manifests"][0]["digest"].partition(":")[2]
        manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    return [int(layer["size"]) for layer in manifest["layers"]]


def run(work: Path) -> list[Result]:
    base = build_reference_image(work / "point", release="bookworm", point_release=True)
    found = inventory(base).inventory
    sources = ",".join(sorted({p.source_name for p in found.packages if p.type == "deb"}))
    db = work / "changelog.db"
    sh("hardbase", "-q", "db", "update", "--db", db, "--release", "bookworm",
       "--source", f"debian-changelog=bookworm:{sources}")  # fmt: skip
    times: dict[str, list[float]] = {"patch-image": [], "mmdebstrap rebuild": []}
    sh("hardbase", "-q", "patch-image", base, "--output", f"oci:{work / 'warm'}:p", "--db", db)
    for i in range(ROUNDS):
        start = time.perf_counter()
        sh("hardbase", "-q", "patch-image", base, "--output", f"oci:{work / f'p{i}'}:p",
           "--db", db)  # fmt: skip
        times["patch-image"].append(time.perf_counter() - start)
        start = time.perf_counter()
        build_reference_image(work / f"full{i}", release="bookworm")
        times["mmdebstrap rebuild"].append(time.perf_counter() - start)
    patch_layer = _layers(work / "p0")[-1]
    rebuilt = sum(_layers(work / "full0"))
    ratio = statistics.median(times["mmdebstrap rebuild"]) / statistics.median(times["patch-image"])
    return [
        *every_run(times),
        Result("patch-image faster than the mmdebstrap rebuild", ratio, "x"),
        Result("patch layer added (compressed)", patch_layer / 1e6, "MB"),
        Result("full rebuild, all layers (compressed)", rebuilt / 1e6, "MB",
               f"{rebuilt / patch_layer:.1f}x the patch layer"),
    ]  # fmt: skip
