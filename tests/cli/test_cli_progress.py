"""The terminal progress counter: an ETA on every long step, on a terminal or in a log."""

from __future__ import annotations

import pytest

from hardbase.cli.progress import TerminalProgress, eta


def test_eta_from_the_rate_so_far() -> None:
    assert eta(0, 100, 5.0) == "?"
    assert eta(10, 100, 5.0) == "45s"  # 0.5 s each, 90 left
    assert eta(1, 100, 10.0) == "16m30s"
    assert eta(1, 1000, 10.0) == "2h46m"
    assert eta(100, 100, 50.0) == "0s"


def test_a_log_gets_a_counter_with_an_eta_every_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = [0.0]
    progress = TerminalProgress(every=15.0, clock=lambda: now[0])
    progress.tty = False  # what CI and `2>log` see
    progress.start("reading Debian changelogs", 200)
    for _ in range(100):
        now[0] += 0.5  # 50 s for the first half
        progress.advance()
    now[0] += 1.0
    progress.finish()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "hardbase: reading Debian changelogs (200)..."
    assert lines[1] == "hardbase: reading Debian changelogs: 30/200, ETA 1m25s"
    assert lines[2] == "hardbase: reading Debian changelogs: 60/200, ETA 1m10s"
    assert lines[3] == "hardbase: reading Debian changelogs: 90/200, ETA 55s"
    assert lines[-1] == "hardbase: reading Debian changelogs: done in 51.0s"
    assert len(lines) == 5


def test_a_terminal_gets_the_eta_on_the_bar(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    progress = TerminalProgress(clock=lambda: now[0])
    progress.tty = True
    progress.start("reading Packages indexes", 4)
    now[0] += 2.0
    progress.advance()
    err = capsys.readouterr().err
    assert err.endswith("] 1/4  ETA 6s\x1b[K")


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    progress = TerminalProgress(enabled=False)
    progress.start("x", 3)
    progress.advance(3)
    progress.finish()
    assert capsys.readouterr().err == ""


def test_a_nested_step_gives_the_outer_label_back(capsys: pytest.CaptureFixture[str]) -> None:
    """The npm install that first downloads its build root's packages: each line is its own."""
    now = [0.0]
    progress = TerminalProgress(clock=lambda: now[0])
    progress.tty = False
    progress.start("installing 3 npm packages for amd64", 0)
    progress.start("downloading 2 packages", 100)
    now[0] += 1.0
    progress.advance(100)
    progress.finish()
    now[0] += 4.0
    progress.finish()
    assert capsys.readouterr().err.splitlines() == [
        "hardbase: installing 3 npm packages for amd64...",
        "hardbase: downloading 2 packages (100)...",
        "hardbase: downloading 2 packages: done in 1.0s",
        "hardbase: installing 3 npm packages for amd64: done in 5.0s",
    ]
