"""run_tool: a missing program names the Debian package to install; stderr gives the reason."""

from __future__ import annotations

import pytest

from hardbase.errors import ArchiveError, UsageError
from hardbase.util.tools import last_error_line, run_tool


def test_a_missing_program_names_its_package() -> None:
    with pytest.raises(UsageError, match="install the dpkg-dev package"):
        run_tool(["hardbase-no-such-tool"], package="dpkg-dev", what="x", error=ArchiveError)


def test_a_failing_program_is_returned_with_its_reason() -> None:
    result = run_tool(
        ["sh", "-c", "echo noise >&2; echo 'sh: error: broken' >&2; echo after >&2; exit 3"],
        package="dash", what="fail", error=ArchiveError,
    )  # fmt: skip
    assert result.returncode == 3
    assert last_error_line(result.stderr) == "sh: error: broken"
    assert last_error_line(b"only this\n") == "only this"
    assert last_error_line(b"") == "no reason given"


def test_a_timeout_is_the_callers_error() -> None:
    with pytest.raises(ArchiveError, match="running sleep to wait failed"):
        run_tool(["sleep", "5"], package="coreutils", what="wait", error=ArchiveError, timeout=0.2)
