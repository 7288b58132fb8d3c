"""A patched rebuild: the release's source plus CVE fixes, built hermetically, into REPO.

For each CVE the fix is the user's `--patch` that names it, else the most
trustworthy Debian candidate that applies (hardbase.patch.find). The release's
tree gets each patch refreshed into `debian/patches/` and appended to the
series (3.0 quilt; dpkg-source applies it), the version `<version>+hb<N>`, and
a changelog entry for the release naming every CVE fixed, so changelog readers
see the fix, and `Hardbase-*` control fields in every binary package naming the
Debian ancestor, the CVEs and the patches (hardbase.debian.pedigree).
`dpkg-source -b` makes the patched source package; the binaries are built with
`dpkg-buildpackage -B` in a hermetic build root (hardbase.patch.buildroot) and
published with the source to REPO's `<R>-hardbase` suite, signed with the
archive key. A record of every input (the .dsc and tarballs, the patches, the
build root) and SLSA provenance for the .debs are written beside the output; the
provenance, signed with the archive key (`.provenance.json.asc`, an armored
detached OpenPGP signature), is published into REPO's pool beside the source.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cmp_to_key
from pathlib import Path
from typing import Any

from hardbase.attest.attestation import SLSA_PROVENANCE_V1, STATEMENT_V1
from hardbase.attest.provenance import Material, slsa_provenance
from hardbase.build.spec import RELEASES
from hardbase.debian.archive import Archive
from hardbase.debian.model import SourceEntry
from hardbase.debian.pedigree import PatchInfo, Pedigree, add_to_control, patch_kind
from hardbase.debian.pedigree import read as read_pedigree
from hardbase.debian.version import compare_versions, hb_revision, patched_version
from hardbase.errors import HardbaseError, UsageError
from hardbase.patch.apply import refresh
from hardbase.patch.buildroot import (
    BuildResult,
    BuildRoot,
    build_in_root,
    ensure_root,
    plan_root,
    process_alive,
)
from hardbase.patch.find import Candidate, find_candidates, series
from hardbase.patch.trees import Archives, as_tree, check_cve, fetch_base, fetch_newer
from hardbase.repo.keys import sign_release
from hardbase.repo.publish import PublishResult, publish, published_binaries
from hardbase.util.fs import file_hash, write_atomic
from hardbase.util.progress import NullProgress, Progress
from hardbase.util.tools import last_error_line, run_tool

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".hardbase-patch.json"
RECORD_TYPE = "https://hardbase.dev/patch-record/v1"
MAINTAINER = "hardbase <rebuilds@hardbase.invalid>"


class PatchBuildError(UsageError):
    """The patched build cannot go ahead with these inputs (exit 2, nothing published)."""


@dataclass(frozen=True)
class AppliedPatch:
    """A patch as it went into the rebuilt source."""

    candidate: Candidate
    name: str  # its name in debian/patches
    refreshed: bytes  # the patch as stored (header and exact diff)

    @property
    def cves(self) -> tuple[str, ...]:
        return self.candidate.cves


@dataclass(frozen=True)
class PatchedBuild:
    """What `build_patched` made and published."""

    source: str
    base_version: str
    version: str
    release: str
    cves: tuple[str, ...]
    patches: tuple[AppliedPatch, ...]
    root: BuildRoot
    result: BuildResult
    dsc: Path
    source_files: tuple[Path, ...]  # the .dsc first, then the tarballs it lists
    record: Path
    published: PublishResult | None
    epoch: int
    provenance: Path | None = None  # the SLSA provenance of the .debs (signed when published)

    @property
    def debs(self) -> list[Path]:
        """The built .debs the archive gets (debug symbols left out)."""
        return [d for d in self.result.debs if not d.name.split("_", 1)[0].endswith("-dbgsym")]


class AlreadyPublished(HardbaseError):
    """REPO already serves a rebuild of the same Debian version with the same patches.

    Nothing was built or published: a re-run (after a crash, or a second request)
    with the same inputs makes no second version. Not a failure (the CLI exits 0).
    """

    def __init__(self, source: str, version: str, repo: Path) -> None:
        super().__init__(
            f"{source} {version} is already published to {repo} with the same patches; "
            "nothing was built"
        )
        self.source = source
        self.version = version
        self.repo = repo


SCRATCH_PREFIX = "hardbase-patch-build-"


@contextlib.contextmanager
def scratch_dir(prefix: str = SCRATCH_PREFIX) -> Iterator[Path]:
    """A temporary work directory named for this process (`PREFIX<pid>-…`).

    A process killed mid-build (SIGKILL) leaves its directory behind, with the
    fetched sources and trees: each one whose process is gone is removed first.
    """
    top = Path(tempfile.gettempdir())
    for old in top.glob(f"{prefix}*"):
        pid, sep, _ = old.name[len(prefix) :].partition("-")
        if (
            sep
            and pid.isdigit()
            and not process_alive(int(pid))
            and old.is_dir()
            and (not old.is_symlink())
        ):
            log.info("removing %s, left by process %s", old, pid)
            shutil.rmtree(old, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-") as path:
        yield Path(path)


def check_key(key: Path, password: bytes = b"") -> None:
    """The archive key must exist and sign, before anything is fetched or built."""
    if not key.is_file():
        raise PatchBuildError(
            f"the archive key {key} does not exist; make one with `hardbase repo keygen` "
            "(nothing was built or published)"
        )
    sign_release(b"Origin: hardbase key check\n", key, password)


def choose(cves: Sequence[str], candidates: Sequence[Candidate]) -> list[Candidate]:
    """One patch per CVE (a patch fixing several counts for each): the user's, else Debian's best.

    PatchBuildError when a CVE has no candidate, or only ones that do not apply.
    """
    chosen: list[Candidate] = []
    for cve in cves:
        if any(cve in c.cves for c in chosen):
            continue
        mine = [c for c in candidates if c.cve == cve]
        users = [c for c in mine if c.kind == "user"]
        pool = users or mine
        good = [c for c in pool if c.check.clean]
        if good:
            if all(g.sha256 != c.sha256 for c in chosen for g in good[:1]):
                chosen.append(good[0])
            continue
        if not pool:
            raise PatchBuildError(
                f"no fix for {cve} was found in a newer Debian suite's debian/patches; "
                "give one with --patch FILE (a DEP-3 header naming the CVE and its Origin)"
            )
        best = pool[0]
        failure = best.check.failures[0]
        raise PatchBuildError(
            f"the patch {best.name} ({best.origin}) does not apply to the release's source: "
            f"{failure}; nothing was built"
        )
    return chosen


def next_revision(repo: Path, release: str, source: str, base_version: str) -> int:
    """One more than the highest `+hbN` of `base_version` REPO's Sources lists for `source`."""
    sources = repo / "dists" / f"{release}-hardbase" / "main" / "source" / "Sources"
    highest = 0
    if sources.is_file():
        package = None
        for line in sources.read_text(errors="replace").splitlines():
            if line.startswith("Package: "):
                package = line.split(": ", 1)[1].strip()
            elif line.startswith("Version: ") and package == source:
                version = line.split(": ", 1)[1].strip()
                n = hb_revision(version)
                if n is not None and version.startswith(base_version + "+"):
                    highest = max(highest, n)
    return highest + 1


