"""The systemd units in contrib/: they parse, their command lines are hardbase's, and their
hardening leaves the controller the paths and privileges its smoke test needs.

systemd does not run on this machine (PID 1 is not systemd), so the units are checked with
`systemd-analyze verify` and against what the controller writes, not started.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.cli.main import build_parser

CONTRIB = Path(__file__).parents[2] / "contrib"
UNITS = ["hardbase-watch.service", "hardbase-watch-rootless.service"]


def unit(name: str) -> dict[str, list[str]]:
    """The [Service] section: key -> every value it is given."""
    values: dict[str, list[str]] = {}
    text = (CONTRIB / name).read_text()
    for line in text.split("[Service]", 1)[1].split("\n[", 1)[0].splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("name", UNITS)
def test_unit_parses_and_runs_a_real_command(name: str) -> None:
    service = unit(name)
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0] == "/usr/local/bin/hardbase"
    args = build_parser("watch").parse_args(argv[1:])
    assert args.command == "watch" and args.log_format == "json"
    if shutil.which("systemd-analyze"):
        done = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(CONTRIB / name)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        problems = [
            line for line in done.stderr.splitlines()
            if "/usr/local/bin/hardbase is not executable" not in line  # not installed here
        ]  # fmt: skip
        assert problems == [], problems


@pytest.mark.parametrize("name", UNITS)
def test_hardening_leaves_every_path_the_controller_writes(name: str) -> None:
    service = unit(name)
    assert service["ProtectSystem"] == ["strict"] and service["PrivateTmp"] == ["yes"]
    writable = set(" ".join(service["ReadWritePaths"]).split())
    env = dict(v.split("=", 1) for v in service["Environment"])
    for path in (env["HARDBASE_CACHE"], str(Path(env["HARDBASE_DB"]).parent)):
        assert path in writable, path
    assert "/var/lib/hardbase" in writable  # state database, fleet workdir (jobs, layouts)


def test_root_unit_can_run_runc_and_rootless_unit_can_map_ids() -> None:
    root, rootless = unit(UNITS[0]), unit(UNITS[1])
    # runc (the smoke test's first runtime) needs root and writes its state to /run/runc
    assert "User" not in root and "/run/runc" in " ".join(root["ReadWritePaths"])
    assert root["NoNewPrivileges"] == ["yes"]  # root's runc needs no setuid helper
    # rootless podman: a user, a writable HOME and runtime dir, setuid newuidmap allowed
    assert rootless["User"] == ["hardbase"]
    assert rootless["NoNewPrivileges"] == ["no"] and rootless["Delegate"] == ["yes"]
    env = dict(v.split("=", 1) for v in rootless["Environment"])
    writable = " ".join(rootless["ReadWritePaths"]).split()
    assert env["HOME"] in writable and env["XDG_RUNTIME_DIR"] in writable
