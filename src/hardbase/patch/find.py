"""Finding a fix for a CVE that a release left open: candidate patches, most trustworthy first.

(a) A patch in `debian/patches/` of the same source package in a newer Debian
    suite (the next release, then sid): Debian's own maintainers wrote or
    backported it. It matches by the CVE id in its file name, in its DEP-3
    header, or in the changelog entry that names it.
(b) A patch the user gives (`--patch FILE`), whose DEP-3 header names the CVE
    and its origin.

Each candidate says where it came from and whether it applies, with -p1 and no
fuzz, to the release's own source tree (a dry run: the tree is not changed).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hardbase.patch.apply import DryRun, dry_run
from hardbase.patch.dep3 import PatchHeader, cve_ids, parse_header, read_patch, require_trusted

log = logging.getLogger(__name__)

DEBIAN = "debian"  # a patch from debian/patches of a newer suite
USER = "user"  # a patch the user gave
_CHANGELOG_HEAD = re.compile(r"^(\S+) \(([^)]+)\) ([^;]+);.*$", re.MULTILINE)
_ITEM = re.compile(r"^\s+[*+-] ", re.MULTILINE)  # a changelog item starts a bullet line


@dataclass(frozen=True)
class Tree:
    """An unpacked source package: where it is and which upload it is."""

    name: str
    version: str
    suite: str
    path: Path


@dataclass(frozen=True)
class Candidate:
    """One patch that may fix the CVE, where it came from, and whether it applies."""

    cve: str
    kind: str  # DEBIAN or USER
    path: Path  # the patch file as found
    name: str  # its file name (the name it gets in debian/patches)
    matched_by: tuple[str, ...]  # "file name", "DEP-3 header", "changelog 1.2-3"
    header: PatchHeader
    sha256: str
    check: DryRun
    source: str | None = None  # for DEBIAN: the source package, version and suite it is in
    version: str | None = None
    suite: str | None = None

    @property
    def origin(self) -> str:
        """Where the patch comes from, in words."""
        upstream = self.header.origin
        if self.kind == DEBIAN:
            text = f"debian/patches/{self.name} of {self.source} {self.version} ({self.suite})"
            return f"{text}; {upstream}" if upstream else text
        return f"{self.path} ({upstream})" if upstream else str(self.path)

    @property
    def cves(self) -> tuple[str, ...]:
        """Every CVE the patch says it fixes (its name and header), this one first."""
        named = cve_ids(self.name) + self.header.cves
        return tuple(dict.fromkeys((self.cve, *named)))


def series(tree: Path) -> list[str]:
    """The patch names of `tree`'s debian/patches/series, in order."""
    path = tree / "debian" / "patches" / "series"
    if not path.is_file():
        return []
    names = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line.split()[0])
    return names


def changelog_mentions(tree: Path, cve: str) -> list[tuple[str, str]]:
    """(version, item) of each debian/changelog item (`  * ...`) of `tree` that names `cve`."""
    path = tree / "debian" / "changelog"
    if not path.is_file():
        return []
    text = path.read_text(errors="replace")
    heads = list(_CHANGELOG_HEAD.finditer(text))
    out = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        for item in _ITEM.split(text[head.end() : end]):
            if cve.upper() in cve_ids(item):
                out.append((head.group(2), item))
    return out


def debian_candidates(cve: str, newer: Tree, base: Tree) -> list[Candidate]:
    """The patches of `newer`'s series that name `cve`, each dry-run against `base`."""
    cve = cve.upper()
    entries = changelog_mentions(newer.path, cve)
    found = []
    for name in series(newer.path):
        path = newer.path / "debian" / "patches" / name
        if not path.is_file() or path.is_symlink():
            continue
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        header = parse_header(text)
        matched: list[str] = []
        if cve in cve_ids(name):
            matched.append("file name")
        if cve in header.cves:
            matched.append("DEP-3 header")
        stem = name.rsplit("/", 1)[-1].removesuffix(".patch").removesuffix(".diff")
        matched += [f"changelog {version}" for version, entry in entries if stem in entry]
        if not matched:
            continue
        found.append(
            Candidate(
                cve=cve,
                kind=DEBIAN,
                path=path,
                name=name.rsplit("/", 1)[-1],
                matched_by=tuple(matched),
                header=header,
                sha256=hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest(),
                check=dry_run(base.path, path),
                source=newer.name,
                version=newer.version,
                suite=newer.suite,
            )
        )
    return found


def user_candidate(cve: str, path: Path, base: Tree) -> Candidate:
    """The user's patch at `path`; PatchFileError unless its header names `cve` and an origin."""
    text, header = read_patch(path)
    require_trusted(path, header, [cve])
    return Candidate(
        cve=cve.upper(),
        kind=USER,
        path=path,
        name=path.name,
        matched_by=("DEP-3 header",),
        header=header,
        sha256=hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest(),
        check=dry_run(base.path, path),
    )


def find_candidates(
    cve: str, base: Tree, newer: Sequence[Tree], user_patches: Sequence[Path] = ()
) -> list[Candidate]:
    """Every candidate fix of `cve` for `base`: Debian's (in the order of `newer`), then the user's.

    Within each newer tree, candidates keep the series order. A patch that does
    not apply stays listed (with its failure), after those that do of the same rank.
    """
    ranked: list[list[Candidate]] = [debian_candidates(cve, tree, base) for tree in newer]
    ranked.append([user_candidate(cve, path, base) for path in user_patches])
    out: list[Candidate] = []
    for group in ranked:
        out += [c for c in group if c.check.clean] + [c for c in group if not c.check.clean]
    return out