def published_rebuild(repo: Path, release: str, pedigree: Pedigree) -> str | None:
    """The `+hbN` version REPO serves of `pedigree`'s Debian version with the same patches.

    The same patches means the same names and sha256s, in order, as the rebuilt
    packages' Hardbase-Patches fields state. None when REPO has no such rebuild.
    """
    wanted = [(p.name, p.sha256) for p in pedigree.patches]
    found = []
    for fields in published_binaries(repo, release):
        stated = read_pedigree(fields)
        if (
            stated is not None
            and (stated.source, stated.version) == (pedigree.source, pedigree.version)
            and [(p.name, p.sha256) for p in stated.patches] == wanted
            and hb_revision(fields.get("Version", "")) is not None
        ):
            found.append(fields["Version"])
    return max(found, key=cmp_to_key(compare_versions)) if found else None


def _timestamp(tree: Path) -> int:
    proc = run_tool(
        ["dpkg-parsechangelog", "-l", str(tree / "debian" / "changelog"), "-STimestamp"],
        package="dpkg-dev", what="read the changelog's date", error=PatchBuildError,
    )  # fmt: skip
    if proc.returncode != 0:
        raise PatchBuildError(
            f"the changelog of {tree} cannot be parsed: {last_error_line(proc.stderr)}"
        )
    return int(proc.stdout.decode().strip())


def _entry(source: str, version: str, release: str, base_version: str,
           patches: Sequence[AppliedPatch], when: int) -> str:  # fmt: skip
    lines = [f"  * Rebuild of {source} {base_version} by hardbase with security fixes."]
    for patch in patches:
        c = patch.candidate
        where = (
            f"from {c.source} {c.version} ({c.suite})"
            if c.kind == "debian"
            else "given by the user"
        )
        origin = f"; origin: {c.header.origin}" if c.header.origin else ""
        lines.append(
            f"  * Fix {', '.join(patch.cves)}: debian/patches/{patch.name} {where}{origin}."
        )
    date = format_datetime(datetime.fromtimestamp(when, UTC))
    items = "\n".join(_wrap(line) for line in lines)
    return (
        f"{source} ({version}) {release}; urgency=medium\n\n{items}\n\n -- {MAINTAINER}  {date}\n\n"
    )


