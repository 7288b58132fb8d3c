"""The `debian-changelog` importer: CVE → fixed version pairs from the real Debian archive.

For every source package of the configured releases that had an upload after
the release (a `debNNuM` version, or a version in -security or -updates), it
reads `debian/changelog` from the source's small `.debian.tar.*`, located
through the signed Sources index (deb-src of the same mirrors, InRelease
verified with gpgv as for the binaries), and records, for each CVE or GHSA id
an entry names, the version that fixes it *in that release*. Native sources
(no .debian.tar: the changelog is in the source's one tarball), tarballs over
MAX_SOURCE_TARBALL and files the mirror lacks fall back to the smallest binary
.deb (its `changelog.Debian.gz`), up to MAX_FALLBACK_DEB; a source with no
candidate under the caps is skipped with a warning. Sources whose version did
not change since the last run are not downloaded again.

The pitfall: a CVE first named in an entry for unstable (or experimental, or
another release) made after the release is fixed for this release by the
first entry targeted at it (`bookworm-security`, `bookworm`, ...) at or after
that entry, not by the unstable version. Entries dated before the release
(the history the release was cut from) fix their CVEs at their own version,
unless a later release-targeted entry has a lower version (a rebase onto a
newer upstream), in which case that entry fixes them.

Locations are mirror URLs (the main archive, then the security archive) and,
optionally, selectors that narrow the import: `bookworm` (one release) or
`bookworm:libssl3,zlib` (only the sources of these source or binary packages),
e.g. `hardbase db update --source debian-changelog=bookworm:libssl3,zlib1g`.
`signed-by=KEYRING` verifies the mirrors' InRelease with that keyring instead
of Debian's (a local or private archive).
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import tarfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from hardbase.debian.archive import Archive, IndexNotListed
from hardbase.debian.deb import open_data_tar
from hardbase.debian.model import (
    DEFAULT_KEYRING,
    BinaryPackage,
    SourceEntry,
    SourceFile,
    SourcePackage,
)
from hardbase.debian.source import changelog_from_tarball
from hardbase.errors import ArchiveError, HardbaseError
from hardbase.util.fs import write_atomic
from hardbase.util.http import NotFound, download
from hardbase.util.paths import cache_dir as default_cache_dir
from hardbase.util.progress import Progress
from hardbase.vuln.db import FIXED, Affected, SourceInfo, VulnDB
from hardbase.vuln.importers.debian_tracker import CODENAMES
from hardbase.vuln.importers.interface import FeedError, Importer, ImportStats
from hardbase.vuln.match import compare_debian

log = logging.getLogger(__name__)

VULN_ID = re.compile(r"\b(CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3})\b")
RELEASE_DATES: dict[str, date] = {
    "buster": date(2019, 7, 6),
    "bullseye": date(2021, 8, 14),
    "bookworm": date(2023, 6, 10),
    "trixie": date(2025, 8, 9),
}
DEFAULT_RELEASES = ("trixie", "bookworm")
MAX_SOURCE_TARBALL = 8 << 20  # a .debian.tar (or native tarball) above this is not downloaded
MAX_FALLBACK_DEB = 16 << 20  # nor a binary .deb above this: the source is skipped with a warning
MAX_CHANGELOG = 64 << 20  # uncompressed
_DEB_UPDATE = re.compile(r"deb(\d+)u\d+")
# Changelog distributions that name the release by its role, not its codename.
_ALIASES = {
    "stable": ("stable", "stable-security", "stable-updates", "stable-proposed-updates",
               "proposed-updates"),
    "oldstable": ("oldstable", "oldstable-security", "oldstable-updates",
                  "oldstable-proposed-updates"),
}  # fmt: skip


@dataclass(frozen=True)
class Artifact:
    """A file whose size and SHA256 a signed index lists, and that carries a changelog."""

    url: str
    sha256: str
    size: int
    kind: str  # "debian-tar" | "native-tar" | "deb"
    binary: str = ""  # for a .deb: the binary package whose doc dir holds the changelog


@dataclass(frozen=True)
class SourceTarget:
    """One source package of one release, and the files that could carry its changelog."""

    release: str
    source: str
    version: str
    artifacts: tuple[Artifact, ...]  # the source's tarball, else empty until binaries are known

    @property
    def ecosystem(self) -> str:
        return f"debian:{CODENAMES[self.release]}"

    @property
    def key(self) -> str:
        return f"{self.release}/{self.source}"


def release_number(version: str) -> int | None:
    """The Debian release a `debNNuM` version was built for: the last such part wins.

    `1.0-1~deb13u1~deb12u1` is trixie's upload rebuilt for bookworm: 12.
    """
    found = _DEB_UPDATE.findall(version)
    return int(found[-1]) if found else None


def release_targets(codename: str) -> frozenset[str]:
    """The changelog distributions that mean "an upload to this release" by its codename."""
    return frozenset(
        {
            codename,
            f"{codename}-security",
            f"{codename}-updates",
            f"{codename}-proposed-updates",
        }
    )


def _role(codename: str, when: date) -> str | None:
    """What `codename` was on `when`: "stable", "oldstable", or None (testing, or gone)."""
    ordered = sorted(RELEASE_DATES, key=RELEASE_DATES.__getitem__)
    if codename not in RELEASE_DATES or when < RELEASE_DATES[codename]:
        return None
    later = [c for c in ordered if RELEASE_DATES[c] > RELEASE_DATES[codename]]
    newer = sum(1 for c in later if RELEASE_DATES[c] <= when)
    return {0: "stable", 1: "oldstable"}.get(newer)


def _targets_release(entry: _Entry, codename: str, targets: frozenset[str]) -> bool:
    """Whether a changelog entry is an upload to `codename`.

    By codename (`bookworm-security`), or by role (`stable`, `stable-security`,
    `proposed-updates`) when the entry was made while `codename` had that role, or
    its version names the release (`+deb12u1`).
    """
    if entry.distributions & targets:
        return True
    roles = {role for role, names in _ALIASES.items() if entry.distributions & set(names)}
    if not roles:
        return False
    if release_number(entry.version) == CODENAMES.get(codename):
        return True
    return entry.when is not None and _role(codename, entry.when.date()) in roles


def ids_in(text: str) -> list[str]:
    """CVE and GHSA ids in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in VULN_ID.finditer(text)))


