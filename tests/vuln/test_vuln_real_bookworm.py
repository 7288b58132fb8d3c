"""The scanner on real data: a bookworm image from the point release against its updates.

An image built from the `bookworm` suite alone is scanned with a database that
`hardbase db update --source debian-changelog=bookworm:...` built from the real
archive. The test works out on its own, from the newer .debs' changelogs (read
with python-debian) and `dpkg --compare-versions`, which CVEs the -security and
-updates versions fix, and requires exactly those to be reported fixable with
exactly those fixed versions. Rebuilt with every bookworm suite, the same image
has nothing fixable. Marked `archive`: it needs deb.debian.org (about 15 MB).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from debian.changelog import Changelog
from debian.debfile import DebFile

from hardbase.build.fetch import cached_path
from hardbase.build.lock import LockedPackage
from hardbase.cli.main import main
from hardbase.vuln.db import VulnDB

pytestmark = [pytest.mark.archive, pytest.mark.slow]

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
BOOKWORM_RELEASED = date(2023, 6, 10)
BOOKWORM = {"bookworm", "bookworm-security", "bookworm-updates", "bookworm-proposed-updates"}
# `base` brings base-files (os-release), tzdata, libc6, libssl3. Chosen because, on the
# archive of 2026-11, openssl (a rebase: 3.0.20 → 3.0.22), expat, xz-utils and libpng1.6
# have newer versions in bookworm-security than in the point release, and `less` has a
# CVE first named in an unstable upload, then fixed by a bookworm upload (the pitfall).
PACKAGES = ["libexpat1", "liblzma5", "libpng16-16", "zlib1g", "less"]
IDS = re.compile(r"\b(CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3})\b")


def spec_text(name: str, suites: list[tuple[str, str]]) -> str:
    sources = "".join(f"  - uris: [{uri}]\n    suites: [{suite}]\n" for uri, suite in suites)
    return (
        f"name: {name}\nrelease: bookworm\nextends: base\n"
        f"packages: [{', '.join(PACKAGES)}]\nsources:\n{sources}"
    )


@dataclass(frozen=True)
class Built:
    ref: str
    packages: tuple[LockedPackage, ...]

    def sources(self) -> dict[str, str]:
        return {p.source: p.source_version for p in self.packages}


def build(tmp: Path, name: str, suites: list[tuple[str, str]]) -> Built:
    spec = tmp / f"{name}.yaml"
    spec.write_text(spec_text(name, suites))
    out = tmp / name
    assert main(["-q", "build", str(spec), "--output", str(out)]) == 0
    lock = json.loads((tmp / f"{name}.lock.json").read_text())
    packages = tuple(LockedPackage(**p) for p in lock["archs"]["amd64"]["packages"])
    return Built(f"oci:{out}:latest", packages)


def scan(ref: str, db: Path, tmp: Path) -> list[dict[str, Any]]:
    report = tmp / "report.json"
    assert main(["-q", "scan", ref, "--db", str(db), "--format", "json", "-o", str(report)]) == 0
    findings: list[dict[str, Any]] = json.loads(report.read_text())["findings"]
    return findings


def fixable(findings: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(source, id) → fixed version, for every fixable Debian finding (one per source)."""
    out: dict[tuple[str, str], str] = {}
    for f in findings:
        if f["status"] != "fixable" or f["package"]["type"] != "deb":
            continue
        key = (f["package"]["source_name"], f["id"])
        assert out.setdefault(key, f["fixed_version"]) == f["fixed_version"], key
    return out


