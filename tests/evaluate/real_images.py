"""Real images shared by the archive-marked evaluate and policy tests (built once a session).

- python3: `images/python3.yaml` built by hardbase (oci layout, also an oci-archive copy);
- reference: debian:trixie-slim + python3 as mmdebstrap builds it;
- a vulnerability database of FIXTURE advisories (made-up ids, labelled as fixtures) on
  packages the images really contain: glibc (both), bash (reference only).
"""

from __future__ import annotations

import functools
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from hardbase.cli.main import main
from hardbase.evaluate.reference import build_reference_image
from hardbase.vuln.db import Advisory, Affected, SourceInfo, SupportNote, VulnDB

REPO = Path(__file__).parents[2]
GLIBC_FIX = "FIXTURE-2026-0001"  # fixable in glibc: libc6 (both images), libc-bin (reference)
BASH_FIX = "FIXTURE-2026-0002"  # fixable in bash: reference only
BASH_OPEN = "FIXTURE-2026-0003"  # no fix yet, in bash: reference only


def _root() -> Path:
    root = Path(os.environ["HARDBASE_CACHE"]).parent / "evaluate-images"
    root.mkdir(parents=True, exist_ok=True)
    return root


@functools.cache
def python3_image() -> str:
    """oci:DIR:latest of a hardbase python3 build."""
    root = _root()
    spec = root / "python3.yaml"
    shutil.copy(REPO / "images" / "python3.yaml", spec)
    assert main(["-q", "build", str(spec), "--output", str(root / "python3")]) == 0
    return f"oci:{root / 'python3'}:latest"


@functools.cache
def python3_spec() -> Path:
    python3_image()
    return _root() / "python3.yaml"


@functools.cache
def python3_archive() -> str:
    """The same python3 image as an oci-archive file."""
    out = _root() / "python3.tar"
    assert (
        main(["-q", "build", str(python3_spec()), "--output", str(out), "--format", "oci-archive"])
        == 0
    )
    return f"oci-archive:{out}:latest"


@functools.cache
def reference_image() -> str:
    return build_reference_image(_root() / "reference")


@functools.cache
def fixture_db() -> Path:
    """A database file with FIXTURE advisories and a support note for bash (ended)."""
    path = _root() / "fixture.db"
    path.unlink(missing_ok=True)
    with VulnDB.open(path) as db:
        db.replace(
            "fixture",
            [
                Advisory(
                    GLIBC_FIX,
                    "fixture",
                    summary="FIXTURE glibc flaw",
                    severity="high",
                    published="2026-01-01T00:00:00Z",
                ),
                Advisory(
                    BASH_FIX,
                    "fixture",
                    summary="FIXTURE bash flaw",
                    severity="",
                    published="2026-02-01T00:00:00Z",
                ),
                Advisory(BASH_OPEN, "fixture", summary="FIXTURE bash open", severity="medium"),
            ],
            [
                Affected(GLIBC_FIX, "fixture", "debian:13", "glibc", "fixed", "2.41-12+deb13u99"),
                Affected(BASH_FIX, "fixture", "debian:13", "bash", "fixed", "5.2.99-1"),
                Affected(BASH_OPEN, "fixture", "debian:13", "bash", "open"),
            ],
        )
        db.replace_support(
            "debian-security-support",
            [
                SupportNote(
                    "debian:13",
                    "bash",
                    "ended",
                    "debian-security-support",
                    "5.2",
                    "2026-01-01",
                    "FIXTURE: support ended",
                )
            ],
        )
        # recorded now, so that scan, policy check and compare accept the database as fresh
        db.record_source(SourceInfo("fixture", "real_images.py", datetime.now(UTC), 3))
    return path


@functools.cache
def point_release_image(release: str) -> str:
    """mmdebstrap minbase RELEASE + python3 from the suite RELEASE alone (no -updates, no
    -security): an image as old as the point release, with real fixable findings."""
    return build_reference_image(_root() / f"{release}-point", release=release, point_release=True)


@functools.cache
def changelog_db(release: str) -> Path:
    """A database of real Debian data: the debian-changelog feed of RELEASE, read from the
    mirror for the source packages of `point_release_image(RELEASE)`."""
    from hardbase.vuln.inventory import inventory

    found = inventory(point_release_image(release)).inventory
    sources = ",".join(sorted({p.source_name for p in found.packages if p.type == "deb"}))
    path = _root() / f"{release}-changelog.db"
    path.unlink(missing_ok=True)
    args = ["-q", "db", "update", "--db", str(path), "--release", release]
    assert main([*args, "--source", f"debian-changelog={release}:{sources}"]) == 0
    return path