@dataclass(frozen=True)
class _Entry:
    version: str
    distributions: frozenset[str]
    when: datetime | None
    ids: tuple[str, ...]
    urgency: str = ""  # the header's `urgency=` (low, medium, high, emergency, critical)


def _entries(text: str, where: str) -> list[_Entry]:
    """Changelog entries, newest first, via python-debian."""
    from debian.changelog import Changelog

    try:
        changelog = Changelog(text, strict=False)
        out: list[_Entry] = []
        for block in changelog:
            when: datetime | None = None
            if block.date:
                try:
                    when = parsedate_to_datetime(block.date)
                except (TypeError, ValueError):
                    when = None
            changes = "\n".join(block.changes())
            out.append(
                _Entry(
                    version=str(block.version),
                    distributions=frozenset(str(block.distributions or "").split()),
                    when=when,
                    ids=tuple(ids_in(changes)),
                    urgency=str(block.urgency or "").strip().lower(),
                )
            )
    except Exception as exc:  # python-debian raises assorted errors on odd changelogs
        raise FeedError(f"cannot parse the changelog of {where}") from exc
    return out


def parse_changelog(text: str, codename: str, *, where: str = "changelog") -> dict[str, str]:
    """Map each CVE/GHSA id the changelog names to the version that fixes it in `codename`."""
    return {vid: fix[0] for vid, fix in parse_changelog_fixes(text, codename, where=where).items()}


