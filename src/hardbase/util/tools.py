"""Running the Debian tools hardbase calls (gpg, dpkg-source, ...) with errors a user can read."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from hardbase.errors import HardbaseError, UsageError


def run_tool(
    command: Sequence[str],
    *,
    package: str,
    what: str,
    error: type[HardbaseError],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[bytes]:
    """Run `command` and return it whatever its exit status (output captured).

    A missing program is a UsageError naming the Debian `package` to install; a
    failure to run it (or a timeout) is `error` saying what it was for.
    """
    try:
        return subprocess.run(
            list(command), cwd=cwd, env=None if env is None else dict(env), input=stdin,
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise UsageError(f"{command[0]} is not installed; install the {package} package") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise error(f"running {command[0]} to {what} failed") from exc


def last_error_line(stderr: bytes, default: str = "no reason given") -> str:
    """The line of a tool's stderr that says why it failed: the last naming an error."""
    lines = [x.strip() for x in stderr.decode("utf-8", "replace").splitlines() if x.strip()]
    return next(
        (x for x in reversed(lines) if "error" in x.lower()), lines[-1] if lines else default
    )
