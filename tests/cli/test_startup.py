"""Start-up stays light: `--version`, `--help` and the parser import no heavy library.

Each case runs `python -X importtime -m hardbase ...` as a whole process and
reads the modules it imported from the importtime report on stderr, so an
import added to a command module's top level (or to a module its `register`
needs) fails here. The time itself is measured by `make bench` (bench_startup).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hardbase.cli.main import COMMANDS

HEAVY = {"pydantic", "sqlalchemy", "cyclonedx", "fastapi", "urllib3", "cryptography"}


def imported(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hardbase", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", proc.stderr, re.M)
    assert "hardbase.cli.main" in names, proc.stderr[-2000:]
    return proc, {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["sign", "--help"],
        ["verify", "--help"],
        ["keygen", "--help"],
        ["completion", "bash"],  # builds every command's parser
    ],
)
def test_parser_imports_no_heavy_library(args: list[str]) -> None:
    proc, modules = imported(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert modules & HEAVY == set()


def test_version_and_help_still_answer() -> None:
    proc, _ = imported("--version")
    assert proc.stdout.strip().startswith("hardbase ")
    proc, _ = imported("--help")
    listed = set(re.findall(r"^    (\w[\w-]*) ", proc.stdout, re.M))
    assert set(COMMANDS) <= listed


def test_command_after_cache_dir_gets_its_options(tmp_path: Path) -> None:
    proc, _ = imported("--cache-dir", str(tmp_path), "scan", "--help")
    assert proc.returncode == 0 and "--fail-on" in proc.stdout


def test_unknown_command_exits_2() -> None:
    proc, _ = imported("scna")
    assert proc.returncode == 2 and "invalid choice: 'scna'" in proc.stderr
