"""`hardbase completion bash|zsh|fish`: scripts generated from the parser, loaded in real shells.

Each test loads the printed script in the shell itself (bash, zsh and fish are
Debian packages that `make setup` installs) and asks it what it would
complete, so a script that does not parse, or does not know a subcommand,
option or choice of the parser, fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hardbase.cli.main import main


def script(shell: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["completion", shell]) == 0
    path = tmp_path / f"hardbase.{shell}"
    path.write_text(capsys.readouterr().out)
    return path


def run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


# (words on the command line, the word being completed) -> what must be offered
CASES = [
    (["hardbase", "sc"], {"scan"}),
    (["hardbase", "db", "p"], {"push", "pull"}),
    (["hardbase", "scan", "oci:x", "--format", ""], {"table", "json", "sarif", "cyclonedx"}),
    (["hardbase", "-q", "db", "push", "--i"], {"--insecure"}),
    (["hardbase", "completion", ""], {"bash", "zsh", "fish"}),
    (["hardbase", "scan", "--fail-on", ""], {"unknown", "low", "critical"}),
]


def test_bash_registers_and_completes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = script("bash", tmp_path, capsys)
    registered = run(["bash", "-c", f"source {path} && complete -p hardbase"])
    assert registered.strip() == "complete -o bashdefault -o filenames -F _hardbase hardbase"
    for words, wanted in CASES:
        array = " ".join(f"'{w}'" for w in words)
        out = run(
            ["bash", "-c", f"source {path}; COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; "
             '_hardbase; printf "%s\\n" "${COMPREPLY[@]}"']
        )  # fmt: skip
        assert wanted <= set(out.split()), (words, out)
        assert all(w.startswith(words[-1]) for w in out.split()), (words, out)


def test_zsh_parses_registers_and_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = script("zsh", tmp_path, capsys)
    run(["zsh", "-n", str(path)])
    registered = run(
        ["zsh", "-c", f"autoload -U compinit; compinit -u -d {tmp_path}/zcompdump; "
         f"source {path}; print -r -- $_comps[hardbase]"]
    )  # fmt: skip
    assert registered.strip() == "_hardbase"
    # Outside a completion widget `words` and `CURRENT` are plain variables, so the
    # function runs with compadd and _files standing in for the widget's builtins.
    fake = "compadd() { print -rl -- ${(P)2} }; _files() { print FILES }"
    for words, wanted in CASES:
        array = " ".join(f"'{w}'" for w in words)
        out = run(["zsh", "-c", f"{fake}; source {path}; words=({array}); CURRENT={len(words)}; "
                   "_hardbase"])  # fmt: skip
        assert wanted <= set(out.split()), (words, out)


def test_fish_parses_and_completes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = script("fish", tmp_path, capsys)
    run(["fish", "--no-execute", str(path)])
    for words, wanted in CASES:
        line = " ".join(words)
        out = run(["fish", "-c", f"source {path}; complete -C '{line}'"])
        offered = {row.split("\t")[0] for row in out.splitlines()}
        assert wanted <= offered, (words, out)


def test_every_subcommand_and_option_is_in_the_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hardbase.cli.completion import walk
    from hardbase.cli.main import build_parser

    text = script("bash", tmp_path, capsys).read_text()
    for node in walk(build_parser()).every():
        where = " ".join(node.path)
        if node.commands:
            assert f"'cmds|{where}|') echo '{' '.join(node.commands)}'" in text
        names = [n for o in node.options for n in o.names]
        assert f"'opts|{where}|') echo '{' '.join(names)}'" in text


def test_unknown_shell_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hardbase", "completion", "tcsh"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "invalid choice: 'tcsh'" in proc.stderr
