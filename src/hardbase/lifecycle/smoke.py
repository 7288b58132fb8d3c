"""Run a smoke command in a freshly built image: umoci + runc, else podman, else skip.

Both run without network (runc in the bundle's own network namespace, podman
with `--network=none`). When neither works on this machine the smoke test is
skipped and the caller records a warning; a command that runs and fails is a
failed gate.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PODMAN = [
    "podman", "--runtime", "runc", "--cgroup-manager=cgroupfs", "--events-backend=file",
]  # fmt: skip
PODMAN_RUN = ["--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
TIMEOUT = 300


@dataclass(frozen=True)
class SmokeResult:
    ran: bool  # False: no runtime worked here, the test was skipped
    ok: bool
    runtime: str
    output: str


def run_smoke(layout: Path, tag: str, command: tuple[str, ...], workdir: Path) -> SmokeResult:
    """Run `command` in the image `layout:tag`."""
    tried: list[str] = []
    if shutil.which("umoci") and shutil.which("runc"):
        result = _runc(layout, tag, command, workdir)
        if result.ran:
            return result
        tried.append(f"runc: {result.output}")
    if shutil.which("podman"):
        result = _podman(layout, tag, command)
        if result.ran:
            return result
        tried.append(f"podman: {result.output}")
    return SmokeResult(False, True, "", "; ".join(tried) or "neither runc+umoci nor podman")


def _runc(layout: Path, tag: str, command: tuple[str, ...], workdir: Path) -> SmokeResult:
    bundle = Path(tempfile.mkdtemp(prefix="smoke-", dir=workdir))
    name = f"hb-smoke-{uuid.uuid4().hex[:12]}"
    try:
        unpack = subprocess.run(
            ["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle / "b")],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        if unpack.returncode != 0:
            return SmokeResult(False, False, "runc", unpack.stderr.strip()[-500:])
        config_path = bundle / "b" / "config.json"
        config = json.loads(config_path.read_text())
        config["process"]["args"] = list(command)
        config["process"]["terminal"] = False
        config_path.write_text(json.dumps(config))
        proc = subprocess.run(
            ["runc", "run", "--bundle", str(bundle / "b"), name],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        output = (proc.stdout + proc.stderr).strip()[-2000:]
        if proc.returncode != 0 and _runtime_broken(proc.stderr):
            return SmokeResult(False, False, "runc", output)
        return SmokeResult(True, proc.returncode == 0, "runc", output)
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        return SmokeResult(False, False, "runc", str(exc))
    finally:
        subprocess.run(["runc", "delete", "--force", name], capture_output=True, check=False)
        shutil.rmtree(bundle, ignore_errors=True)


def _podman(layout: Path, tag: str, command: tuple[str, ...]) -> SmokeResult:
    try:
        proc = subprocess.run(
            [*PODMAN, "run", "--rm", *PODMAN_RUN, "--entrypoint", command[0],
             f"oci:{layout}:{tag}", *command[1:]],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return SmokeResult(False, False, "podman", str(exc))
    output = (proc.stdout + proc.stderr).strip()[-2000:]
    if proc.returncode in (125,) or (proc.returncode != 0 and _runtime_broken(proc.stderr)):
        return SmokeResult(False, False, "podman", output)
    return SmokeResult(True, proc.returncode == 0, "podman", output)


def _runtime_broken(stderr: str) -> bool:
    """The runtime itself failed (no cgroups, no namespaces), not the command in the image."""
    text = stderr.lower()
    return any(
        marker in text
        for marker in ("cgroup", "operation not permitted", "permission denied: unknown",
                       "namespace")
    )  # fmt: skip
