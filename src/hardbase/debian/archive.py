"""A Debian archive client: verified InRelease files and the Packages and Sources they sign.

For every URI × suite it downloads `dists/SUITE/InRelease`, checks the signature
with `gpgv` against the entry's keyring, reads only the signed text, refuses
expired and rolled-back releases, then fetches each component's Packages index
(`load`) or Sources index (`load_sources`), xz, else gz, else plain, and checks
it against the size and SHA256 the signed Release lists. Index files are cached
by their sha256, parsed indexes too, so a re-run with an unchanged archive
downloads only the InRelease files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hardbase.debian.index import PackageIndex, parse_packages, parse_sources
from hardbase.debian.model import BinaryPackage, ReleaseInfo, SourceEntry, SourcePackage
from hardbase.errors import ArchiveError, FetchError, IntegrityError, SignatureError
from hardbase.util.fs import write_atomic
from hardbase.util.http import NotFound, download, fetch_bytes
from hardbase.util.progress import NullProgress, Progress

if TYPE_CHECKING:
    from debian.deb822 import Release

log = logging.getLogger(__name__)

MAX_INRELEASE = 16 << 20
MAX_INDEX = 256 << 20  # compressed, as downloaded
MAX_INDEX_TEXT = 1 << 30  # uncompressed
# Bump when the parser or BinaryPackage changes, so stale parsed caches are ignored.
_PARSED_FORMAT = 1
_COMPRESSIONS = (".xz", ".gz", "")

_T = TypeVar("_T")
_Item = TypeVar("_Item")
_Item_co = TypeVar("_Item_co", covariant=True)


@dataclass(frozen=True)
class _Release:
    """A verified Release: its info and the files it vouches for."""

    info: ReleaseInfo
    dists_url: str
    files: dict[str, tuple[str, int]] = field(compare=False)  # path -> (sha256, size)
    by_hash: bool = False


class IndexNotListed(IntegrityError):
    """A suite's signed Release lists no such index (say, an archive without deb-src)."""


class _Parser(Protocol[_Item_co]):
    def __call__(
        self, text: str, *, base_uri: str, suite: str, origin: str
    ) -> Iterable[_Item_co]: ...