def parse_changelog_fixes(
    text: str, codename: str, *, where: str = "changelog"
) -> dict[str, tuple[str, str]]:
    """Each CVE/GHSA id → (the version that fixes it in `codename`, that entry's urgency)."""
    entries = list(reversed(_entries(text, where)))  # oldest first
    urgency = {e.version: e.urgency for e in entries}
    targets = release_targets(codename)
    released = RELEASE_DATES.get(codename)
    fixed: dict[str, str] = {}
    pending: list[str] = []
    uploads = [_targets_release(entry, codename, targets) for entry in entries]
    for i, entry in enumerate(entries):
        if uploads[i]:
            for vid in (*pending, *entry.ids):
                fixed.setdefault(vid, entry.version)
            pending = []
            continue
        before_release = (
            released is not None and entry.when is not None and entry.when.date() < released
        )
        if before_release and not any(
            uploads[j] and compare_debian(entries[j].version, entry.version) < 0
            for j in range(i + 1, len(entries))
        ):
            for vid in entry.ids:
                fixed.setdefault(vid, entry.version)
            continue
        pending.extend(vid for vid in entry.ids if vid not in fixed and vid not in pending)
    return {vid: (version, urgency.get(version, "")) for vid, version in fixed.items()}


# -- reading a .deb ----------------------------------------------------------------------


def changelog_from_deb(path: Path, binary: str) -> bytes | None:
    """The gzipped Debian changelog of `binary` from its .deb, None when it is not a file there."""
    return read_doc(path, binary)[0]


