"""The `debian-changelog` importer: CVE → fixed version pairs from the real Debian archive.

For every source package of the configured releases that had an upload after
the release (a `debNNuM` version, or a version in -security or -updates), it
downloads the smallest binary, reads its `changelog.Debian.gz` and records,
for each CVE or GHSA id an entry names, the version that fixes it *in that
release*. Sources whose version did not change since the last run are not
downloaded again.

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
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO

from hardbase.debian.model import DEFAULT_KEYRING, BinaryPackage, SourceEntry
from hardbase.errors import HardbaseError
from hardbase.util.fs import write_atomic
from hardbase.util.http import download
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
MAX_DEB = 512 << 20
MAX_CHANGELOG = 64 << 20  # uncompressed
_DEB_UPDATE = re.compile(r"deb(\d+)u\d+")


@dataclass(frozen=True)
class SourceTarget:
    """One source package of one release, and the binaries that could carry its changelog."""

    release: str
    source: str
    version: str
    binaries: tuple[BinaryPackage, ...]  # best candidate first

    @property
    def ecosystem(self) -> str:
        return f"debian:{CODENAMES[self.release]}"


def release_targets(codename: str) -> frozenset[str]:
    """The changelog distributions that mean "an upload to this release"."""
    return frozenset(
        {
            codename,
            f"{codename}-security",
            f"{codename}-updates",
            f"{codename}-proposed-updates",
        }
    )


def ids_in(text: str) -> list[str]:
    """CVE and GHSA ids in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in VULN_ID.finditer(text)))


@dataclass(frozen=True)
class _Entry:
    version: str
    distributions: frozenset[str]
    when: datetime | None
    ids: tuple[str, ...]


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
                )
            )
    except Exception as exc:  # python-debian raises assorted errors on odd changelogs
        raise FeedError(f"cannot parse the changelog of {where}") from exc
    return out


def parse_changelog(text: str, codename: str, *, where: str = "changelog") -> dict[str, str]:
    """Map each CVE/GHSA id the changelog names to the version that fixes it in `codename`."""
    entries = list(reversed(_entries(text, where)))  # oldest first
    targets = release_targets(codename)
    released = RELEASE_DATES.get(codename)
    fixed: dict[str, str] = {}
    pending: list[str] = []
    for i, entry in enumerate(entries):
        if entry.distributions & targets:
            for vid in (*pending, *entry.ids):
                fixed.setdefault(vid, entry.version)
            pending = []
            continue
        before_release = (
            released is not None and entry.when is not None and entry.when.date() < released
        )
        if before_release and not any(
            later.distributions & targets and compare_debian(later.version, entry.version) < 0
            for later in entries[i + 1 :]
        ):
            for vid in entry.ids:
                fixed.setdefault(vid, entry.version)
            continue
        pending.extend(vid for vid in entry.ids if vid not in fixed and vid not in pending)
    return fixed


# -- reading a .deb ----------------------------------------------------------------------


@contextmanager
def _own_data_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """A streaming reader of a .deb's data.tar (used when hardbase.debian.deb is absent)."""
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise FeedError(f"{path} is not a Debian package (no ar header)")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                raise FeedError(f"{path} has no data.tar member")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip() or "0")
            if name.startswith("data.tar"):
                raw = fh.read(size)
                stream: IO[bytes]
                if name.endswith(".zst"):
                    import zstandard

                    stream = io.BytesIO(
                        zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 31)
                    )
                    mode = "r|"
                else:
                    stream = io.BytesIO(raw)
                    mode = "r|*"
                with tarfile.open(fileobj=stream, mode=mode) as tar:  # type: ignore[call-overload]
                    yield tar
                return
            fh.seek(size + (size & 1), 1)


def _data_tar(path: Path) -> AbstractContextManager[tarfile.TarFile]:
    try:
        from hardbase.debian.deb import open_data_tar  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return _own_data_tar(path)
    opened: AbstractContextManager[tarfile.TarFile] = open_data_tar(path)
    return opened


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
        with _data_tar(path) as tar:
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
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise FeedError(f"cannot read {path}; delete it from the cache and retry") from exc
    for name in sorted(wanted):  # changelog.Debian.gz before changelog.gz
        if name in found:
            return found[name], None
    return None, link


# -- choosing what to read ---------------------------------------------------------------


def updated_since_release(pkg: BinaryPackage, codename: str) -> bool:
    """Whether a binary of `codename` comes from an upload after the release."""
    if pkg.suite.endswith(("-security", "-updates")):
        return True
    m = _DEB_UPDATE.search(pkg.source_version or pkg.version)
    return m is not None and int(m.group(1)) == CODENAMES.get(codename, -1)


