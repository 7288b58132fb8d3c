"""Push the trixie python3 image to a local docker-registry, cold and onto its base layers.

Cold: an empty registry. Warm base: the cc image (the same skeleton, static,
base and cc layers byte for byte) pushed first to another repository, so
hardbase mounts those and uploads only python3's own layer and config. Each
case is the median of 3, each run on a fresh registry. The peer is
`skopeo copy oci:… docker://…` of the same image in the same cases. The CLI
times include the interpreter's start, so the library's in-process copy is
timed too.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import REPO, Result, sh

sys.path.insert(0, str(REPO / "tests"))
from registry_fixture import RegistryServer  # noqa: E402

RUNS = 3


def _median_push(
    work: Path, name: str, push: Callable[[str, str], object], base: str | None, image: str
) -> float:
    """Median time of `push(src, dest)` of `image`, each on a fresh registry (after `base`)."""
    times = []
    for i in range(RUNS):
        root = work / f"registry-{name}-{i}"
        server = RegistryServer(root)
        server.start()
        try:
            if base is not None:
                push(base, f"docker://{server.host}/hardbase/cc:latest")
            start = time.perf_counter()
            push(image, f"docker://{server.host}/hardbase/python3:3.13")
            times.append(time.perf_counter() - start)
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
    return statistics.median(times)


def _timed_help() -> float:
    start = time.perf_counter()
    sh("hardbase", "push", "--help")
    return time.perf_counter() - start


def run(work: Path) -> list[Result]:
    cache = work / "cache"
    env = {"HARDBASE_CACHE": str(cache)}
    layouts = {}
    for name in ("cc", "python3"):
        spec = work / f"{name}.yaml"
        shutil.copy(REPO / "images" / f"{name}.yaml", spec)
        layouts[name] = work / name
        sh("hardbase", "-q", "build", spec, "--output", layouts[name], "--no-sbom", env=env)
    py, cc = f"oci:{layouts['python3']}:latest", f"oci:{layouts['cc']}:latest"

    def hardbase(src: str, dest: str) -> None:
        sh("hardbase", "-q", "push", "--insecure", src, dest, env=env)

    def skopeo(src: str, dest: str) -> None:
        sh("skopeo", "copy", "-q", "--dest-tls-verify=false", src, dest)

    def library(src: str, dest: str) -> None:
        from hardbase.oci.copy import copy

        copy(src, dest, insecure=True)

    hb_cold = _median_push(work, "hb-cold", hardbase, None, py)
    hb_warm = _median_push(work, "hb-warm", hardbase, cc, py)
    saved = os.environ.get("HARDBASE_CACHE")
    os.environ["HARDBASE_CACHE"] = str(cache)
    try:
        lib_cold = _median_push(work, "lib-cold", library, None, py)
        lib_warm = _median_push(work, "lib-warm", library, cc, py)
    finally:
        if saved is None:
            os.environ.pop("HARDBASE_CACHE", None)
        else:
            os.environ["HARDBASE_CACHE"] = saved
    startup = statistics.median(_timed_help() for _ in range(RUNS))
    results = [
        Result("hardbase push python3, empty registry (median of 3)", hb_cold, "s"),
        Result("hardbase push python3, cc base layers there (median of 3)", hb_warm, "s"),
        Result("hardbase.oci.copy in-process, empty registry", lib_cold, "s"),
        Result("hardbase.oci.copy in-process, cc base layers there", lib_warm, "s"),
        Result("hardbase CLI start (`hardbase push --help`)", startup, "s"),
    ]
    if shutil.which("skopeo") is None:
        return [*results, Result("skopeo not installed: peer not measured", 0, "")]
    sk_cold = _median_push(work, "skopeo-cold", skopeo, None, py)
    sk_warm = _median_push(work, "skopeo-warm", skopeo, cc, py)
    return [
        *results,
        Result("skopeo copy python3, empty registry (median of 3)", sk_cold, "s"),
        Result("skopeo copy python3, cc base layers there (median of 3)", sk_warm, "s"),
        Result("ratio: skopeo / hardbase, cold", sk_cold / hb_cold, "x"),
        Result("ratio: skopeo / hardbase, base layers there", sk_warm / hb_warm, "x"),
        Result("ratio: hardbase cold / base layers there", hb_cold / hb_warm, "x"),
    ]
