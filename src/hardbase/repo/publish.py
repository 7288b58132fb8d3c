"""Publish .deb and source packages into hardbase's own Debian archive.

REPO is a Debian-format archive with one suite per release, `<R>-hardbase`, and
one component, `main`:

    REPO/pool/main/<p>/<source>/<files>
    REPO/dists/<R>-hardbase -> .<R>-hardbase.<generation>/
        InRelease, Release, Release.gpg
        main/binary-<arch>/Packages{,.xz,.gz}, main/source/Sources{,.xz,.gz}
        main/*/by-hash/SHA256/<sha256>

A publish holds an exclusive lock on REPO/.hardbase-repo.lock (a second writer
is refused at once), checks every input before it writes anything, adds the pool
files (each written to a temp file and renamed; a published file never changes),
writes a complete new generation of the suite's indexes, signs its Release with
the archive key, checks the signature with gpgv, and only then switches the suite
to it by renaming a symlink. A reader sees the old suite or the new one, never a
half-written index, and the previous generation's index files stay reachable by
hash (`Acquire-By-Hash: yes`) for clients that read the old InRelease.

A publish killed midway (SIGKILL, a crash) leaves REPO serving the suite as it was:
the next publish removes its temp files and links, replaces the pool files it had
written (no signed index named them yet), and drops its unswitched generation.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import logging
import lzma
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hardbase.debian.archive import verify_inrelease
from hardbase.debian.deb import read_control
from hardbase.debian.version import compare_versions
from hardbase.errors import ArchiveError, HardbaseError, UsageError
from hardbase.repo.keys import sign_release
from hardbase.util import names
from hardbase.util.fs import file_hash, write_atomic

if TYPE_CHECKING:
    from debian.deb822 import Deb822

log = logging.getLogger(__name__)

COMPONENT = "main"
SUITE_SUFFIX = "-hardbase"
LOCK_FILE = ".hardbase-repo.lock"
KEYRING_FILE = "hardbase-archive-keyring.gpg"
ORIGIN = "hardbase"
MAX_INPUT = 4 << 30
_INDEX_COMPRESSIONS = ("", ".xz", ".gz")
# .dsc fields that a Sources paragraph recomputes or leaves out
_DSC_DROPPED = frozenset({"Source", "Files", "Checksums-Sha1", "Checksums-Sha256"})


class RepoBusy(UsageError):
    """Another process is publishing to the same REPO."""


class PublishError(UsageError):
    """An input file cannot be published (unreadable, malformed, or in conflict)."""


@dataclass(frozen=True)
class PoolFile:
    """A file to publish: where it comes from, where it goes in the pool, its hash."""

    src: Path
    pool_path: str  # relative to REPO
    sha256: str
    size: int


@dataclass(frozen=True)
class PublishedPackage:
    """One binary or source package added by a publish."""

    kind: str  # "deb" or "dsc"
    name: str
    version: str
    arch: str  # "source" for a source package
    pool_path: str


@dataclass(frozen=True)
class PublishResult:
    suite: str
    inrelease: Path
    added: tuple[PublishedPackage, ...]
    binaries: int  # paragraphs in the suite's Packages, all archs
    sources: int


def suite_for(release: str) -> str:
    """The suite of hardbase's rebuilds for a Debian release (`trixie-hardbase`)."""
    return f"{release}{SUITE_SUFFIX}"


@contextlib.contextmanager
def repo_lock(repo: Path) -> Iterator[None]:
    """Hold REPO's writer lock; RepoBusy at once when another process holds it."""
    repo.mkdir(parents=True, exist_ok=True)
    path = repo / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot open the lock file {path}; check REPO's permissions") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RepoBusy(
                f"another process is publishing to {repo} (it holds {path}); "
                "wait for it to finish and retry"
            ) from None
        yield
    finally:
        os.close(fd)