def select_targets(packages: Iterator[BinaryPackage], codename: str) -> list[SourceTarget]:
    """The newest version of each source updated since the release, with candidate binaries."""
    newest: dict[str, str] = {}
    binaries: dict[tuple[str, str], list[BinaryPackage]] = {}
    updated: set[str] = set()
    for pkg in packages:
        source = pkg.source or pkg.name
        version = pkg.source_version or pkg.version
        binaries.setdefault((source, version), []).append(pkg)
        if source not in newest or compare_debian(version, newest[source]) > 0:
            newest[source] = version
        if updated_since_release(pkg, codename):
            updated.add(source)
    out: list[SourceTarget] = []
    for source in sorted(updated):
        version = newest[source]
        candidates = binaries[(source, version)]
        unique = {p.name: p for p in sorted(candidates, key=lambda p: -p.size)}
        # the binary named like the source first (its doc dir is rarely a symlink), then smallest
        ordered = sorted(unique.values(), key=lambda p: (p.name != source, p.size, p.name))
        out.append(SourceTarget(codename, source, version, tuple(ordered)))
    return out


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
    packages: Sequence[BinaryPackage], names: frozenset[str] | None
) -> frozenset[str] | None:
    """The source packages that `names` (source or binary names) stand for; None means all."""
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
        self, locations: Sequence[str], codename: str, keyring: Path = DEFAULT_KEYRING
    ) -> list[SourceEntry]:
        """Archive entries for one release: -security and -updates first, so they win ties."""
        mirror = locations[0] if locations else self.default_locations[0]
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
        from hardbase.debian.archive import Archive

        rest, keyring = split_keyring(locations)
        mirrors, selected = parse_locations(rest)
        locations = tuple(locations) or self.default_locations
        mirrors = mirrors or self.default_locations
        releases = tuple(selected) or self.releases
        cache = (self.cache_dir or default_cache_dir()) / "changelogs"
        previous = db.source(self.name)
        state: dict[str, str] = dict(previous.state) if previous else {}
        targets: list[SourceTarget] = []
        for codename in releases:
            archive = Archive(
                self.entries(mirrors, codename, keyring), cache_dir=cache.parent / "archive",
                progress=progress,
            )  # fmt: skip
            try:
                index, _ = archive.load(self.archs)
            except HardbaseError as exc:
                raise FeedError(
                    f"reading the {codename} archive at {mirrors[0]} failed: {exc.diagnostics()}"
                ) from None
            packages = list(index.packages())
            wanted = sources_named(packages, selected.get(codename))
            for t in select_targets(iter(packages), codename):
                if self.only_sources is not None and t.source not in self.only_sources:
                    continue
                if wanted is None or t.source in wanted:
                    targets.append(t)
        todo = [t for t in targets if state.get(f"{t.release}/{t.source}") != t.version]
        unchanged = len(targets) - len(todo)
        log.info("debian-changelog: %d sources, %d changed", len(targets), len(todo))
        progress.start("reading Debian changelogs", len(todo))
        failures: list[str] = []
        rows: list[Affected] = []
        done: list[SourceTarget] = []
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            results = pool.map(lambda t: self._read(t, cache), todo)
            for target, outcome in zip(todo, results, strict=True):
                progress.advance()
                if isinstance(outcome, FeedError):
                    failures.append(f"{target.source} {target.version}: {outcome.diagnostics()}")
                    continue
                done.append(target)
                if outcome is None:
                    log.info("no changelog found for %s %s", target.source, target.version)
                    continue
                for vid, version in sorted(outcome.items()):
                    rows.append(
                        Affected(vid, self.name, target.ecosystem, target.source, FIXED, version)
                    )
        progress.finish()
        db.replace(self.name, (), rows, packages={(t.ecosystem, t.source) for t in done})
        for t in done:
            state[f"{t.release}/{t.source}"] = t.version
        for failure in failures[:10]:
            log.warning("debian-changelog: %s", failure)
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
        if failures and not done:
            raise FeedError(
                f"no changelog could be read from {mirrors[0]} ({failures[0]}); check the mirror"
            )
        details = {"sources": len(targets), "read": len(done), "failed": len(failures)}
        return ImportStats(self.name, locations, 0, len(rows), len(failures), unchanged, details)

    def _read(self, target: SourceTarget, cache: Path) -> dict[str, str] | FeedError | None:
        try:
            text = self._changelog(target, cache)
            if text is None:
                return None
            return parse_changelog(text, target.release, where=f"{target.source} {target.version}")
        except FeedError as exc:
            return exc
        except HardbaseError as exc:
            return FeedError(exc.diagnostics())

    def _changelog(self, target: SourceTarget, cache: Path) -> str | None:
        by_name = {b.name: b for b in target.binaries}
        queue = list(target.binaries[: self.max_candidates])
        tried: set[str] = set()
        while queue:
            pkg = queue.pop(0)
            if pkg.name in tried:
                continue
            tried.add(pkg.name)
            stored = cache / pkg.sha256[:2] / f"{pkg.sha256}.{pkg.name}.changelog.gz"
            link: str | None = None
            if stored.is_file():
                data: bytes | None = stored.read_bytes()
            else:
                data, link = self._fetch_changelog(pkg, cache)
                if data is not None:
                    write_atomic(stored, data)
            if data is None:
                # a doc dir linked to a sibling of the same source: read that one next
                if link in by_name and link not in tried and len(tried) <= self.max_candidates:
                    queue.insert(0, by_name[link])
                continue
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                    raw = gz.read(MAX_CHANGELOG + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise FeedError(f"the changelog in {pkg.url} is not gzip data") from exc
            return raw[:MAX_CHANGELOG].decode("utf-8", errors="replace")
        return None

    def _fetch_changelog(self, pkg: BinaryPackage, cache: Path) -> tuple[bytes | None, str | None]:
        deb = cache / "debs" / f"{pkg.sha256}.deb"
        try:
            download(pkg.url, deb, max_size=MAX_DEB, sha256=pkg.sha256, size=pkg.size)
            return read_doc(deb, pkg.name)
        finally:
            deb.unlink(missing_ok=True)  # only the changelog is kept
