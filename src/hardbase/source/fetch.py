"""Fetch a Debian source package from the signed archive and unpack it.

The release's Sources indexes are read through hardbase.debian.archive (InRelease
checked with gpgv, each index against the signed Release), so the SHA256 and size
of every file of a source package come from signed text. The `.dsc`, the orig
tarball(s) and the debian tarball are downloaded into a content-addressed cache,
each checked against those hashes, the `.dsc`'s own checksum list is checked to
name the same files, and `dpkg-source -x` unpacks them. Everything is staged
beside the output directory and renamed into place at the end, so a failure
leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hardbase.build.spec import MIRROR, SECURITY_MIRROR
from hardbase.debian.archive import Archive
from hardbase.debian.model import (
    DEFAULT_KEYRING,
    BinaryPackage,
    ReleaseInfo,
    SourceEntry,
    SourceFile,
    SourcePackage,
)
from hardbase.debian.version import compare_versions
from hardbase.errors import ArchiveError, FetchError, IntegrityError, UsageError
from hardbase.util.fs import file_hash
from hardbase.util.http import NotFound, download
from hardbase.util.progress import NullProgress, Progress
from hardbase.util.tools import last_error_line, run_tool

log = logging.getLogger(__name__)

MAX_SOURCE_FILE = 4 << 30
_BINNMU = re.compile(r"\+b[0-9]+$")
_SOURCE_FIELD = re.compile(r"^([a-z0-9][a-z0-9+.-]*)(?:\s*\(\s*(\S+)\s*\))?$")


class SourceNotFound(UsageError):
    """The release's signed Sources list no such source package (or version)."""


@dataclass(frozen=True)
class FetchedFile:
    """One file of the source package, as downloaded and verified."""

    name: str
    sha256: str
    size: int
    url: str


@dataclass(frozen=True)
class FetchedSource:
    """A verified, unpacked source package under `directory`."""

    name: str
    version: str
    suite: str
    base_uri: str
    directory: Path  # the output directory: the files and the tree
    tree: Path  # the tree `dpkg-source -x` unpacked
    dsc: Path
    files: tuple[FetchedFile, ...]  # the .dsc first, then the tarballs, as the index lists them
    release: ReleaseInfo  # the InRelease that signed the Sources index listing them

    def path(self, file: FetchedFile) -> Path:
        return self.directory / file.name


def release_entries(
    release: str,
    *,
    mirror: str | None = None,
    security_mirror: str | None = None,
    suites: Sequence[str] = (),
    keyring: Path = DEFAULT_KEYRING,
) -> list[SourceEntry]:
    """The archive entries of a release's suites, deb-src on the binaries' mirrors.

    Suites default to `R-security`, `R-updates` and `R`; a `*-security` suite is read
    from the security mirror, which defaults to Debian's (or, for another `mirror`
    not ending in /debian, the same mirror).
    """
    main = mirror or MIRROR
    if security_mirror is None:
        if mirror is None:
            security_mirror = SECURITY_MIRROR
        elif main.rstrip("/").endswith("/debian"):
            security_mirror = main.rstrip("/") + "-security"
        else:
            security_mirror = main
    wanted = tuple(suites) or (f"{release}-security", f"{release}-updates", release)
    return [
        SourceEntry(
            uris=(security_mirror if suite.endswith("-security") else main,),
            suites=(suite,),
            signed_by=keyring,
        )
        for suite in wanted
    ]


def parse_source_field(value: str, binary: str, binary_version: str) -> tuple[str, str]:
    """(source name, source version) of a binary from its `Source:` field.

    An empty field means the source is named like the binary, with its version;
    `Source: name (version)` gives the version of a binNMU (`1.2-3` for `1.2-3+b1`).
    """
    value = value.strip()
    if not value:
        return binary, binary_version
    match = _SOURCE_FIELD.match(value)
    if match is None:
        raise ArchiveError(f"the Source field {value!r} of {binary} is malformed")
    return match[1], match[2] or binary_version


def source_of(package: BinaryPackage) -> tuple[str, str]:
    """(source name, source version) of a binary package read from an index."""
    return package.source or package.name, package.source_version or package.version


def select_source(
    sources: Sequence[SourcePackage], name: str, version: str | None = None
) -> SourcePackage:
    """The source package `name` (or the source of the binary `name`), at `version`.

    Without a version, the highest in any suite; equal versions go to the first
    suite read. A binary's version with a binNMU suffix (`+b1`) names its source's.
    """
    candidates = [s for s in sources if s.name == name]
    if not candidates:
        candidates = [s for s in sources if name in s.binaries]
    if not candidates:
        raise SourceNotFound(
            f"no source package {name!r} (nor one building a binary {name!r}) is in the "
            "release's signed Sources indexes; check the name and --release"
        )
    if version is not None:
        wanted = version
        exact = [s for s in candidates if compare_versions(s.version, wanted) == 0]
        if not exact and _BINNMU.search(wanted):
            wanted = _BINNMU.sub("", wanted)
            exact = [s for s in candidates if compare_versions(s.version, wanted) == 0]
        if not exact:
            have = ", ".join(sorted({f"{s.version} ({s.suite})" for s in candidates}))
            raise SourceNotFound(
                f"{candidates[0].name} {version} is not in the release's signed Sources "
                f"indexes (they list {have}); pick one of those versions"
            )
        candidates = exact
    best = candidates[0]
    for candidate in candidates[1:]:
        if compare_versions(candidate.version, best.version) > 0:
            best = candidate
    return best