class Archive:
    """The Debian archive of some source entries; `load` returns its verified indexes."""

    def __init__(
        self,
        entries: Sequence[SourceEntry],
        *,
        cache_dir: Path,
        progress: Progress | None = None,
        now: datetime | None = None,
        max_workers: int = 8,
        timeout: float = 60.0,
        retries: int = 2,
    ) -> None:
        self.entries = tuple(entries)
        self.cache_dir = Path(cache_dir)
        self.progress: Progress = progress or NullProgress()
        self.now = now
        self.max_workers = max_workers
        self.timeout = timeout
        self.retries = retries

    def load(self, archs: Sequence[str]) -> tuple[PackageIndex, list[ReleaseInfo]]:
        """Verify every suite's InRelease and return the index of all their packages.

        Packages are added in the order of the entries, URIs, suites, components
        and archs, so equal versions in several suites resolve to the first.
        """
        targets = self._releases()
        jobs = [
            functools.partial(self._index, release, f"{component}/binary-{arch}/Packages",
                              parse_packages)
            for entry, release in targets
            for component in entry.components
            for arch in archs
        ]  # fmt: skip
        lists = self._parallel("reading Packages indexes", jobs)
        index = PackageIndex()
        for packages in lists:
            index.extend(packages)
        index.searched = tuple(
            f"{release.dists_url.rsplit('/dists/', 1)[1]}/{component} ({release.dists_url})"
            for entry, release in targets
            for component in entry.components
        )
        log.info("archive: %d packages from %d indexes", len(index), len(jobs))
        return index, [release.info for _, release in targets]

    def load_sources(self) -> list[SourcePackage]:
        """Verify every suite's InRelease and return the source packages its Sources list.

        In the order of the entries, URIs, suites and components (deb-src on the same
        mirrors as the binaries, signed by the same InRelease). A suite whose Release
        lists no Sources contributes none; IndexNotListed when no suite lists one.
        """
        return self.load_sources_signed()[0]

    def load_sources_signed(self) -> tuple[list[SourcePackage], list[ReleaseInfo]]:
        """`load_sources`, with the verified InRelease of every suite read (for provenance)."""
        targets = self._releases()
        jobs = [
            functools.partial(self._sources, release, f"{component}/source/Sources")
            for entry, release in targets
            for component in entry.components
        ]
        lists = self._parallel("reading Sources indexes", jobs)
        unlisted = [x for x in lists if isinstance(x, IndexNotListed)]
        if len(unlisted) == len(lists) and unlisted:
            raise unlisted[0]
        sources = [source for x in lists if not isinstance(x, IndexNotListed) for source in x]
        return sources, [release.info for _, release in targets]

    def _sources(self, release: _Release, base: str) -> list[SourcePackage] | IndexNotListed:
        try:
            return self._index(release, base, parse_sources)
        except IndexNotListed as exc:
            return exc

    def _releases(self) -> list[tuple[SourceEntry, _Release]]:
        """Every entry's releases, verified afresh on each call (the mirror may have moved)."""
        targets = [
            (entry, uri, suite) for entry in self.entries for uri in entry.uris
            for suite in entry.suites
        ]  # fmt: skip
        releases = self._parallel(
            "verifying archive InRelease files",
            [functools.partial(self._release, e, u, s) for e, u, s in targets],
        )
        return [(entry, release) for (entry, _, _), release in zip(targets, releases, strict=True)]

    # -- helpers -------------------------------------------------------------------

    def _parallel(self, task: str, calls: Sequence[Callable[[], _T]]) -> list[_T]:
        """Run `calls` on a thread pool, results in call order; the first error wins."""
        self.progress.start(task, len(calls))
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.max_workers)) as pool:
                futures: list[Future[_T]] = [pool.submit(call) for call in calls]
                try:
                    results = []
                    for future in futures:
                        results.append(future.result())
                        self.progress.advance()
                except BaseException:
                    for pending in futures:
                        pending.cancel()
                    raise
            return results
        finally:
            self.progress.finish()

    def _release(self, entry: SourceEntry, uri: str, suite: str) -> _Release:
        dists = f"{uri.rstrip('/')}/dists/{suite}"
        url = f"{dists}/InRelease"
        try:
            raw = fetch_bytes(
                url, max_size=MAX_INRELEASE, timeout=self.timeout, retries=self.retries
            )
        except NotFound:
            raise ArchiveError(
                f"{url} does not exist; check the suite name {suite!r} and the mirror URL"
            ) from None
        except IntegrityError as exc:
            raise ArchiveError(f"{url} is larger than {MAX_INRELEASE} bytes; refusing it") from exc
        except FetchError as exc:
            raise FetchError(f"cannot reach {url}; check the mirror URL or network") from exc
        text = verify_inrelease(raw, Path(entry.signed_by), url=url)
        fields = _parse_release(text, url)
        info = self._check_release(fields, uri=uri, suite=suite, url=url, raw=raw)
        files = _release_files(fields, url)
        self._remember(info)
        by_hash = fields.get("Acquire-By-Hash", "").strip().lower() == "yes"
        return _Release(info=info, dists_url=dists, files=files, by_hash=by_hash)

    def _check_release(
        self, fields: Release, *, uri: str, suite: str, url: str, raw: bytes
    ) -> ReleaseInfo:
        codename = fields.get("Codename", "")
        if suite not in (codename, fields.get("Suite", "")):
            raise ArchiveError(
                f"{url} is for suite {fields.get('Suite', '?')!r} (codename {codename!r}), "
                f"not {suite!r}; the mirror serves the wrong release"
            )
        if "Date" not in fields:
            raise ArchiveError(f"{url} has no Date field; the archive is malformed")
        date = _parse_date(fields["Date"], url, "Date")
        now = self.now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        valid_until = fields.get("Valid-Until")
        if valid_until is not None and _parse_date(valid_until, url, "Valid-Until") < now:
            raise ArchiveError(
                f"{url} expired on {valid_until} (Valid-Until); the mirror is stale or "
                "replays an old release: use an up-to-date mirror"
            )
        if date > now and (date - now).total_seconds() > 86400:
            log.warning("%s is dated %s, in the future", url, fields["Date"])
        seen = self._remembered(uri, suite)
        if seen is not None and date < _parse_date(seen, url, "Date"):
            raise ArchiveError(
                f"{url} is dated {fields['Date']}, older than the {seen} seen before; "
                "the mirror serves an outdated release (rollback): use an up-to-date mirror"
            )
        return ReleaseInfo(
            uri=uri,
            suite=suite,
            codename=codename,
            date=fields["Date"],
            sha256=hashlib.sha256(raw).hexdigest(),
            valid_until=valid_until,
        )

    def _state_path(self, uri: str, suite: str) -> Path:
        key = hashlib.sha256(f"{uri.rstrip('/')}\n{suite}".encode()).hexdigest()[:32]
        return self.cache_dir / "releases" / f"{key}.json"

    def _remembered(self, uri: str, suite: str) -> str | None:
        path = self._state_path(uri, suite)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ArchiveError(
                f"cannot read the release state {path}; delete it to start afresh"
            ) from exc
        date = state.get("date") if isinstance(state, dict) else None
        return date if isinstance(date, str) else None

    def _remember(self, info: ReleaseInfo) -> None:
        state = {"uri": info.uri, "suite": info.suite, "date": info.date, "sha256": info.sha256}
        try:
            write_atomic(
                self._state_path(info.uri, info.suite), json.dumps(state, indent=1).encode()
            )
        except OSError as exc:
            raise ArchiveError(
                f"cannot write the release state under {self.cache_dir}; check its permissions"
            ) from exc

    def _index(self, release: _Release, base: str, parse: _Parser[_Item]) -> list[_Item]:
        """The parsed entries of one index (`main/binary-amd64/Packages`, `main/source/Sources`)."""
        listed: list[tuple[str, str, int]] = []
        for ext in _COMPRESSIONS:
            if base + ext in release.files:
                listed.append((base + ext, *release.files[base + ext]))
        if not listed:
            component, _, rest = base.partition("/")
            raise IndexNotListed(
                f"the Release of {release.dists_url} lists no {base} index; check the "
                f"component {component!r} and {rest.rpartition('/')[0]!r}"
            )
        uri, suite = release.info.uri, release.info.suite
        for path, sha256, size in listed:
            parsed = self._parsed_path(sha256, uri, suite)
            cached: list[_Item] | None = _load_parsed(parsed)
            if cached is not None:
                return cached
            raw = self._fetch_index(release, path, sha256, size)
            if raw is None:
                continue  # not on the mirror in this compression; try the next
            items = list(
                parse(
                    _decompress(raw, path, release.dists_url),
                    base_uri=uri,
                    suite=suite,
                    origin=f"{release.dists_url}/{path}",
                )
            )
            try:
                write_atomic(parsed, pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL))
            except OSError as exc:
                log.warning("cannot cache the parsed index %s: %s", parsed, exc)
            return items
        raise FetchError(
            f"none of {', '.join(p for p, _, _ in listed)} is on {release.dists_url}; "
            "the mirror is incomplete: try another mirror"
        )

    def _parsed_path(self, sha256: str, uri: str, suite: str) -> Path:
        key = hashlib.sha256(
            f"{_PARSED_FORMAT}\n{sha256}\n{uri.rstrip('/')}\n{suite}".encode()
        ).hexdigest()
        return self.cache_dir / "parsed" / f"{key}.pickle"

    def _fetch_index(self, release: _Release, path: str, sha256: str, size: int) -> bytes | None:
        """The verified bytes of one index file, from the cache or the mirror; None on 404."""
        stored = self.cache_dir / "by-hash" / sha256[:2] / sha256
        try:
            data = stored.read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise ArchiveError(f"cannot read the cached index {stored}") from exc
        if data is not None:
            if len(data) == size and hashlib.sha256(data).hexdigest() == sha256:
                return data
            log.warning("discarding the corrupt cached index %s", stored)
        urls = [f"{release.dists_url}/{path}"]
        if release.by_hash:
            directory = path.rpartition("/")[0]
            urls.insert(0, f"{release.dists_url}/{directory}/by-hash/SHA256/{sha256}")
        for url in urls:
            try:
                download(
                    url, stored, max_size=MAX_INDEX, sha256=sha256, size=size,
                    timeout=self.timeout, retries=self.retries,
                )  # fmt: skip
            except NotFound:
                continue
            except IntegrityError as exc:
                raise IntegrityError(
                    f"{url} does not match the size and SHA256 its signed Release lists; "
                    "the mirror is inconsistent or tampered with: retry later or use another mirror"
                ) from exc
            except FetchError as exc:
                raise FetchError(f"cannot download {url}; check the mirror URL or network") from exc
            return stored.read_bytes()
        return None