def read_doc(path: Path, binary: str) -> tuple[bytes | None, str | None]:
    """(gzipped changelog, None), or (None, the package `usr/share/doc/BINARY` links to).

    Many binaries' doc directories are symlinks to a sibling's (libgcc-s1 → gcc-12-base);
    the sibling's .deb then holds the changelog.
    """
    doc = f"usr/share/doc/{binary}"
    wanted = {f"{doc}/changelog.Debian.gz", f"{doc}/changelog.gz"}
    found: dict[str, bytes] = {}
    link: str | None = None
    try:
        with open_data_tar(path) as tar:
            for member in tar:
                name = member.name.removeprefix("./").rstrip("/")
                if name == doc and member.issym():
                    target = member.linkname.rstrip("/")
                    if re.fullmatch(
                        r"(?:/usr/share/doc/|(?:\.\./)?(?:doc/)?)[a-z0-9][a-z0-9+.-]+", target
                    ):
                        link = target.rsplit("/", 1)[-1]
                elif name in wanted and member.isfile() and member.size <= MAX_CHANGELOG:
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        found[name] = extracted.read()
    except (ArchiveError, tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise FeedError(f"cannot read {path}: {_reason(exc)}") from None
    for name in sorted(wanted):  # changelog.Debian.gz before changelog.gz
        if name in found:
            return found[name], None
    return None, link


# -- choosing what to read ---------------------------------------------------------------


def updated_since_release(suite: str, version: str, codename: str) -> bool:
    """Whether a package of `codename` comes from an upload after the release."""
    if suite.endswith(("-security", "-updates")):
        return True
    return release_number(version) == CODENAMES.get(codename, -1)


def select_sources(sources: Sequence[SourcePackage], codename: str) -> list[SourceTarget]:
    """The newest version of each source updated since the release, with its tarball."""
    newest: dict[str, SourcePackage] = {}
    updated: set[str] = set()
    for src in sources:
        if src.name not in newest or compare_debian(src.version, newest[src.name].version) > 0:
            newest[src.name] = src
        if updated_since_release(src.suite, src.version, codename):
            updated.add(src.name)
    out: list[SourceTarget] = []
    for name in sorted(updated):
        src = newest[name]
        artifacts: tuple[Artifact, ...] = ()
        if src.debian_tar is not None:
            artifacts = (_artifact(src, src.debian_tar, "debian-tar"),)
        elif src.native_tar is not None:
            artifacts = (_artifact(src, src.native_tar, "native-tar"),)
        out.append(SourceTarget(codename, name, src.version, artifacts))
    return out


def select_binaries(packages: Sequence[BinaryPackage], codename: str) -> list[SourceTarget]:
    """Like `select_sources`, from binaries alone (an archive without deb-src)."""
    newest: dict[str, str] = {}
    updated: set[str] = set()
    for pkg in packages:
        source, version = pkg.source or pkg.name, pkg.source_version or pkg.version
        if source not in newest or compare_debian(version, newest[source]) > 0:
            newest[source] = version
        if updated_since_release(pkg.suite, version, codename):
            updated.add(source)
    targets = [SourceTarget(codename, name, newest[name], ()) for name in sorted(updated)]
    return [
        SourceTarget(t.release, t.source, t.version, binary_artifacts(t, packages)) for t in targets
    ]


def _artifact(src: SourcePackage, file: SourceFile, kind: str) -> Artifact:
    return Artifact(src.url(file), file.sha256, file.size, kind)


def binary_artifacts(
    target: SourceTarget, packages: Sequence[BinaryPackage]
) -> tuple[Artifact, ...]:
    """The target's binaries as fallback artifacts, smallest first (every binary of a
    source carries the same changelog; a doc dir that links to a sibling's is followed)."""
    unique = {
        p.name: p
        for p in packages
        if (p.source or p.name) == target.source
        and (p.source_version or p.version) == target.version
    }
    ordered = sorted(unique.values(), key=lambda p: (p.size, p.name))
    return tuple(Artifact(p.url, p.sha256, p.size, "deb", p.name) for p in ordered)


def parse_locations(
    locations: Sequence[str],
) -> tuple[tuple[str, ...], dict[str, frozenset[str] | None]]:
    """Split locations into mirror URLs and selectors ({codename: package names or None}).

    A selector is `CODENAME` or `CODENAME:NAME,NAME...`, NAME a source or binary package.
    """
    mirrors: list[str] = []
    selected: dict[str, frozenset[str] | None] = {}
    for location in locations:
        if re.match(r"^(https?|file)://", location):
            mirrors.append(location)
            continue
        codename, _, rest = location.partition(":")
        codename = codename.strip()
        if codename not in CODENAMES:
            raise FeedError(
                f"{location!r} is neither a mirror URL nor a selector such as "
                "'bookworm' or 'bookworm:libssl3,zlib1g'; check --source debian-changelog=..."
            )
        names = frozenset(n.strip() for n in rest.split(",") if n.strip())
        if codename in selected:
            before = selected[codename]
            selected[codename] = None if before is None or not names else before | names
        else:
            selected[codename] = names or None
    return tuple(mirrors), selected


# A location saying the mirror is hardbase's own archive (`hardbase repo`): read its suite
# CODENAME-hardbase, whose changelogs name the CVEs the rebuilds fix.
HARDBASE_ARCHIVE = "archive=hardbase"


def split_keyring(locations: Sequence[str]) -> tuple[tuple[str, ...], Path]:
    """(the other locations, the keyring a `signed-by=KEYRING` location names, else Debian's)."""
    rest: list[str] = []
    keyrings: list[Path] = []
    for location in locations:
        key, sep, value = location.partition("=")
        if sep and key.strip() == "signed-by":
            if not value.strip():
                raise FeedError("'signed-by=' names no keyring; give signed-by=/path/to/keyring")
            keyrings.append(Path(value.strip()).expanduser())
        else:
            rest.append(location)
    if len(set(keyrings)) > 1:
        raise FeedError("the debian-changelog locations name more than one signed-by keyring")
    return tuple(rest), keyrings[0] if keyrings else DEFAULT_KEYRING


def sources_named(
    sources: Sequence[SourcePackage], names: frozenset[str] | None
) -> frozenset[str] | None:
    """The source packages that `names` (source or binary names) stand for; None means all."""
    if names is None:
        return None
    return frozenset(s.name for s in sources if s.name in names or names.intersection(s.binaries))


def binaries_named(
    packages: Sequence[BinaryPackage], names: frozenset[str] | None
) -> frozenset[str] | None:
    """The source packages that `names` stand for, from binaries; None means all."""
    if names is None:
        return None
    return frozenset(
        p.source or p.name for p in packages if p.name in names or (p.source or p.name) in names
    )


# -- the importer ------------------------------------------------------------------------


class DebianChangelogImporter(Importer):
    """Reads changelogs from the Debian archive."""

    name = "debian-changelog"
    default_locations = ("https://deb.debian.org/debian", "https://deb.debian.org/debian-security")

    def __init__(
        self,
        releases: Sequence[str] | None = None,
        archs: Sequence[str] = ("amd64",),
        *,
        cache_dir: Path | None = None,
        max_workers: int = 8,
        max_candidates: int = 3,
        only_sources: Sequence[str] | None = None,
    ) -> None:
        self.releases = tuple(releases or DEFAULT_RELEASES)
        for r in self.releases:
            if r not in CODENAMES:
                raise FeedError(
                    f"{r!r} is not a Debian release hardbase knows; use one of "
                    f"{', '.join(CODENAMES)}"
                )
        self.archs = tuple(archs)
        self.cache_dir = cache_dir
        self.max_workers = max_workers
        self.max_candidates = max_candidates
        self.only_sources = frozenset(only_sources) if only_sources else None

    def entries(
        self,
        locations: Sequence[str],
        codename: str,
        keyring: Path = DEFAULT_KEYRING,
        *,
        hardbase: bool = False,
    ) -> list[SourceEntry]:
        """Archive entries for one release: -security and -updates first, so they win ties.

        For hardbase's own archive (`hardbase=True`), its one suite `CODENAME-hardbase`.
        """
        mirror = locations[0] if locations else self.default_locations[0]
        if hardbase:
            return [
                SourceEntry(uris=(mirror,), suites=(f"{codename}-hardbase",), signed_by=keyring)
            ]
        if len(locations) > 1:
            security = locations[1]
        elif mirror.rstrip("/").endswith("/debian"):
            security = mirror.rstrip("/") + "-security"
        else:
            security = mirror
        return [
            SourceEntry(uris=(security,), suites=(f"{codename}-security",), signed_by=keyring),
            SourceEntry(
                uris=(mirror,), suites=(f"{codename}-updates", codename), signed_by=keyring
            ),
        ]

    def run(self, db: VulnDB, locations: Sequence[str], progress: Progress) -> ImportStats:
        rest, keyring = split_keyring(locations)
        hardbase = HARDBASE_ARCHIVE in rest
        rest = tuple(r for r in rest if r != HARDBASE_ARCHIVE)
        mirrors, selected = parse_locations(rest)
        locations = tuple(locations) or self.default_locations
        mirrors = mirrors or self.default_locations
        releases = tuple(selected) or self.releases
        cache = (self.cache_dir or default_cache_dir()) / "changelogs"
        previous = db.source(self.name)
        state: dict[str, str] = dict(previous.state) if previous else {}
        archives: dict[str, Archive] = {}
        targets: list[SourceTarget] = []
        for codename in releases:
            archive = Archive(
                self.entries(mirrors, codename, keyring, hardbase=hardbase),
                cache_dir=cache.parent / "archive",
                progress=progress,
            )  # fmt: skip
            archives[codename] = archive
            targets += self._targets(archive, codename, mirrors[0], selected.get(codename))
        todo = [t for t in targets if state.get(t.key) != t.version]
        log.info("debian-changelog: %d sources, %d changed", len(targets), len(todo))
        results = self._read_all("reading Debian changelogs from sources", todo, cache, progress)
        # Native sources, tarballs over the cap, files the mirror lacks: the binaries.
        fallback = [
            t
            for t in todo
            if isinstance(results[t.key], _Fallback) and all(a.kind != "deb" for a in t.artifacts)
        ]
        if fallback:
            results.update(
                self._from_binaries(fallback, results, archives, mirrors[0], cache, progress)
            )
        failures: list[str] = []
        rows: list[Affected] = []
        done: list[SourceTarget] = []
        downloaded = 0
        for target in todo:
            outcome = results[target.key]
            if isinstance(outcome, (FeedError, _Fallback)):
                reason = outcome.diagnostics() if isinstance(outcome, FeedError) else outcome.why
                failures.append(f"{target.source} {target.version}: {reason}")
                continue
            done.append(target)
            downloaded += outcome.downloaded
            if outcome.fixed is None:
                log.info("no changelog found for %s %s", target.source, target.version)
                continue
            for vid, (version, urgency) in sorted(outcome.fixed.items()):
                rows.append(
                    Affected(
                        vid, self.name, target.ecosystem, target.source, FIXED, version,
                        urgency=urgency,
                    )
                )  # fmt: skip
        db.replace(self.name, (), rows, packages={(t.ecosystem, t.source) for t in done})
        for t in done:
            state[t.key] = t.version
        for failure in failures[:10]:
            log.warning("debian-changelog: skipped %s", failure)
        if len(failures) > 10:
            log.warning("debian-changelog: %d more sources skipped", len(failures) - 10)
        total = db.count_source(self.name)
        db.record_source(
            SourceInfo(
                name=self.name,
                location=" ".join(locations),
                imported_at=datetime.now(UTC),
                records=total,
                state=state,
            )
        )
        if failures and not done and len(targets) == len(todo):
            raise FeedError(
                f"no changelog could be read from {mirrors[0]} ({failures[0]}); check the mirror"
            )
        details = {
            "sources": len(targets),
            "read": len(done),
            "failed": len(failures),
            "from_binaries": len(fallback),
            "downloaded_bytes": downloaded,
        }
        unchanged = len(targets) - len(todo)
        return ImportStats(self.name, locations, 0, len(rows), len(failures), unchanged, details)

    def _targets(
        self, archive: Archive, codename: str, mirror: str, names: frozenset[str] | None
    ) -> list[SourceTarget]:
        """The sources of one release to read, from its Sources or else its binaries."""
        try:
            sources = archive.load_sources()
            found = select_sources(sources, codename)
            wanted = sources_named(sources, names)
        except IndexNotListed:
            # an archive without deb-src: the binaries carry the changelogs
            log.info("%s lists no Sources; reading binary packages", mirror)
            binaries = self._binaries(archive, codename, mirror)
            found = select_binaries(binaries, codename)
            wanted = binaries_named(binaries, names)
        except HardbaseError as exc:
            raise FeedError(
                f"reading the {codename} Sources at {mirror} failed: {exc.diagnostics()}"
            ) from None
        return [
            t
            for t in found
            if (self.only_sources is None or t.source in self.only_sources)
            and (wanted is None or t.source in wanted)
        ]

    def _from_binaries(
        self,
        fallback: Sequence[SourceTarget],
        results: dict[str, _Read | _Fallback | FeedError],
        archives: dict[str, Archive],
        mirror: str,
        cache: Path,
        progress: Progress,
    ) -> dict[str, _Read | _Fallback | FeedError]:
        """Read again, from their binary packages, the sources their tarball failed for."""
        with_binaries: list[SourceTarget] = []
        for codename in dict.fromkeys(t.release for t in fallback):
            mine = [t for t in fallback if t.release == codename]
            names = {t.source for t in mine}
            packages = [
                p
                for p in self._binaries(archives[codename], codename, mirror)
                if (p.source or p.name) in names
            ]
            with_binaries.extend(
                SourceTarget(t.release, t.source, t.version, binary_artifacts(t, packages))
                for t in mine
            )
        second = self._read_all(
            "reading Debian changelogs from binary packages",
            [t for t in with_binaries if t.artifacts], cache, progress,
        )  # fmt: skip
        second.update(
            (t.key, _Fallback("it has no binary package"))
            for t in with_binaries if not t.artifacts
        )  # fmt: skip
        for key, outcome in second.items():
            first = results[key]
            if isinstance(outcome, _Fallback) and isinstance(first, _Fallback):
                second[key] = _Fallback(f"{first.why}, and {outcome.why}")
        return second

    def _binaries(self, archive: Archive, codename: str, mirror: str) -> list[BinaryPackage]:
        try:
            index, _ = archive.load(self.archs)
        except HardbaseError as exc:
            raise FeedError(
                f"reading the {codename} archive at {mirror} failed: {exc.diagnostics()}"
            ) from None
        return list(index.packages())

    def _read_all(
        self, task: str, targets: Sequence[SourceTarget], cache: Path, progress: Progress
    ) -> dict[str, _Read | _Fallback | FeedError]:
        out: dict[str, _Read | _Fallback | FeedError] = {}
        if not targets:
            return out
        progress.start(task, len(targets))
        try:
            with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
                for target, outcome in zip(
                    targets, pool.map(lambda t: self._read(t, cache), targets), strict=True
                ):
                    out[target.key] = outcome
                    progress.advance()
        finally:
            progress.finish()
        return out

    def _read(self, target: SourceTarget, cache: Path) -> _Read | _Fallback | FeedError:
        try:
            found = self._changelog(target, cache)
            if isinstance(found, _Fallback):
                return found
            text, downloaded = found
            if text is None:
                return _Read(None, downloaded)
            where = f"{target.source} {target.version}"
            return _Read(parse_changelog_fixes(text, target.release, where=where), downloaded)
        except FeedError as exc:
            return exc
        except HardbaseError as exc:
            return FeedError(exc.diagnostics())

    def _changelog(self, target: SourceTarget, cache: Path) -> tuple[str | None, int] | _Fallback:
        """(the changelog text or None, bytes downloaded), or why the next kind is needed."""
        if not target.artifacts:
            return _Fallback("it has no source tarball")
        by_binary = {a.binary: a for a in target.artifacts if a.kind == "deb"}
        over = [a for a in target.artifacts if a.size > _cap(a)]
        queue = [a for a in target.artifacts if a.size <= _cap(a)][: self.max_candidates]
        if not queue:
            smallest = min(over, key=lambda a: a.size)
            return _Fallback(
                f"its smallest {_what(smallest)} is {smallest.size >> 20} MiB, over the "
                f"{_cap(smallest) >> 20} MiB cap"
            )
        tried: set[str] = set()
        downloaded = 0
        missing: list[str] = []
        while queue:
            artifact = queue.pop(0)
            if artifact.url in tried:
                continue
            tried.add(artifact.url)
            name = artifact.binary or artifact.kind
            stored = cache / artifact.sha256[:2] / f"{artifact.sha256}.{name}.changelog.gz"
            link: str | None = None
            if stored.is_file():
                data: bytes | None = stored.read_bytes()
            else:
                try:
                    data, link = self._fetch_changelog(artifact, cache)
                except NotFound:
                    missing.append(artifact.url)
                    continue
                downloaded += artifact.size
                if data is not None:
                    write_atomic(stored, data)
            if data is None:
                # a doc dir linked to a sibling of the same source: read that one next
                sibling = by_binary.get(link or "")
                if sibling is not None and sibling.size <= _cap(sibling):
                    queue.insert(0, sibling)
                continue
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                    raw = gz.read(MAX_CHANGELOG + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise FeedError(f"the changelog in {artifact.url} is not gzip data") from exc
            return raw[:MAX_CHANGELOG].decode("utf-8", errors="replace"), downloaded
        if missing and all(a.kind != "deb" for a in target.artifacts):
            return _Fallback(f"the mirror lacks {missing[0]}")
        if missing and len(missing) == len(tried):
            raise FeedError(f"the mirror lacks {missing[0]}, which its signed index lists")
        return None, downloaded

    def _fetch_changelog(self, artifact: Artifact, cache: Path) -> tuple[bytes | None, str | None]:
        """(gzipped changelog or None, the sibling a .deb's doc dir links to or None)."""
        suffix = artifact.url.rsplit("/", 1)[-1].partition(".tar")[1:]
        local = cache / "downloads" / f"{artifact.sha256}{''.join(suffix) or '.deb'}"
        try:
            download(
                artifact.url, local, max_size=_cap(artifact), sha256=artifact.sha256,
                size=artifact.size,
            )  # fmt: skip
            if artifact.kind == "deb":
                return read_doc(local, artifact.binary)
            try:
                text = changelog_from_tarball(local, native=artifact.kind == "native-tar")
            except ArchiveError as exc:
                raise FeedError(f"cannot read {artifact.url}: {exc.diagnostics()}") from None
            return (None if text is None else gzip.compress(text, mtime=0)), None
        finally:
            local.unlink(missing_ok=True)  # only the changelog is kept


@dataclass(frozen=True)
class _Read:
    fixed: dict[str, tuple[str, str]] | None  # id → (version, urgency); None: no changelog
    downloaded: int


@dataclass(frozen=True)
class _Fallback:
    """The source's own files cannot give the changelog; its binaries may."""

    why: str


def _cap(artifact: Artifact) -> int:
    return MAX_FALLBACK_DEB if artifact.kind == "deb" else MAX_SOURCE_TARBALL


def _what(artifact: Artifact) -> str:
    return {"deb": "binary package", "debian-tar": ".debian.tar"}.get(
        artifact.kind, "source tarball"
    )


def _reason(exc: BaseException) -> str:
    return exc.diagnostics() if isinstance(exc, HardbaseError) else str(exc) or type(exc).__name__
