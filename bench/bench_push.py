"""Push the trixie python3 image to a local docker-registry, cold and onto its base layers.

Cold: an empty registry. Warm base: the cc image (the same skeleton, static,
base and cc layers byte for byte) pushed first to another repository, so
hardbase mounts those and uploads only python3's own layer and config. The peer
is `skopeo copy --all oci:… docker://…` of the same image (`--all`: the index
and its manifest, as hardbase pushes them, so the same digest arrives). Paired:
each of 5 rounds runs hardbase, skopeo (cold), hardbase, skopeo (warm base),
each push on a fresh registry, whole processes; medians. hardbase runs as
pip installs it (bench_build.installed_env). The library's in-process copy is
timed too (median of 3), to show what start-up costs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_build import console_script, installed_env
from common import REPO, Result, every_run, sh

sys.path.insert(0, str(REPO / "tests"))
from registry_fixture import RegistryServer  # noqa: E402

RUNS = 3
ROUNDS = 5


def _push_once(
    work: Path, name: str, push: Callable[[str, str], object], base: str | None, image: str
) -> float:
    """Time of `push(src, dest)` of `image` on a fresh registry (after pushing `base`)."""
    root = work / f"registry-{name}"
    server = RegistryServer(root)
    server.start()
    try:
        if base is not None:
            push(base, f"docker://{server.host}/hardbase/cc:latest")
        start = time.perf_counter()
        push(image, f"docker://{server.host}/hardbase/python3:3.13")
        return time.perf_counter() - start
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _median_push(
    work: Path, name: str, push: Callable[[str, str], object], base: str | None, image: str
) -> float:
    return statistics.median(
        _push_once(work, f"{name}-{i}", push, base, image) for i in range(RUNS)
    )


def run(work: Path) -> list[Result]:
    cache = work / "cache"
    env = installed_env(work, cache)
    script = console_script()
    layouts = {}
    for name in ("cc", "python3"):
        spec = work / f"{name}.yaml"
        shutil.copy(REPO / "images" / f"{name}.yaml", spec)
        layouts[name] = work / name
        sh(script, "-q", "build", spec, "--output", layouts[name], "--no-sbom", env=env)
    py, cc = f"oci:{layouts['python3']}:latest", f"oci:{layouts['cc']}:latest"

    def hardbase(src: str, dest: str) -> None:
        subprocess.run(
            [script, "-q", "push", "--insecure", src, dest], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def skopeo(src: str, dest: str) -> None:
        sh("skopeo", "copy", "-q", "--all", "--dest-tls-verify=false", src, dest)

    def library(src: str, dest: str) -> None:
        from hardbase.oci.copy import copy

        copy(src, dest, insecure=True)

    peer = shutil.which("skopeo") is not None
    times: dict[str, list[float]] = {"hb-cold": [], "sk-cold": [], "hb-warm": [], "sk-warm": []}
    for i in range(ROUNDS):
        times["hb-cold"].append(_push_once(work, f"hb-cold-{i}", hardbase, None, py))
        if peer:
            times["sk-cold"].append(_push_once(work, f"sk-cold-{i}", skopeo, None, py))
        times["hb-warm"].append(_push_once(work, f"hb-warm-{i}", hardbase, cc, py))
        if peer:
            times["sk-warm"].append(_push_once(work, f"sk-warm-{i}", skopeo, cc, py))
    med = {k: statistics.median(v) for k, v in times.items() if v}
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
    results = [
        Result(f"hardbase push python3, empty registry (median of {ROUNDS})", med["hb-cold"], "s"),
        Result(
            f"hardbase push python3, cc base layers there (median of {ROUNDS})", med["hb-warm"], "s"
        ),  # fmt: skip
        Result("hardbase.oci.copy in-process, empty registry", lib_cold, "s"),
        Result("hardbase.oci.copy in-process, cc base layers there", lib_warm, "s"),
    ]
    if not peer:
        return [*results, Result("skopeo not installed: peer not measured", 0, "")]
    results += [
        Result(
            f"skopeo copy --all python3, empty registry (median of {ROUNDS})", med["sk-cold"], "s"
        ),  # fmt: skip
        Result(
            f"skopeo copy --all python3, cc base there (median of {ROUNDS})", med["sk-warm"], "s"
        ),  # fmt: skip
        Result(
            "ratio: skopeo / hardbase, cold (target >= 1)", med["sk-cold"] / med["hb-cold"], "x"
        ),
        Result(
            "ratio: skopeo / hardbase, base layers there (target >= 1)",
            med["sk-warm"] / med["hb-warm"],
            "x",
        ),  # fmt: skip
    ]
    results += every_run(times)
    return results
