"""Run built images with the real peers: umoci + runc, podman, skopeo.

Shared by the tests; each helper skips with a clear reason when a peer is missing
(`make setup` installs them all, so in CI nothing is skipped).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

PODMAN = [
    "podman",
    "--runtime",
    "runc",
    "--cgroup-manager=cgroupfs",
    "--events-backend=file",
]
PODMAN_RUN = ["--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make setup installs it)")


def skopeo_copy(src: str, dest: str, scratch: Path) -> None:
    """`skopeo copy SRC DEST` with a policy that accepts anything (fixture images are
    unsigned), its temporary files under `scratch`."""
    need("skopeo")
    policy = scratch / "skopeo-policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    subprocess.run(
        ["skopeo", "--policy", str(policy), "copy", "--quiet", src, dest],
        check=True, capture_output=True, env={**os.environ, "TMPDIR": str(scratch)},
        timeout=120,
    )  # fmt: skip


def skopeo_config(ref: str) -> dict[str, object]:
    need("skopeo")
    out = subprocess.run(
        ["skopeo", "inspect", "--config", ref], check=True, capture_output=True, text=True
    ).stdout
    config: dict[str, object] = json.loads(out)
    return config


def unpack(layout: Path, tag: str, dest: Path) -> Path:
    """`umoci unpack` the image into a runc bundle at dest; returns the rootfs."""
    need("umoci")
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dest / "rootfs"


def runc_run(
    bundle: Path,
    args: list[str],
    *,
    user: tuple[int, int] | None = None,
    host_network: bool = False,
    timeout: int = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `args` in an unpacked bundle with runc (not interactive)."""
    need("runc")
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = args
    config["process"]["terminal"] = False
    if user is not None:
        config["process"]["user"]["uid"], config["process"]["user"]["gid"] = user
    if host_network:
        config["linux"]["namespaces"] = [
            ns for ns in config["linux"]["namespaces"] if ns["type"] != "network"
        ]
    config_path.write_text(json.dumps(config))
    name = f"hb-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run(
            ["runc", "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    finally:
        subprocess.run(["runc", "delete", "--force", name], capture_output=True)


def podman_run(
    ref: str, args: list[str], *, entrypoint: str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    need("podman")
    cmd = [*PODMAN, "run", "--rm", *PODMAN_RUN]
    if entrypoint is not None:
        cmd += ["--entrypoint", entrypoint]
    return subprocess.run(
        [*cmd, ref, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
