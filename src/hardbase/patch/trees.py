"""The source trees a fix is looked for in: the release's own, and the newer suites'.

The release's tree is the highest version in its suites (R-security, R-updates,
R), fetched and verified by hardbase.source.fetch. The newer trees are the same
source package in the next releases and sid, newest release first after the
next one, so Debian's stable backport comes before unstable's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hardbase.build.spec import MIRROR
from hardbase.debian.model import DEFAULT_KEYRING, SourceEntry
from hardbase.errors import ArchiveError, IntegrityError, UsageError
from hardbase.patch.dep3 import CVE_ID
from hardbase.patch.find import Candidate, Tree, find_candidates
from hardbase.source.fetch import FetchedSource, SourceNotFound, fetch_source, release_entries
from hardbase.util.progress import Progress

log = logging.getLogger(__name__)

# Debian's releases in order; sid last. Only those after R are "newer" for R.
ORDER = ("bullseye", "bookworm", "trixie", "forky", "sid")
# The suites read as newer for R: the next release (with its -security and -updates), then sid.
NEWER: dict[str, tuple[str, ...]] = {
    "bullseye": ("bookworm", "sid"),
    "bookworm": ("trixie", "sid"),
    "trixie": ("sid",),
}


@dataclass(frozen=True)
class Archives:
    """Where the release's and the newer suites' sources, and the build root, are read from.

    The build root's packages come from the source's archive unless a `root_*` field
    is set: then from `root_mirror` (default Debian's), its `-security` suite from
    `root_security_mirror` (derived from `root_mirror` as for the source), verified
    with `root_keyring` (default Debian's). So a source from another archive (a
    fixture, a private mirror of sources) still builds in a root of Debian's binaries.
    """

    mirror: str | None = None
    security_mirror: str | None = None
    keyring: Path = DEFAULT_KEYRING
    root_mirror: str | None = None
    root_security_mirror: str | None = None
    root_keyring: Path | None = None

    def release(self, release: str) -> list[SourceEntry]:
        return release_entries(
            release,
            mirror=self.mirror,
            security_mirror=self.security_mirror,
            keyring=self.keyring,
        )

    def build_root(self, release: str) -> list[SourceEntry]:
        """The suites the build root's packages are resolved and installed from."""
        if (
            self.root_mirror is None
            and self.root_security_mirror is None
            and (self.root_keyring is None)
        ):
            return self.release(release)
        return release_entries(
            release,
            mirror=self.root_mirror,
            security_mirror=self.root_security_mirror,
            keyring=self.root_keyring or DEFAULT_KEYRING,
        )

    def newer(self, release: str) -> list[tuple[str, list[SourceEntry]]]:
        if release not in NEWER:
            known = ", ".join(sorted(NEWER))
            raise UsageError(
                f"no newer Debian suites are known for {release!r}; use one of {known}"
            )
        out: list[tuple[str, list[SourceEntry]]] = []
        for newer in NEWER[release]:
            if newer == "sid":
                entries = [SourceEntry((self.mirror or MIRROR,), ("sid",), signed_by=self.keyring)]
            else:
                entries = self.release(newer)
            out.append((newer, entries))
        return out


def as_tree(fetched: FetchedSource) -> Tree:
    return Tree(fetched.name, fetched.version, fetched.suite, fetched.tree)


def fetch_base(
    name: str, release: str, work: Path, *, archives: Archives, cache_dir: Path,
    version: str | None = None, progress: Progress | None = None,
) -> FetchedSource:  # fmt: skip
    """The release's source of `name` (a source or binary name) under work/RELEASE."""
    return fetch_source(
        name, work / release, entries=archives.release(release), version=version,
        cache_dir=cache_dir, progress=progress,
    )  # fmt: skip


def fetch_newer(
    source: str, release: str, work: Path, *, archives: Archives, cache_dir: Path,
    progress: Progress | None = None, skipped: list[tuple[str, str]] | None = None,
) -> list[FetchedSource]:  # fmt: skip
    """The newer suites' sources of `source` (a source name), those that have it.

    A suite that cannot be read is left out and appended to `skipped` with the reason.
    """
    skipped = [] if skipped is None else skipped
    out = []
    for label, entries in archives.newer(release):
        try:
            out.append(
                fetch_source(
                    source, work / label, entries=entries, cache_dir=cache_dir, progress=progress
                )
            )
        except SourceNotFound:
            log.info("%s is not in %s", source, label)
        except (ArchiveError, IntegrityError) as exc:
            # A newer suite is only a place to look: one that cannot be read (an expired
            # sid InRelease on a stale mirror) is skipped and said, the search goes on.
            skipped.append((label, exc.diagnostics()))
    return out


@dataclass(frozen=True)
class Search:
    """A CVE's candidate fixes for a release's source, with the trees they were read from."""

    base: FetchedSource
    newer: tuple[FetchedSource, ...]
    candidates: tuple[Candidate, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (suite, why) of newer suites not read


def search(
    name: str, cve: str, release: str, work: Path, *, archives: Archives, cache_dir: Path,
    patches: Sequence[Path] = (), progress: Progress | None = None,
) -> Search:  # fmt: skip
    """Fetch the release's and the newer suites' sources under `work`; list `cve`'s fixes."""
    cve = check_cve(cve)
    base = fetch_base(name, release, work, archives=archives, cache_dir=cache_dir,
                      progress=progress)  # fmt: skip
    skipped: list[tuple[str, str]] = []
    newer = fetch_newer(base.name, release, work, archives=archives, cache_dir=cache_dir,
                        progress=progress, skipped=skipped)  # fmt: skip
    for label, why in skipped:
        log.warning("%s was not searched: %s", label, why)
    candidates = find_candidates(cve, as_tree(base), [as_tree(n) for n in newer], patches)
    return Search(base, tuple(newer), tuple(candidates), tuple(skipped))


def check_cve(cve: str) -> str:
    if not CVE_ID.fullmatch(cve.strip()):
        raise UsageError(f"{cve!r} is not a CVE id (CVE-YYYY-NNNN)")
    return cve.upper()