def _wrap(line: str, width: int = 78) -> str:
    """A changelog item (`  * text`) wrapped at `width`, continuation lines indented by 4."""
    words = line.strip().split()
    out, current = [], "  " + words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) > width:
            out.append(current)
            current = "    " + word
        else:
            current = f"{current} {word}"
    out.append(current)
    return "\n".join(out)


def prepare_tree(tree: Path, patches: Sequence[Candidate], *, source: str, base_version: str,
                 version: str, release: str, when: int) -> list[AppliedPatch]:  # fmt: skip
    """Add `patches` to `tree`'s series (refreshed), apply them, and write the changelog entry."""
    fmt = (tree / "debian" / "source" / "format").read_text().strip() if (
        tree / "debian" / "source" / "format").is_file() else "1.0"  # fmt: skip
    if fmt != "3.0 (quilt)":
        raise PatchBuildError(
            f"{source} {base_version} is a '{fmt}' source; hardbase patches '3.0 (quilt)' sources"
        )
    directory = tree / "debian" / "patches"
    directory.mkdir(exist_ok=True)
    present = set(series(tree))
    applied = []
    for candidate in patches:
        name = candidate.name
        if name in present or (directory / name).exists():
            name = f"hardbase-{name}"
        refreshed = refresh(tree, candidate.path, candidate.header.text)
        (directory / name).write_bytes(refreshed)
        with open(directory / "series", "a") as fh:
            fh.write(f"{name}\n")
        present.add(name)
        applied.append(AppliedPatch(candidate, name, refreshed))
    proc = run_tool(["dpkg-source", "--before-build", str(tree)], package="dpkg-dev",
                    what="apply the patches", error=PatchBuildError)  # fmt: skip
    if proc.returncode != 0:
        raise PatchBuildError(
            f"dpkg-source could not apply the series: {last_error_line(proc.stderr)}"
        )
    changelog = tree / "debian" / "changelog"
    entry = _entry(source, version, release, base_version, applied, when)
    changelog.write_text(entry + changelog.read_text())
    add_to_control(tree / "debian" / "control", pedigree_of(source, base_version, applied))
    return applied


def pedigree_of(source: str, base_version: str, applied: Sequence[AppliedPatch]) -> Pedigree:
    """What the rebuilt binaries say about themselves (hardbase.debian.pedigree)."""
    patches = tuple(
        PatchInfo(
            name=p.name,
            sha256=hashlib.sha256(p.refreshed).hexdigest(),
            kind=patch_kind(p.candidate.kind == "debian"),
            resolves=p.cves,
            diff=p.refreshed.decode("utf-8", "surrogateescape"),
        )
        for p in applied
    )
    fixes = tuple(dict.fromkeys(c for p in applied for c in p.cves))
    return Pedigree(source, base_version, fixes, patches)