def verify_inrelease(raw: bytes, keyring: Path, *, url: str) -> str:
    """Check an InRelease file's signature with gpgv; return only the signed text."""
    _check_clearsigned(raw, url)
    if not keyring.is_file():
        raise SignatureError(
            f"the keyring {keyring} for {url} does not exist; install it or fix signed_by"
        )
    with tempfile.TemporaryDirectory(prefix="hardbase-gpgv-") as tmp:
        signed = Path(tmp) / "InRelease"
        output = Path(tmp) / "Release"
        signed.write_bytes(raw)
        command = [
            "gpgv", "--homedir", tmp, "--status-fd", "1", "--keyring", str(keyring),
            "--output", str(output), str(signed),
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, timeout=120, check=False)
        except FileNotFoundError:
            raise ArchiveError(
                "gpgv is not installed; install the gpgv package to verify archives"
            ) from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise SignatureError(f"running gpgv on {url} failed") from exc
        status = result.stdout.decode("utf-8", "replace").splitlines()
        good = any(line.startswith("[GNUPG:] GOODSIG ") for line in status)
        valid = any(line.startswith("[GNUPG:] VALIDSIG ") for line in status)
        if result.returncode != 0 or not (good and valid) or not output.is_file():
            reason = _gpgv_reason(status, result.stderr)
            raise SignatureError(
                f"the signature of {url} does not verify with the keyring {keyring} "
                f"({reason}); the mirror may be tampered with, or the keyring is wrong"
            )
        data = output.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"the signed text of {url} is not UTF-8") from exc