def publish(
    repo: Path,
    release: str,
    files: Sequence[Path],
    key: Path,
    *,
    archs: Sequence[str] = ("amd64",),
    now: datetime | None = None,
    password: bytes = b"",
    attachments: Sequence[Path] = (),
) -> PublishResult:
    """Add `files` (.deb, .dsc, .changes) to REPO's `<release>-hardbase` suite and sign it.

    `key` is the archive's secret key, `password` its passphrase (empty for none).
    `attachments` (a rebuild's signed provenance, `<source>_<version>.…`) go into the
    pool beside the source's files, in the same locked publish; no index lists them.
    """
    repo = Path(repo)
    if not release.isalpha() or not release.islower():
        raise UsageError(f"--release {release!r} is not a Debian codename such as trixie")
    if repo.exists() and not repo.is_dir():
        raise UsageError(f"REPO {repo} exists and is not a directory")
    if not files:
        raise UsageError("name at least one .deb, .dsc or .changes file to publish")
    if not key.is_file():
        raise UsageError(
            f"the archive key {key} does not exist; make one with `hardbase repo keygen`"
        )
    debs, dscs = _expand(files)
    suite = suite_for(release)
    with repo_lock(repo):
        packages = _read_index(repo, suite, "Packages")
        sources = _read_index(repo, suite, "Sources")
        added: list[PublishedPackage] = []
        pool: list[PoolFile] = []
        for deb in debs:
            paragraph, file = _deb_entry(deb)
            _add(packages, paragraph, ("Package", "Version", "Architecture"), file, repo)
            pool.append(file)
            added.append(
                PublishedPackage(
                    "deb",
                    paragraph["Package"],
                    paragraph["Version"],
                    paragraph["Architecture"],
                    file.pool_path,
                )  # fmt: skip
            )
        for dsc in dscs:
            paragraph, dsc_files = _dsc_entry(dsc)
            _add(packages=sources, paragraph=paragraph, key=("Package", "Version"),
                 file=dsc_files[0], repo=repo)  # fmt: skip
            pool.extend(dsc_files)
            added.append(
                PublishedPackage(
                    "dsc",
                    paragraph["Package"],
                    paragraph["Version"],
                    "source",
                    dsc_files[0].pool_path,
                )  # fmt: skip
            )
        pool += [_attachment(path) for path in attachments]
        _reap_leftovers(repo, suite, pool)
        listed = _listed_in_pool(repo)
        for file in pool:
            _check_pool(repo, file, listed)
        all_archs = sorted(
            set(archs)
            | {p["Architecture"] for p in packages.values() if p["Architecture"] != "all"}
        )
        for arch in all_archs:
            if not names.DEB_ARCH.allows(arch):
                raise UsageError(f"{arch!r} is not a Debian architecture")

        def add_pool_files() -> None:
            for file in pool:
                _copy_to_pool(repo, file, listed)

        inrelease = _write_suite(
            repo,
            suite,
            packages,
            sources,
            all_archs,
            (key, password),
            now,
            before_switch=add_pool_files,
        )
    log.info("published %d packages to %s", len(added), suite)
    return PublishResult(suite, inrelease, tuple(added), len(packages), len(sources))


def published_binaries(repo: Path, release: str) -> list[dict[str, str]]:
    """The Packages paragraphs (all archs) REPO's `<release>-hardbase` suite serves now."""
    return list(_read_index(Path(repo), suite_for(release), "Packages").values())


# -- inputs ----------------------------------------------------------------------------