def build_patched(
    name: str,
    release: str,
    cves: Sequence[str],
    *,
    repo: Path | None,
    key: Path | None,
    work: Path,
    log_dir: Path,
    archives: Archives,
    cache_dir: Path,
    patches: Sequence[Path] = (),
    revision: int | None = None,
    arch: str = "amd64",
    password: bytes = b"",
    progress: Progress | None = None,
) -> PatchedBuild:
    """Rebuild `name`'s release source with fixes for `cves`, and publish it to `repo`.

    `work` must not exist (or be empty); it keeps the trees, the patched source
    and the built files. With `repo` None nothing is published (a dry build).
    """
    progress = progress or NullProgress()
    started = datetime.now(UTC)
    wanted = tuple(dict.fromkeys(check_cve(c) for c in cves))
    if not wanted:
        raise PatchBuildError("name at least one --cve to fix")
    if release not in RELEASES:
        raise PatchBuildError(f"--release {release!r} is not one of {', '.join(RELEASES)}")
    if repo is not None:
        if key is None:
            raise PatchBuildError("publishing to REPO needs the archive key: give --key")
        check_key(key, password)
    if work.exists() and any(work.iterdir()):
        raise PatchBuildError(f"the work directory {work} is not empty")
    work.mkdir(parents=True, exist_ok=True)
    fetched = work / "fetched"
    base = fetch_base(name, release, fetched, archives=archives, cache_dir=cache_dir,
                      progress=progress)  # fmt: skip
    newer = [] if patches else fetch_newer(base.name, release, fetched, archives=archives,
                                           cache_dir=cache_dir, progress=progress)  # fmt: skip
    candidates: list[Candidate] = []
    for cve in wanted:
        found = find_candidates(cve, as_tree(base), [as_tree(n) for n in newer], patches)
        candidates += [c for c in found if c.kind == "user" or not patches]
    chosen = choose(wanted, candidates)
    fixed = tuple(dict.fromkeys(c for candidate in chosen for c in candidate.cves))
    n = revision or (next_revision(repo, release, base.name, base.version) if repo else 1)
    version = patched_version(base.version, n, release_number=RELEASES[release])
    used = {(c.source, c.version) for c in chosen}
    used_trees = [base.tree] + [t.tree for t in newer if (t.name, t.version) in used]
    when = max(_timestamp(t) for t in used_trees)
    # The patched source: a copy of the release's tree, beside its orig tarballs.
    src = work / "source"
    src.mkdir()
    tree = src / base.tree.name
    shutil.copytree(base.tree, tree, symlinks=True)
    origs = [base.path(f) for f in base.files if ".orig" in f.name]
    for orig in origs:
        shutil.copy2(orig, src / orig.name)
    applied = prepare_tree(tree, chosen, source=base.name, base_version=base.version,
                           version=version, release=release, when=when)  # fmt: skip
    existing = (
        published_rebuild(repo, release, pedigree_of(base.name, base.version, applied))
        if repo is not None and revision is None
        else None
    )
    if existing is not None and repo is not None:
        # A re-run (after a crash, or a second request) with the same inputs.
        raise AlreadyPublished(base.name, existing, repo)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(when), "TZ": "UTC", "LC_ALL": "C.UTF-8"}
    proc = run_tool(["dpkg-source", "-b", tree.name], package="dpkg-dev", cwd=src, env=env,
                    what="build the patched source package", error=PatchBuildError)  # fmt: skip
    if proc.returncode != 0:
        raise PatchBuildError(f"dpkg-source -b failed: {last_error_line(proc.stderr)}")
    upstream = re.sub(r"^[0-9]+:", "", version)
    dsc = src / f"{base.name}_{upstream}.dsc"
    source_files = (dsc, *sorted(p for p in src.iterdir() if p.is_file() and p != dsc))
    # The build root, from the signed binary indexes of the release's (or the root's) archive.
    build_depends = _dsc_build_depends(dsc)
    root_entries = archives.build_root(release)
    index, _ = Archive(root_entries, cache_dir=cache_dir / "archive",
                       progress=progress).load([arch])  # fmt: skip
    plan = plan_root(index, build_depends, arch=arch, release=release)
    root = ensure_root(plan, root_entries, cache_dir)
    log_path = log_dir / f"{base.name}_{upstream}_{arch}.build.log"
    # The tree dpkg-source -b left is the applied one; build from it (its origs beside it).
    result = build_in_root(root, tree, origs, epoch=when, output=work / "out", log_path=log_path)
    debs = [d for d in result.debs if not d.name.split("_", 1)[0].endswith("-dbgsym")]
    record = _write_record(work, base, version, release, fixed, applied, root, result, debs,
                           source_files, when, root_entries)  # fmt: skip
    provenance = _write_provenance(work / "out", base, newer, version, release, fixed, applied,
                                   root, debs, source_files, started)  # fmt: skip
    published = None
    if repo is not None and key is not None:
        published = publish_rebuild(repo, release, debs, dsc, provenance, key, password)
    return PatchedBuild(
        source=base.name, base_version=base.version, version=version, release=release,
        cves=fixed, patches=tuple(applied), root=root, result=result, dsc=dsc,
        source_files=tuple(source_files), record=record, published=published, epoch=when,
        provenance=provenance,
    )  # fmt: skip


def publish_rebuild(
    repo: Path, release: str, debs: Sequence[Path], dsc: Path, provenance: Path, key: Path,
    password: bytes = b"",
) -> PublishResult:  # fmt: skip
    """Publish a rebuild (its .debs and source) to REPO's `<R>-hardbase` suite, with its
    provenance signed by the archive key (`.provenance.json.asc`) beside the source."""
    signature = provenance.with_name(provenance.name + ".asc")
    write_atomic(signature, sign_release(provenance.read_bytes(), key, password).release_gpg)
    return publish(repo, release, [*debs, dsc], key, password=password,
                   attachments=[provenance, signature])  # fmt: skip


