"""`watch`'s log configuration does not leak into the next command in the same process.

`main()` runs many times in one process (the tests, library callers). A
`watch` run installs a root handler at INFO (cli/logs.configure); the next
command must be back at its own level, and a handler must write to the
`sys.stderr` of the moment, not to a stream swapped out since.
"""

from __future__ import annotations

import io
import logging
import sys

import pytest

from hardbase.cli import logs
from hardbase.cli.main import main


def test_the_next_command_drops_watchs_handler_and_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("json")
    root = logging.getLogger()
    assert root.level == logging.INFO
    assert main(["completion", "bash"]) == 0
    assert root.level == logging.WARNING
    assert not [h for h in root.handlers if getattr(h, "hardbase", False)]
    capsys.readouterr()
    logging.getLogger("hardbase.test").info("not shown at the default level")
    assert "not shown" not in capsys.readouterr().err


def test_the_handler_writes_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logs.configure("human")
    first.close()  # the stream the handler was made with is gone, as a finished capture is
    monkeypatch.setattr(sys, "stderr", second)
    try:
        logging.getLogger("hardbase.test").warning("after the swap")
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "hardbase", False)]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
    assert second.getvalue() == "hardbase: WARNING: after the swap\n"