def dpkg(a: str, op: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0


def changelog(built: Built, source: str) -> Changelog:
    """The Debian changelog of `source` from one of the image's .debs (the build cached them)."""
    for pkg in built.packages:
        if pkg.source == source:
            found = DebFile(str(cached_path(pkg))).changelog()
            if found is not None:
                return found
    raise AssertionError(f"no binary of {source} in the image carries its changelog")


def targets_bookworm(block: Any) -> bool:
    return bool(set(str(block.distributions or "").split()) & BOOKWORM)


def expected_fixes(newer: Changelog, installed: str) -> dict[str, str]:
    """CVE → the bookworm upload that fixes it, for CVEs that uploads after `installed` fix.

    Blocks newest first; those above the installed version's own entry are what the
    update adds. A CVE is fixed by the oldest bookworm-targeted entry at or above the
    entry that first names it (an unstable entry fixes nothing in bookworm by itself).
    """
    blocks = list(newer)
    versions = [str(b.version) for b in blocks]
    assert installed in versions, f"{installed} is not in the newer changelog"
    mine = versions.index(installed)
    first: dict[str, int] = {}
    for i, block in enumerate(blocks):
        for vid in IDS.findall("\n".join(block.changes())):
            first[vid] = i  # the last assignment is the oldest entry naming it
    out: dict[str, str] = {}
    for vid, i in first.items():
        if i >= mine:
            continue  # the installed version already has it
        fixer = next(b for b in reversed(blocks[: i + 1]) if targets_bookworm(b))
        fixed = str(fixer.version)
        assert dpkg(fixed, "gt", installed) and dpkg(fixed, "le", versions[0]), (vid, fixed)
        out[vid] = fixed
    return out


@pytest.fixture(scope="module")
def point(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("point"), "point", [(MIRROR, "bookworm")])


@pytest.fixture(scope="module")
def updated(tmp_path_factory: pytest.TempPathFactory) -> Built:
    suites = [(MIRROR, "bookworm"), (MIRROR, "bookworm-updates"), (SECURITY, "bookworm-security")]
    return build(tmp_path_factory.mktemp("updated"), "updated", suites)


@pytest.fixture(scope="module")
def database(point: Built, updated: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("db") / "vuln.db"
    names = ",".join(sorted(set(point.sources()) | set(updated.sources())))
    args = ["-q", "db", "update", "--db", str(db)]
    assert main([*args, "--source", f"debian-changelog=bookworm:{names}"]) == 0
    return db


def test_point_release_image_is_fixable_exactly_as_the_changelogs_say(
    point: Built, updated: Built, database: Path, tmp_path: Path
) -> None:
    if shutil.which("dpkg") is None:
        pytest.skip("needs dpkg")
    old, new = point.sources(), updated.sources()
    assert set(old) == set(new), "the updates changed the package set; pick other packages"
    expected: dict[tuple[str, str], str] = {}
    changed = [s for s in sorted(old) if dpkg(new[s], "gt", old[s])]
    assert {"openssl", "expat"} <= set(changed), changed  # else the test proves little
    for source in changed:
        for vid, fixed in expected_fixes(changelog(updated, source), old[source]).items():
            expected[(source, vid)] = fixed
    assert len(expected) >= 5

    got = fixable(scan(point.ref, database, tmp_path))
    missing = {k: v for k, v in expected.items() if k not in got}
    extra = {k: v for k, v in got.items() if k not in expected}
    wrong = {k: (got[k], v) for k, v in expected.items() if k in got and got[k] != v}
    assert (missing, extra, wrong) == ({}, {}, {})


def test_all_suites_image_has_nothing_fixable(
    updated: Built, database: Path, tmp_path: Path
) -> None:
    findings = scan(updated.ref, database, tmp_path)
    assert fixable(findings) == {}
    # the database does know these packages: their history is there, just all fixed
    with VulnDB.open(database) as db:
        rows = db.affected_for({"debian:12": list(updated.sources())})
    assert {r.package for r in rows} >= {"openssl", "expat", "glibc", "less"}


def test_cve_first_named_in_unstable_is_fixed_by_the_next_bookworm_upload(
    updated: Built, database: Path
) -> None:
    """DESIGN's pitfall, on every changelog of the image that shows it."""
    with VulnDB.open(database) as db:
        rows = {
            (r.package, r.advisory_id): r.fixed_version
            for r in db.affected_for({"debian:12": list(updated.sources())})
        }
    checked = 0
    for source in sorted(updated.sources()):
        try:
            blocks = list(changelog(updated, source))
        except AssertionError:
            continue  # a source whose binaries in the image carry no changelog
        oldest_first = list(reversed(blocks))
        seen: set[str] = set()
        for i, block in enumerate(oldest_first):
            ids = [v for v in IDS.findall("\n".join(block.changes())) if v not in seen]
            seen.update(ids)
            when = parsedate_to_datetime(block.date).date() if block.date else None
            if targets_bookworm(block) or when is None or when < BOOKWORM_RELEASED:
                continue
            fixer = next((b for b in oldest_first[i:] if targets_bookworm(b)), None)
            if fixer is None:
                continue
            for vid in ids:
                assert rows.get((source, vid)) == str(fixer.version), (source, vid, block.version)
                checked += 1
    assert checked >= 1, "no changelog in the image shows the pitfall; add such a package"


def test_point_release_image_gates_on_changelog_urgencies(
    point: Built, updated: Built, database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12's stale image: every fixable finding takes the `urgency=` of the real
    changelog entry that fixed it (labelled as such), and the gate fails on it."""
    findings = [f for f in scan(point.ref, database, tmp_path) if f["status"] == "fixable"]
    assert len(findings) >= 5
    for f in findings:
        source = f["package"]["source_name"]
        entry = next(b for b in changelog(updated, source) if str(b.version) == f["fixed_version"])
        urgency = str(entry.urgency or "").lower()
        assert urgency in ("low", "medium", "high", "emergency", "critical"), (source, urgency)
        want = {"emergency": "critical"}.get(urgency, urgency)
        assert (f["severity"], f["severity_source"]) == (want, "debian-changelog-urgency"), f
    for level in ("low", "unknown"):
        capsys.readouterr()
        code = main(["scan", point.ref, "--db", str(database), "--fail-on", level])
        out = capsys.readouterr().out
        assert code == 1, level
    assert "debian-changelog-urgency" in out
    assert "unknown: 0" in out  # nothing left unrated where the changelog had an urgency
    empty = tmp_path / "empty.db"
    VulnDB.open(empty).close()
    for argv in (["scan", point.ref], ["policy", "check", point.ref], ["compare", point.ref]):
        assert main([*argv, "--db", str(empty)]) == 2, argv