def _dsc_build_depends(dsc: Path) -> str:
    from debian.deb822 import Dsc

    with open(dsc, encoding="utf-8") as fh:
        fields = Dsc(fh)
    parts = [fields.get("Build-Depends", ""), fields.get("Build-Depends-Arch", "")]
    return ", ".join(p.replace("\n", " ").strip() for p in parts if p and p.strip())


def _write_record(
    work: Path, base: Any, version: str, release: str, fixed: Sequence[str],
    applied: Sequence[AppliedPatch], root: BuildRoot, result: BuildResult,
    debs: Sequence[Path], source_files: Sequence[Path], when: int,
    root_entries: Sequence[SourceEntry],
) -> Path:  # fmt: skip
    """The inputs and outputs of the rebuild, for pedigree, VEX and provenance."""
    doc = {
        "_type": RECORD_TYPE,
        "source": base.name,
        "version": version,
        "release": release,
        "sourceDateEpoch": when,
        "fixes": list(fixed),
        "ancestor": {
            "source": base.name,
            "version": base.version,
            "suite": base.suite,
            "files": [{"name": f.name, "sha256": f.sha256, "url": f.url} for f in base.files],
        },
        "patches": [
            {
                "name": p.name,
                "kind": p.candidate.kind,
                "resolves": list(p.cves),
                "origin": p.candidate.origin,
                "upstream": p.candidate.header.origin,
                "from": {
                    "source": p.candidate.source,
                    "version": p.candidate.version,
                    "suite": p.candidate.suite,
                }
                if p.candidate.kind == "debian"
                else None,
                "sha256": hashlib.sha256(p.refreshed).hexdigest(),
                "diff": p.refreshed.decode("utf-8", "surrogateescape"),
            }
            for p in applied
        ],  # fmt: skip
        "source_package": [{"name": f.name, "sha256": file_hash(f)} for f in source_files],
        "buildRoot": {
            "key": root.plan.key,
            "sha256": root.sha256,
            "packages": root.plan.lines(),
            "suites": [
                f"{uri} {suite}" for e in root_entries for uri in e.uris for suite in e.suites
            ],
        },
        "debs": [{"name": d.name, "sha256": file_hash(d)} for d in debs],
        "log": str(result.log),
    }
    path = work / "out" / f"{base.name}_{re.sub(r'^[0-9]+:', '', version)}{RECORD_SUFFIX}"
    write_atomic(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return path


PROVENANCE_SUFFIX = ".provenance.json"
BUILD_TYPE = "https://hardbase.dev/patch-build/v1"


def _write_provenance(
    out: Path, base: Any, newer: Sequence[Any], version: str, release: str,
    fixed: Sequence[str], applied: Sequence[AppliedPatch], root: BuildRoot,
    debs: Sequence[Path], source_files: Sequence[Path], started: datetime,
) -> Path:  # fmt: skip
    """An in-toto statement with a SLSA v1 predicate for the rebuilt .debs.

    Its resolved dependencies are Debian's .dsc and tarballs (URL and sha256 from
    the signed index), each patch (where it came from, its sha256 as stored), the
    build root (its key and tarball sha256) and the patched source package.
    """
    materials = [Material(f.url, f.sha256, f.name) for f in base.files]
    trees = {(t.name, t.version): t for t in newer}
    for patch in applied:
        c = patch.candidate
        tree = trees.get((c.source, c.version))
        debian_tar = (
            next((f for f in tree.files if ".debian.tar." in f.name), None) if tree else None
        )
        uri = f"{debian_tar.url}#debian/patches/{c.name}" if debian_tar else f"file:{c.path.name}"
        materials.append(
            Material(
                uri, hashlib.sha256(patch.refreshed).hexdigest(), f"debian/patches/{patch.name}"
            )
        )
    materials.append(Material(f"hardbase:build-root/{root.plan.key}", root.sha256, "build root"))
    materials += [Material(f"file:{p.name}", file_hash(p), p.name) for p in source_files]
    predicate = slsa_provenance(
        spec={"source": base.name, "release": release, "version": version, "fixes": list(fixed),
              "ancestor": base.version},
        packages=materials, lock=None, started=started, finished=datetime.now(UTC),
        build_type=BUILD_TYPE,
        internal={"buildRootPackages": root.plan.lines()},
    )  # fmt: skip
    doc = {
        "_type": STATEMENT_V1,
        "subject": [{"name": d.name, "digest": {"sha256": file_hash(d)}} for d in debs],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": predicate,
    }
    path = out / f"{base.name}_{re.sub(r'^[0-9]+:', '', version)}{PROVENANCE_SUFFIX}"
    write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode())
    return path