def _check_clearsigned(raw: bytes, url: str) -> None:
    # One clearsigned message and nothing around it: text outside the signature
    # must not be able to smuggle fields in (gpgv alone would accept it).
    text = raw.lstrip()
    if (
        not text.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----\n")
        and not text.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----\r\n")
    ) or raw.count(b"-----BEGIN PGP SIGNED MESSAGE-----") != 1:
        raise SignatureError(f"{url} is not a single clearsigned message; refusing it")
    if raw.count(b"-----BEGIN PGP SIGNATURE-----") != 1:
        raise SignatureError(f"{url} does not have exactly one signature block; refusing it")
    end = raw.find(b"-----END PGP SIGNATURE-----")
    if end < 0 or raw[end + len(b"-----END PGP SIGNATURE-----") :].strip():
        raise SignatureError(f"{url} has text after its signature; refusing it")


def _gpgv_reason(status: list[str], stderr: bytes) -> str:
    for keyword, reason in (
        ("BADSIG", "bad signature"),
        ("NO_PUBKEY", "signed by a key not in the keyring"),
        ("EXPKEYSIG", "signed by an expired key"),
        ("REVKEYSIG", "signed by a revoked key"),
        ("ERRSIG", "the signature cannot be checked"),
        ("NODATA", "no signature found"),
    ):
        if any(line.startswith(f"[GNUPG:] {keyword}") for line in status):
            return reason
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no valid signature"


def _parse_release(text: str, url: str) -> Release:
    """The Release paragraph of a verified InRelease (python-debian; one paragraph, ~200 kB)."""
    from debian.deb822 import Release  # 40 ms to import: only when a Release is read

    release = Release(text)
    if not release:
        raise ArchiveError(f"the signed text of {url} is empty")
    return release


def _release_files(release: Release, url: str) -> dict[str, tuple[str, int]]:
    files: dict[str, tuple[str, int]] = {}
    for entry in release.get("SHA256") or ():
        sha256, size, name = entry.get("sha256", ""), entry.get("size", ""), entry.get("name", "")
        if len(sha256) != 64 or not size.isdigit() or not name or " " in name.strip():
            raise ArchiveError(f"the SHA256 list of {url} has a malformed line {entry!r}")
        files[name.strip()] = (sha256.lower(), int(size))
    if not files:
        raise ArchiveError(f"{url} lists no SHA256 hashes; refusing an unverifiable archive")
    return files


def _parse_date(text: str, url: str, field_name: str) -> datetime:
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError) as exc:
        raise ArchiveError(f"{url} has a malformed {field_name} {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _decompress(raw: bytes, path: str, where: str) -> str:
    errors: tuple[type[Exception], ...] = (zlib.error, EOFError, UnicodeDecodeError)
    try:
        if path.endswith(".xz"):
            import lzma  # only loaded when an index is parsed, not on cached runs

            errors += (lzma.LZMAError,)
            decompressor = lzma.LZMADecompressor()
            data = decompressor.decompress(raw, max_length=MAX_INDEX_TEXT)
            complete = decompressor.eof
        elif path.endswith(".gz"):
            inflater = zlib.decompressobj(wbits=47)
            data = inflater.decompress(raw, MAX_INDEX_TEXT)
            complete = inflater.eof
        else:
            data, complete = raw, True
        if not complete:
            raise ArchiveError(
                f"{where}/{path} is truncated or expands beyond {MAX_INDEX_TEXT} bytes"
            )
        return data.decode("utf-8")
    except errors as exc:
        raise ArchiveError(f"{where}/{path} cannot be decompressed and decoded") from exc


def _load_parsed(path: Path) -> list[Any] | None:
    try:
        with open(path, "rb") as fh:
            items = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a corrupt cache is rebuilt, never fatal
        log.warning("ignoring the unreadable parsed index %s: %s", path, exc)
        try:
            os.unlink(path)
        except OSError:
            pass
        return None
    if not isinstance(items, list) or not all(
        isinstance(p, (BinaryPackage, SourcePackage)) for p in items[:1]
    ):
        return None
    return items