def _expand(files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The .debs and .dscs to publish, with the files each .changes lists."""
    debs: list[Path] = []
    dscs: list[Path] = []
    for path in files:
        path = Path(path)
        if not path.is_file():
            raise PublishError(f"{path} does not exist or is not a file")
        if path.name.endswith(".deb"):
            debs.append(path)
        elif path.name.endswith(".dsc"):
            dscs.append(path)
        elif path.name.endswith(".changes"):
            for listed in _listed_files(path, "Checksums-Sha256", "the .changes"):
                if listed.name.endswith(".deb"):
                    debs.append(listed)
                elif listed.name.endswith(".dsc"):
                    dscs.append(listed)
        else:
            raise PublishError(f"{path} is not a .deb, .dsc or .changes file; cannot publish it")
    return list(dict.fromkeys(debs)), list(dict.fromkeys(dscs))


def _attachment(path: Path) -> PoolFile:
    """A file named `<source>_<version>…` for the source's pool directory."""
    source, underscore, rest = path.name.partition("_")
    if not (path.is_file() and underscore and rest and names.DEB_NAME.allows(source)):
        raise PublishError(f"{path} is not a file named <source>_<version>…; cannot publish it")
    size = path.stat().st_size
    if size > MAX_INPUT:
        raise PublishError(f"{path} is larger than {MAX_INPUT} bytes")
    return PoolFile(path, f"{_pool_dir(source)}/{path.name}", file_hash(path), size)


def _parse(path: Path, what: str) -> Deb822:
    from debian.deb822 import Deb822

    try:
        if path.stat().st_size > 16 << 20:
            raise PublishError(f"{path} is too large for {what}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PublishError(f"cannot read {path} as {what}") from exc
    paragraph = Deb822(text)
    if not paragraph:
        raise PublishError(f"{path} is not a {what} file (no fields)")
    return paragraph


def _listed_files(path: Path, field: str, what: str) -> list[Path]:
    """The files a .changes or .dsc lists in `field`, each beside it and matching its hash."""
    paragraph = _parse(path, what)
    out: list[Path] = []
    for line in paragraph.get(field, "").strip().splitlines():
        parts = line.split()
        if len(parts) != 3 or not names.SHA256.allows(parts[0].lower()) or not parts[1].isdigit():
            raise PublishError(f"{path} has a malformed {field} line {line.strip()!r}")
        sha256, size, name = parts[0].lower(), int(parts[1]), parts[2]
        if not names.FILE_NAME.allows(name):
            raise PublishError(f"{path} lists an unsafe file name {name!r}")
        listed = path.parent / name
        if not listed.is_file():
            raise PublishError(f"{path} lists {name}, which is not beside it")
        if listed.stat().st_size != size or file_hash(listed) != sha256:
            raise PublishError(
                f"{listed} does not match the size and SHA256 that {path.name} lists; "
                "rebuild it or fix the file"
            )
        out.append(listed)
    if not out:
        raise PublishError(f"{path} lists no files in {field}")
    return out


def _pool_dir(source: str) -> str:
    prefix = source[:4] if source.startswith("lib") else source[:1]
    return f"pool/{COMPONENT}/{prefix}/{source}"


def _deb_entry(path: Path) -> tuple[dict[str, str], PoolFile]:
    from debian.deb822 import Deb822

    try:
        control, _ = read_control(path)
    except HardbaseError as exc:
        raise PublishError(f"{path} is not a readable .deb: {exc.diagnostics()}") from None
    fields = dict(Deb822(control))
    where = str(path)
    for field, rule in (
        ("Package", names.DEB_NAME), ("Version", names.DEB_VERSION),
        ("Architecture", names.DEB_ARCH),
    ):  # fmt: skip
        if not rule.allows(fields.get(field, "")):
            raise PublishError(f"{where} has no valid {field} field in its control file")
    source = fields.get("Source", "").split(" ")[0] or fields["Package"]
    if not names.DEB_NAME.allows(source):
        raise PublishError(f"{where} has a malformed Source field {fields['Source']!r}")
    version = fields["Version"]
    plain = version.partition(":")[2] or version
    name = f"{fields['Package']}_{plain}_{fields['Architecture']}.deb"
    size = path.stat().st_size
    if size > MAX_INPUT:
        raise PublishError(f"{path} is larger than {MAX_INPUT} bytes")
    file = PoolFile(path, f"{_pool_dir(source)}/{name}", file_hash(path), size)
    data_md5 = file_hash(path, "md5")
    fields.update(
        {"Filename": file.pool_path, "Size": str(size), "MD5sum": data_md5, "SHA256": file.sha256}
    )
    return fields, file


def _dsc_entry(path: Path) -> tuple[dict[str, str], list[PoolFile]]:
    dsc = _parse(path, "a .dsc")
    where = str(path)
    source, version = dsc.get("Source", ""), dsc.get("Version", "")
    if not names.DEB_NAME.allows(source) or not names.DEB_VERSION.allows(version):
        raise PublishError(f"{where} has no valid Source and Version fields")
    if not names.FILE_NAME.allows(path.name):
        raise PublishError(f"{where} has an unsafe file name")
    listed = _listed_files(path, "Checksums-Sha256", "a .dsc")
    directory = _pool_dir(source)
    files = [
        PoolFile(f, f"{directory}/{f.name}", file_hash(f), f.stat().st_size)
        for f in [path, *listed]
    ]
    paragraph = {"Package": source}
    paragraph.update({k: v for k, v in dsc.items() if k not in _DSC_DROPPED})
    paragraph["Directory"] = directory
    md5s = [file_hash(f.src, "md5") for f in files]
    paragraph["Files"] = "\n" + "\n".join(
        f" {md5} {f.size} {f.src.name}" for md5, f in zip(md5s, files, strict=True)
    )
    paragraph["Checksums-Sha256"] = "\n" + "\n".join(
        f" {f.sha256} {f.size} {f.src.name}" for f in files
    )
    return paragraph, files


def _add(
    packages: dict[tuple[str, ...], dict[str, str]],
    paragraph: dict[str, str],
    key: tuple[str, ...],
    file: PoolFile,
    repo: Path,
) -> None:
    """Add an index paragraph; the same package with other content is a conflict."""
    ident = tuple(paragraph[k] for k in key)
    old = packages.get(ident)
    if old is not None:
        old_sha = old.get("SHA256") or _dsc_sha(old, Path(file.pool_path).name)
        if old_sha != file.sha256:
            raise PublishError(
                f"{repo} already publishes {' '.join(ident)} with other content; a published "
                "package never changes: publish it under a new +hb revision"
            )
    packages[ident] = paragraph


def _dsc_sha(paragraph: dict[str, str], name: str) -> str:
    for line in paragraph.get("Checksums-Sha256", "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return parts[0]
    return ""


# -- the pool --------------------------------------------------------------------------


def _listed_in_pool(repo: Path) -> frozenset[str]:
    """The pool paths a live suite of REPO publishes, attachments of its sources included.

    Indexes only grow (every version published stays listed), so the live ones name
    every file ever published. A pool file they do not name was left by a publish
    that was killed before its switch: no signed index ever named it, so it may be
    replaced. An attachment (`<source>_<version>.…`, named by no index) counts as
    published once its source's `.dsc` is.
    """
    listed: set[str] = set()
    dists = repo / "dists"
    suites = (
        [p for p in dists.iterdir() if p.is_symlink() and not p.name.startswith(".")]
        if dists.is_dir()
        else []
    )
    for link in suites:
        for paragraph in _read_index(repo, link.name, "Packages").values():
            listed.add(paragraph.get("Filename", ""))
        for paragraph in _read_index(repo, link.name, "Sources").values():
            directory = paragraph.get("Directory", "")
            for line in paragraph.get("Checksums-Sha256", "").splitlines():
                parts = line.split()
                if len(parts) == 3:
                    listed.add(f"{directory}/{parts[2]}")
    return frozenset(listed)


def _published(file: PoolFile, listed: frozenset[str]) -> bool:
    if file.pool_path in listed:
        return True
    directory, _, name = file.pool_path.rpartition("/")
    if name.endswith((".deb", ".dsc")) or ".orig." in name or ".debian." in name:
        return False
    return any(
        path.endswith(".dsc") and name.startswith(path.rpartition("/")[2][:-4] + ".")
        for path in listed
        if path.startswith(directory + "/")
    )


def _check_pool(repo: Path, file: PoolFile, listed: frozenset[str]) -> None:
    dest = repo / file.pool_path
    if dest.is_symlink():
        raise PublishError(f"{dest} is a symlink; REPO's pool must hold regular files")
    if (
        dest.exists()
        and _published(file, listed)
        and (dest.stat().st_size != file.size or file_hash(dest) != file.sha256)
    ):
        raise PublishError(
            f"{dest} already exists with other content; a published file never changes: "
            "publish it under a new +hb revision"
        )


def _reap_leftovers(repo: Path, suite: str, pool: Sequence[PoolFile]) -> None:
    """What a publish killed midway left behind: pool temp files and the suite's temp links.

    Called under REPO's lock, so no other publish is writing them. A generation
    directory it left is never switched to and goes after this publish's switch.
    """
    for directory in {(repo / f.pool_path).parent for f in pool}:
        if directory.is_dir():
            for tmp in directory.glob(".*.tmp"):
                if tmp.is_file() and not tmp.is_symlink():
                    tmp.unlink()
    dists = repo / "dists"
    if dists.is_dir():
        for link in dists.glob(f".{suite}.link-*"):
            if link.is_symlink():
                link.unlink()


def _copy_to_pool(repo: Path, file: PoolFile, listed: frozenset[str]) -> None:
    dest = repo / file.pool_path
    if dest.exists() and (
        _published(file, listed)
        or (dest.stat().st_size == file.size and file_hash(dest) == file.sha256)
    ):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(file.src, tmp)
        if file_hash(Path(tmp)) != file.sha256:
            raise PublishError(f"{file.src} changed while it was published; publish it again")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# -- the suite -------------------------------------------------------------------------


def _read_index(repo: Path, suite: str, kind: str) -> dict[tuple[str, ...], dict[str, str]]:
    """The paragraphs of the suite's current Packages (all archs) or Sources."""
    from debian.deb822 import Deb822

    base = repo / "dists" / suite / COMPONENT
    paths = (
        sorted(base.glob("binary-*/Packages")) if kind == "Packages" else [base / "source" / kind]
    )
    key = ("Package", "Version", "Architecture") if kind == "Packages" else ("Package", "Version")
    out: dict[tuple[str, ...], dict[str, str]] = {}
    for path in paths:
        if not path.is_file():
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                for paragraph in Deb822.iter_paragraphs(fh, use_apt_pkg=False):
                    fields = dict(paragraph)
                    if not all(k in fields for k in key):
                        raise ArchiveError(f"{path} has a paragraph without {', '.join(key)}")
                    out[tuple(fields[k] for k in key)] = fields
        except (OSError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"cannot read the published index {path}") from exc
    return out


def _render(paragraphs: Sequence[dict[str, str]]) -> bytes:
    chunks = []
    for fields in paragraphs:
        lines = []
        for name, value in fields.items():
            value = value.rstrip("\n")
            sep = "" if value.startswith("\n") else " "
            lines.append(f"{name}:{sep}{value}")
        chunks.append("\n".join(lines) + "\n")
    return "\n".join(chunks).encode("utf-8")


def _sort_key(fields: dict[str, str]) -> tuple[str, object, str]:
    from functools import cmp_to_key

    return (fields["Package"], cmp_to_key(compare_versions)(fields["Version"]),
            fields.get("Architecture", ""))  # fmt: skip


def _previous_date(current: Path) -> datetime | None:
    release = current / "Release"
    if not release.is_file():
        return None
    for line in release.read_text(encoding="utf-8").splitlines():
        if line.startswith("Date:"):
            try:
                return parsedate_to_datetime(line.partition(":")[2].strip())
            except (TypeError, ValueError):
                return None
    return None


def _write_suite(
    repo: Path,
    suite: str,
    packages: dict[tuple[str, ...], dict[str, str]],
    sources: dict[tuple[str, ...], dict[str, str]],
    archs: Sequence[str],
    key: tuple[Path, bytes],
    now: datetime | None,
    *,
    before_switch: Callable[[], None],
) -> Path:
    """Write, sign and check a new generation of the suite, then switch to it.

    `before_switch` adds the pool files: only once the new index is signed and
    verified, so a bad key leaves the pool as it was, and before any index names them.
    """
    dists = repo / "dists"
    dists.mkdir(parents=True, exist_ok=True)
    link = dists / suite
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} is a directory hardbase did not write; move it away")
    previous = link.resolve() if link.is_symlink() else None
    generation = Path(tempfile.mkdtemp(dir=dists, prefix=f".{suite}."))
    try:
        generation.chmod(0o755)
        listed: list[tuple[str, bytes]] = []
        ordered = sorted(packages.values(), key=_sort_key)
        for arch in archs:
            text = _render([p for p in ordered if p["Architecture"] in (arch, "all")])
            listed += _write_index(generation, f"{COMPONENT}/binary-{arch}", "Packages", text)
        text = _render(sorted(sources.values(), key=_sort_key))
        listed += _write_index(generation, f"{COMPONENT}/source", "Sources", text)
        if previous is not None and previous.is_dir():
            _keep_previous_by_hash(previous, generation)
        date = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        before = _previous_date(previous) if previous is not None else None
        if before is not None and date <= before:
            date = before + timedelta(seconds=1)  # clients refuse an older Date (rollback)
        release = _release_text(suite, date, archs, listed)
        signed = sign_release(release, *key)
        (generation / "Release").write_bytes(release)
        (generation / "InRelease").write_bytes(signed.inrelease)
        (generation / "Release.gpg").write_bytes(signed.release_gpg)
        keyring = generation / ".keyring.gpg"
        keyring.write_bytes(signed.keyring)
        verify_inrelease(signed.inrelease, keyring, url=str(generation / "InRelease"))
        keyring.unlink()
        before_switch()
        temp_link = dists / f".{suite}.link-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            temp_link.unlink()
        temp_link.symlink_to(generation.name)
        os.replace(temp_link, link)  # the switch: readers see the old suite or the new one
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    write_atomic(repo / KEYRING_FILE, signed.keyring)
    # Older generations go; the one just replaced stays for readers of its InRelease.
    keep = {generation.name, previous.name if previous is not None else ""}
    for old in dists.glob(f".{suite}.*"):
        if old.is_dir() and not old.is_symlink() and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    return link / "InRelease"


def _write_index(
    generation: Path, directory: str, name: str, text: bytes
) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    store = generation / directory / "by-hash" / "SHA256"
    store.mkdir(parents=True, exist_ok=True)
    for ext in _INDEX_COMPRESSIONS:
        if ext == ".xz":
            data = lzma.compress(text, preset=6)
        elif ext == ".gz":
            data = gzip.compress(text, mtime=0)
        else:
            data = text
        relative = f"{directory}/{name}{ext}"
        (generation / relative).write_bytes(data)
        by_hash = store / hashlib.sha256(data).hexdigest()
        if not by_hash.exists():
            os.link(generation / relative, by_hash)
        out.append((relative, data))
    return out


def _keep_previous_by_hash(previous: Path, generation: Path) -> None:
    """Link the previous generation's index files into the new by-hash stores."""
    for index in previous.glob(f"{COMPONENT}/*/*"):
        if not index.is_file() or not index.name.startswith(("Packages", "Sources")):
            continue
        store = generation / index.parent.relative_to(previous) / "by-hash" / "SHA256"
        store.mkdir(parents=True, exist_ok=True)
        target = store / file_hash(index)
        if not target.exists():
            os.link(index, target)


def _release_text(
    suite: str, date: datetime, archs: Sequence[str], listed: Sequence[tuple[str, bytes]]
) -> bytes:
    lines = [
        f"Origin: {ORIGIN}",
        f"Label: {ORIGIN}",
        f"Suite: {suite}",
        f"Codename: {suite}",
        # as Debian writes it (and locale-independent, unlike strftime's %a %b)
        f"Date: {format_datetime(date, usegmt=True).removesuffix('GMT')}UTC",
        f"Architectures: {' '.join(archs)}",
        f"Components: {COMPONENT}",
        "Description: packages rebuilt by hardbase with security fixes",
        "Acquire-By-Hash: yes",
        "SHA256:",
    ]
    lines += [f" {hashlib.sha256(d).hexdigest()} {len(d):>10} {p}" for p, d in listed]
    return ("\n".join(lines) + "\n").encode()
