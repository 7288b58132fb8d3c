"""Crash-safety helpers: SIGKILL a hardbase command at a point, and check an archive after it.

`kill_when(command, ready)` starts `command` and SIGKILLs it (the process alone, as a
crash or the OOM killer would) once `ready()` is true; `paused_publish.py` beside this
file makes a publish stop at a named point and say so in a marker file.
`check_suite(repo, suite, keyring)` checks what a client of hardbase's archive checks:
the InRelease verifies with gpgv, and every index it lists has the size and SHA256 it
states.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PAUSED_PUBLISH = Path(__file__).with_name("paused_publish.py")


def paused_publish(point: str, marker: Path, args: Sequence[str]) -> list[str]:
    """The command line of `hardbase ARGS…` that stops at the publish POINT."""
    return [sys.executable, str(PAUSED_PUBLISH), point, str(marker), *args]


def kill_when(
    command: Sequence[str], ready: Callable[[], bool], *, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run `command`, SIGKILL it once `ready()` holds; fails if it ends or times out first."""
    env = {**os.environ}
    proc = subprocess.Popen(list(command), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"{command} ended before the kill point: {out}{err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} never reached the kill point")
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, out + err
    return subprocess.CompletedProcess(list(command), proc.returncode, out, err)


def run_hardbase(args: Sequence[str], *, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardbase", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip


def check_suite(repo: Path, suite: str, keyring: Path) -> bytes:
    """The suite's InRelease, checked: gpgv verifies it, each index it lists matches it."""
    dists = repo / "dists" / suite
    inrelease = dists / "InRelease"
    gpgv = subprocess.run(["gpgv", "--keyring", str(keyring), str(inrelease)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert gpgv.returncode == 0, gpgv.stderr
    text = inrelease.read_text()
    section = text.split("\nSHA256:\n", 1)[1].split("\n-----BEGIN PGP SIGNATURE", 1)[0]
    listed = [line.split() for line in section.splitlines() if line.startswith(" ")]
    assert listed, f"{inrelease} lists no index"
    for sha256, size, name in listed:
        data = (dists / name).read_bytes()
        assert len(data) == int(size), f"{name} is not the size {inrelease} states"
        assert hashlib.sha256(data).hexdigest() == sha256, f"{name} does not match {inrelease}"
    return inrelease.read_bytes()


def leftovers(repo: Path) -> list[str]:
    """Temp files in REPO's pool and temp links in dists/ that a killed publish left."""
    found = [str(p.relative_to(repo)) for p in (repo / "pool").rglob(".*.tmp")]
    dists = repo / "dists"
    if dists.is_dir():
        found += [str(p.relative_to(repo)) for p in dists.glob(".*.link-*")]
    return sorted(found)


def versions(repo: Path, suite: str, index: str = "main/binary-amd64/Packages") -> list[str]:
    """Every `Package Version` pair the suite's index lists, in order."""
    path = repo / "dists" / suite / index
    pairs, package = [], ""
    for line in path.read_text().splitlines():
        if line.startswith("Package: "):
            package = line.split(": ", 1)[1]
        elif line.startswith("Version: "):
            pairs.append(f"{package} {line.split(': ', 1)[1]}")
    return pairs