def fetch_source(
    name: str,
    output: Path,
    *,
    entries: Sequence[SourceEntry],
    version: str | None = None,
    cache_dir: Path,
    progress: Progress | None = None,
) -> FetchedSource:
    """Fetch, verify and unpack the source package `name` (a source or binary name).

    `output` must not exist or be empty; on any failure it is left as it was.
    `cache_dir` holds the archive's state and a content-addressed file cache.
    """
    progress = progress or NullProgress()
    output = Path(output)
    _check_output(output)
    archive = Archive(entries, cache_dir=cache_dir / "archive", progress=progress)
    sources, releases = archive.load_sources_signed()
    chosen = select_source(sources, name, version)
    release = next(r for r in releases if (r.uri, r.suite) == (chosen.base_uri, chosen.suite))
    dsc_file = _dsc_of(chosen)
    ordered = (dsc_file, *(f for f in chosen.files if f is not dsc_file))
    store = cache_dir / "sources"
    output.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.hardbase-"))
    try:
        stage.chmod(0o755)
        progress.start(f"downloading {chosen.name} {chosen.version}", len(ordered))
        try:
            for file in ordered:
                cached = _cached_file(chosen, file, store)
                _place(cached, stage / file.name)
                progress.advance()
        finally:
            progress.finish()
        _check_dsc(stage / dsc_file.name, chosen)
        tree_name = f"{chosen.name}-{_upstream(chosen.version)}"
        _unpack(stage, dsc_file.name, tree_name, chosen)
        if output.exists():
            output.rmdir()  # checked empty above
        os.rename(stage, output)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    log.info("fetched %s %s from %s", chosen.name, chosen.version, chosen.suite)
    return FetchedSource(
        name=chosen.name,
        version=chosen.version,
        suite=chosen.suite,
        base_uri=chosen.base_uri,
        directory=output,
        tree=output / tree_name,
        dsc=output / dsc_file.name,
        files=tuple(FetchedFile(f.name, f.sha256, f.size, chosen.url(f)) for f in ordered),
        release=release,
    )


# -- helpers ---------------------------------------------------------------------------


def _check_output(output: Path) -> None:
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise UsageError(f"the output {output} exists and is not a directory; pick a new one")
    if output.is_dir() and any(output.iterdir()):
        raise UsageError(f"the output directory {output} is not empty; pick a new or empty one")


def _dsc_of(source: SourcePackage) -> SourceFile:
    dscs = [f for f in source.files if f.name.endswith(".dsc")]
    if len(dscs) != 1:
        raise ArchiveError(
            f"{source.name} {source.version} in {source.suite} lists {len(dscs)} .dsc files, "
            "not one; the Sources index is malformed"
        )
    return dscs[0]


def _cached_file(source: SourcePackage, file: SourceFile, store: Path) -> Path:
    """The verified file in the content-addressed cache, downloaded when missing."""
    stored = store / file.sha256[:2] / file.sha256
    if stored.is_file():
        if stored.stat().st_size == file.size and file_hash(stored) == file.sha256:
            return stored
        log.warning("discarding the corrupt cached file %s", stored)
    url = source.url(file)
    try:
        download(url, stored, max_size=MAX_SOURCE_FILE, sha256=file.sha256, size=file.size)
    except NotFound:
        raise FetchError(
            f"{url} is not on the mirror although the signed Sources index lists it; "
            "the mirror is incomplete: retry later or use another mirror"
        ) from None
    except IntegrityError as exc:
        raise IntegrityError(
            f"{url} does not match the size and SHA256 the signed Sources index of "
            f"{source.suite} lists for {file.name}; the mirror is inconsistent or tampered "
            "with: retry later or use another mirror"
        ) from exc
    except FetchError as exc:
        raise FetchError(f"cannot download {url}; check the mirror URL or network") from exc
    return stored


def _place(cached: Path, dest: Path) -> None:
    try:
        os.link(cached, dest)
    except OSError:
        shutil.copyfile(cached, dest)


def _check_dsc(path: Path, source: SourcePackage) -> None:
    """The .dsc must list exactly the index's other files, with the same SHA256."""
    from debian.deb822 import Dsc

    try:
        with open(path, encoding="utf-8") as fh:
            dsc = Dsc(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(f"cannot read {path.name}; the source package is malformed") from exc
    listed = {e["name"]: e["sha256"].lower() for e in dsc.get("Checksums-Sha256") or ()}
    expected = {f.name: f.sha256 for f in source.files if f.name != path.name}
    if listed != expected:
        raise IntegrityError(
            f"{path.name} lists other files or hashes ({', '.join(sorted(listed)) or 'none'}) "
            f"than the signed Sources index ({', '.join(sorted(expected))}); refusing it"
        )


def _upstream(version: str) -> str:
    plain = version.partition(":")[2] or version
    return plain.rpartition("-")[0] or plain


def _unpack(stage: Path, dsc: str, tree: str, source: SourcePackage) -> None:
    command = ["dpkg-source", "--require-strong-checksums", "-x", dsc, tree]
    result = run_tool(
        command, package="dpkg-dev", what=f"unpack {dsc}", error=ArchiveError, cwd=stage,
        env={**os.environ, "LC_ALL": "C.UTF-8"}, timeout=1800,
    )  # fmt: skip
    if result.returncode != 0:
        raise ArchiveError(
            f"dpkg-source -x could not unpack {source.name} {source.version} "
            f"({last_error_line(result.stderr)})"
        )
    log.debug("dpkg-source: %s", result.stderr.decode("utf-8", "replace").strip())
