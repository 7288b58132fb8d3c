"""Applying a patch to an unpacked source tree: a dry run that says what fails, and a refresh.

Patches are applied as dpkg-source applies a `3.0 (quilt)` series: `patch -p1`
with no fuzz (offsets are fine). A dry run reports, per file, each hunk that
fails, so a user reads which file and which hunk to rework. `refresh` rewrites
a patch that applies with offsets as the diff of the files it changes, so the
series stored in the rebuilt source applies exactly (what `quilt refresh` does).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hardbase.errors import HardbaseError

log = logging.getLogger(__name__)

PATCH_TIMEOUT = 120.0
_CHECKING = re.compile(r"^(?:checking|patching) file (.+)$")
_HUNK_FAILED = re.compile(r"^Hunk #(\d+) FAILED at (\d+)")
_NO_FILE = re.compile(r"^can't find file to patch")
_REVERSED = re.compile(r"^Reversed \(or previously applied\) patch detected")


class PatchToolError(HardbaseError):
    """`patch` or `diff` could not be run."""


@dataclass(frozen=True)
class Failure:
    """One reason a patch does not apply: a file and, when known, a hunk."""

    file: str
    hunk: int | None
    line: int | None
    reason: str

    def __str__(self) -> str:
        if self.hunk is not None:
            return f"hunk #{self.hunk} of {self.file} fails at line {self.line}"
        return f"{self.file}: {self.reason}"


@dataclass(frozen=True)
class DryRun:
    """What `patch --dry-run` said about one patch on one tree."""

    files: tuple[str, ...]  # the files the patch touches, as `patch` names them
    failures: tuple[Failure, ...]
    offsets: bool  # some hunk applied at an offset (a refresh rewrites it)
    output: str

    @property
    def clean(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.clean:
            return "applies cleanly" + (" (with offsets)" if self.offsets else "")
        return "does not apply: " + "; ".join(str(f) for f in self.failures)


def _patch(tree: Path, patch: Path, *, dry_run: bool) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("patch")
    if tool is None:
        raise PatchToolError("GNU patch is not installed; install it (apt-get install patch)")
    args = [tool, "-p1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch"]
    if dry_run:
        args.append("--dry-run")
    try:
        return subprocess.run(
            [*args, "-d", str(tree), "-i", str(patch.resolve())],
            capture_output=True,
            text=True,
            timeout=PATCH_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PatchToolError(f"cannot run patch on {patch}") from exc


def dry_run(tree: Path, patch: Path) -> DryRun:
    """Whether `patch` applies to `tree` with -p1 and no fuzz; nothing in `tree` changes."""
    proc = _patch(tree, patch, dry_run=True)
    output = proc.stdout + proc.stderr
    files: list[str] = []
    failures: list[Failure] = []
    current = "?"
    offsets = False
    for line in output.splitlines():
        if match := _CHECKING.match(line):
            current = match.group(1).strip().strip("'")
            files.append(current)
        elif match := _HUNK_FAILED.match(line):
            failures.append(Failure(current, int(match[1]), int(match[2]), "hunk failed"))
        elif _NO_FILE.match(line):
            failures.append(Failure(_missing_name(output, line), None, None, "no such file"))
        elif _REVERSED.match(line):
            failures.append(Failure(current, None, None, "already applied (reversed)"))
        elif "offset" in line and "succeeded" in line:
            offsets = True
    if proc.returncode != 0 and not failures:
        last = output.strip().splitlines()[-1] if output.strip() else ""
        failures.append(Failure(patch.name, None, None, last or f"patch exited {proc.returncode}"))
    return DryRun(tuple(files), tuple(failures), offsets, output)


def _missing_name(output: str, line: str) -> str:
    # After "can't find file", `patch` quotes the diff header with `|`; +++ names the file.
    after = output[output.index(line) :].splitlines()
    for text in after:
        if text.startswith("|+++ "):
            name = text[5:].split("\t")[0].strip()
            return name.split("/", 1)[1] if "/" in name else name
    return "a file"


def refresh(tree: Path, patch: Path, header: str) -> bytes:
    """The patch rewritten as `header` plus the exact diff it makes to `tree` (unchanged).

    The patch must apply (see `dry_run`); the files it touches are copied to a
    scratch directory, patched there and diffed against the originals.
    """
    check = dry_run(tree, patch)
    if not check.clean:
        raise PatchToolError(f"{patch.name} {check.summary()}")
    with tempfile.TemporaryDirectory(prefix="hardbase-refresh-") as scratch:
        old, new = Path(scratch, "a"), Path(scratch, "b")
        for name in check.files:
            source = tree / name
            for top in (old, new):
                target = top / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_file() and not source.is_symlink():
                    shutil.copy2(source, target)
        applied = _patch(new, patch, dry_run=False)
        if applied.returncode != 0:
            raise PatchToolError(f"{patch.name} does not apply to a copy of its files")
        diff = shutil.which("diff")
        if diff is None:
            raise PatchToolError("diff is not installed; install diffutils")
        parts = [header.rstrip("\n").encode() + b"\n---\n"] if header.strip() else []
        for name in sorted(set(check.files)):
            proc = subprocess.run(
                [diff, "-Nu", "--label", f"a/{name}", "--label", f"b/{name}",
                 str(old / name), str(new / name)],
                capture_output=True,
                timeout=PATCH_TIMEOUT,
            )  # fmt: skip
            if proc.returncode not in (0, 1):
                raise PatchToolError(f"diff failed on {name}: {proc.stderr.decode()[:200]}")
            parts.append(proc.stdout)
        return b"".join(parts)
