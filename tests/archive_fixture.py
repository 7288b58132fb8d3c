"""The fixture archive: a small, real, signed Debian archive served on 127.0.0.1.

Packages are real .deb files built with `dpkg-deb --build` (or copied from a
mirror), sources real source packages built with `dpkg-source --build`;
`publish()` writes `dists/SUITE/COMPONENT/binary-ARCH/Packages{,.xz,.gz}`,
`dists/SUITE/COMPONENT/source/Sources{,.xz,.gz}` when the suite has sources,
and a Release with MD5Sum and SHA256 lists, clearsigned into InRelease with a
throwaway ed25519 key. The public key is exported to `keyring`, a file gpgv
reads. Publishing can be repeated (say, after adding a newer version to a
`-security` suite); each publish of a suite gets a later Date unless told.

Faults for tests: `tamper_inrelease`, `corrupt_index`, `append_outside_signature`,
`publish(valid_until=<past>)`, `publish(date=<older>)`, `foreign_keyring()`.

    archive = FixtureArchive(tmp_path)
    archive.add_package("libfoo1", "1.0-1", depends="libc6 (>= 2.36)")
    archive.publish("stable")
    Archive([archive.entry("stable")], cache_dir=...).load(["amd64"])
    archive.close()
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import lzma
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from hardbase.debian.model import SourceEntry

DATE_FORMAT = "%a, %d %b %Y %H:%M:%S UTC"


def release_date(when: datetime) -> str:
    """A datetime in the Release file's Date format."""
    return when.astimezone(UTC).strftime(DATE_FORMAT)


@dataclass(frozen=True)
class PublishedDeb:
    """A .deb in the pool, with its control paragraph (without the index fields)."""

    name: str
    version: str
    arch: str
    suite: str
    component: str
    path: Path  # inside the archive root
    control: str


@dataclass(frozen=True)
class PublishedSource:
    """A source package in the pool: its directory, and its Sources paragraph."""

    name: str
    version: str
    suite: str
    component: str
    directory: Path  # inside the archive root
    paragraph: str


class _Signer:
    """A throwaway gpg key in its own GNUPGHOME; `close` stops its agent."""

    def __init__(self, label: str) -> None:
        # A short path: gpg-agent's socket path must stay under ~100 characters.
        self.home = Path(tempfile.mkdtemp(prefix="hbgpg-"))
        os.chmod(self.home, 0o700)
        self._gpg(
            "--passphrase", "", "--quick-gen-key",
            f"hardbase {label} <{label}@hardbase.invalid>", "ed25519", "sign", "never",
        )  # fmt: skip
        listing = self._gpg("--list-keys", "--with-colons").stdout.decode()
        self.fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )

    def _gpg(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "GNUPGHOME": str(self.home)}
        return subprocess.run(
            ["gpg", "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback", *args],
            env=env, input=stdin, capture_output=True, check=True,
        )  # fmt: skip

    def export(self, dest: Path) -> Path:
        dest.write_bytes(self._gpg("--export", self.fingerprint).stdout)
        return dest

    def clearsign(self, text: bytes) -> bytes:
        return self._gpg(
            "--passphrase", "", "--local-user", self.fingerprint, "--digest-algo", "SHA256",
            "--clearsign", stdin=text,
        ).stdout  # fmt: skip

    def close(self) -> None:
        env = {**os.environ, "GNUPGHOME": str(self.home)}
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False,
                       capture_output=True)  # fmt: skip
        shutil.rmtree(self.home, ignore_errors=True)


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FixtureArchive:
    """A signed Debian archive under `workdir`, served over HTTP until `close()`."""

    def __init__(self, workdir: Path, *, origin: str = "hardbase-fixture") -> None:
        self.workdir = Path(workdir)
        self.root = self.workdir / "archive"
        self.root.mkdir(parents=True, exist_ok=True)
        self.origin = origin
        self._debs: list[PublishedDeb] = []
        self._sources: list[PublishedSource] = []
        self._last_date: dict[str, datetime] = {}
        self._signer = _Signer("fixture")
        self._foreign: _Signer | None = None
        self.keyring = self._signer.export(self.workdir / "fixture-keyring.gpg")
        self.requests: list[str] = []  # paths the server was asked for, in order
        handler = type("Handler", (_Handler,), {"requests": self.requests})
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(handler, directory=str(self.root))
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._signer.close()
        if self._foreign is not None:
            self._foreign.close()

    def __enter__(self) -> FixtureArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def entry(
        self, *suites: str, components: Sequence[str] = ("main",), keyring: Path | None = None
    ) -> SourceEntry:
        """A SourceEntry for this archive's `suites` (default: every suite with packages)."""
        return SourceEntry(
            uris=(self.url,),
            suites=tuple(suites) or tuple(dict.fromkeys(d.suite for d in self._debs)),
            components=tuple(components),
            signed_by=keyring or self.keyring,
        )

    # -- packages ------------------------------------------------------------------

    def add_package(
        self,
        name: str,
        version: str,
        arch: str = "amd64",
        *,
        suite: str = "stable",
        component: str = "main",
        depends: str = "",
        pre_depends: str = "",
        provides: str = "",
        source: str | None = None,
        essential: bool = False,
        multi_arch: str | None = None,
        files: Mapping[str, bytes | str] | None = None,
        symlinks: Mapping[str, str] | None = None,
        modes: Mapping[str, int] | None = None,
        compression: str = "xz",
        fields: Mapping[str, str] | None = None,
        control_files: Mapping[str, str] | None = None,
    ) -> PublishedDeb:
        """Build a real .deb with `dpkg-deb --build` and put it in the pool of `suite`.

        `control_files` are more DEBIAN/ files (maintainer scripts, conffiles, triggers).

        `files` maps absolute paths to contents; `compression` is dpkg-deb's -Z
        (xz, zstd, gzip, none). Without files the package holds one file,
        /usr/share/doc/NAME/copyright.
        """
        control = {
            "Package": name,
            "Version": version,
            "Architecture": arch,
            "Maintainer": "hardbase tests <tests@hardbase.invalid>",
        }
        if source:
            control["Source"] = source
        if essential:
            control["Essential"] = "yes"
        if multi_arch:
            control["Multi-Arch"] = multi_arch
        for key, value in (
            ("Pre-Depends", pre_depends), ("Depends", depends), ("Provides", provides)
        ):  # fmt: skip
            if value:
                control[key] = value
        control.update(fields or {})
        control.setdefault("Description", f"{name} for hardbase tests")
        text = "".join(f"{k}: {v}\n" for k, v in control.items())
        if files is None:
            files = {f"/usr/share/doc/{name}/copyright": f"{name} is in the public domain.\n"}
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            stage = Path(tmp) / "stage"
            (stage / "DEBIAN").mkdir(parents=True)
            (stage / "DEBIAN" / "control").write_text(text)
            for path, content in files.items():
                target = stage / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content.encode() if isinstance(content, str) else content)
                target.chmod((modes or {}).get(path, 0o644))
            relative_paths = sorted(p.lstrip("/") for p in files)
            sums = "".join(
                f"{hashlib.md5((stage / p).read_bytes()).hexdigest()}  {p}\n"
                for p in relative_paths
            )
            (stage / "DEBIAN" / "md5sums").write_text(sums)
            for member, content in (control_files or {}).items():
                script = member.endswith(("inst", "rm"))
                (stage / "DEBIAN" / member).write_text(content)
                (stage / "DEBIAN" / member).chmod(0o755 if script else 0o644)
            for path, dest in (symlinks or {}).items():
                target = stage / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(dest)
            built = Path(tmp) / "out.deb"
            subprocess.run(
                ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build",
                 str(stage), str(built)],
                check=True, capture_output=True,
            )  # fmt: skip
            return self._place(built, name, version, arch, suite, component, text, source)

    def add_crafted_package(
        self, name: str, version: str, members: Sequence[Member], **kwargs: Any
    ) -> PublishedDeb:
        """A .deb built by `dpkg-deb --build` whose data.tar is then replaced by `members`.

        dpkg-deb builds its data.tar from a directory, so it cannot make what a
        hostile package holds (a symlink over a directory already listed, `..`
        names, one path twice); `crafted_data_tar` writes those in tar's real
        format, and the ar container keeps dpkg-deb's debian-binary and control.
        """
        deb = self.add_package(name, version, **kwargs)
        path = self.root / deb.path
        from hardbase.debian.deb import read_members

        with open(path, "rb") as fh:
            parts = []
            for member in read_members(path):
                fh.seek(member.offset)
                parts.append((member.name, fh.read(member.size)))
        parts = [p for p in parts if not p[0].startswith("data.tar")]
        write_ar(path, [*parts, ("data.tar.xz", lzma.compress(crafted_data_tar(members)))])
        return deb

    def add_deb(self, deb: Path, *, suite: str = "stable", component: str = "main") -> PublishedDeb:
        """Put an existing .deb (e.g. one downloaded from a mirror) into `suite`."""
        text = subprocess.run(
            ["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True
        ).stdout
        fields = _paragraph(text)
        source = fields.get("Source", "").split(" ")[0] or None
        return self._place(
            deb, fields["Package"], fields["Version"], fields["Architecture"], suite,
            component, text.rstrip("\n") + "\n", source,
        )  # fmt: skip

    def _place(
        self,
        built: Path,
        name: str,
        version: str,
        arch: str,
        suite: str,
        component: str,
        control: str,
        source: str | None,
    ) -> PublishedDeb:
        src = source or name
        prefix = src[:4] if src.startswith("lib") else src[:1]
        plain_version = version.partition(":")[2] or version
        relative = Path("pool", component, prefix, src, f"{name}_{plain_version}_{arch}.deb")
        (self.root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, self.root / relative)
        deb = PublishedDeb(name, version, arch, suite, component, relative, control)
        self._debs = [
            d for d in self._debs
            if (d.name, d.version, d.arch, d.suite) != (name, version, arch, suite)
        ] + [deb]  # fmt: skip
        return deb

    def add_source(
        self,
        name: str,
        version: str,
        changelog: str,
        *,
        suite: str = "stable",
        component: str = "main",
        binaries: Sequence[str] = (),
        files: Mapping[str, bytes | str] | None = None,
        rules: str | None = None,
        source_fields: Mapping[str, str] | None = None,
    ) -> PublishedSource:
        """Build a real source package with `dpkg-source --build` and put it in the pool.

        A version with a Debian revision (`1.0-1`) gives a `3.0 (quilt)` source (an
        .orig.tar.gz and a .debian.tar.xz holding `debian/changelog`), one without it a
        `3.0 (native)` source (one .tar.xz). `files` are extra files of the tree. A later
        revision of the same upstream version reuses the pool's orig tarball, and what
        its `files` change becomes a patch in debian/patches, applied by `dpkg-source -x`.
        `rules` replaces the default debian/rules (`dh $@`); `source_fields` are more
        fields of debian/control's source stanza (`Build-Depends`, `Rules-Requires-Root`).
        """
        upstream = (version.partition(":")[2] or version).rpartition("-")
        native = not upstream[1]
        upstream_version = upstream[2] if native else upstream[0]
        fmt = "3.0 (native)" if native else "3.0 (quilt)"
        extra = "".join(f"{k}: {v}\n" for k, v in (source_fields or {}).items())
        control = (
            f"Source: {name}\nMaintainer: hardbase tests <tests@hardbase.invalid>\n{extra}\n"
            + "".join(
                f"Package: {b}\nArchitecture: any\nDescription: {b} for hardbase tests\n\n"
                for b in binaries or (name,)
            )
        )
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            tree = Path(tmp) / f"{name}-{upstream_version}"
            (tree / "debian" / "source").mkdir(parents=True)
            for path, content in {
                "README": f"{name} for hardbase tests\n",
                **(files or {}),
            }.items():
                target = tree / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content.encode() if isinstance(content, str) else content)
            prefix = name[:4] if name.startswith("lib") else name[:1]
            directory = Path("pool", component, prefix, name)
            orig = self.root / directory / f"{name}_{upstream_version}.orig.tar.gz"
            if not native and orig.is_file():
                # Debian reuses one orig tarball for every revision; a tree that
                # differs from it gets a debian/patches entry (--auto-commit).
                shutil.copyfile(orig, Path(tmp) / orig.name)
            elif not native:
                subprocess.run(
                    ["tar", "--exclude=debian", "-czf",
                     str(Path(tmp) / f"{name}_{upstream_version}.orig.tar.gz"),
                     "-C", tmp, tree.name],
                    check=True, capture_output=True,
                )  # fmt: skip
            (tree / "debian" / "changelog").write_text(changelog)
            (tree / "debian" / "control").write_text(control.rstrip("\n") + "\n")
            (tree / "debian" / "source" / "format").write_text(fmt + "\n")
            (tree / "debian" / "rules").write_text(rules or "#!/usr/bin/make -f\n%:\n\tdh $@\n")
            (tree / "debian" / "rules").chmod(0o755)
            subprocess.run(
                ["dpkg-source", "--auto-commit", "--build", tree.name],
                cwd=tmp, check=True, capture_output=True,
            )  # fmt: skip
            (self.root / directory).mkdir(parents=True, exist_ok=True)
            dsc = next(Path(tmp).glob("*.dsc"))
            fields = _paragraph(dsc.read_text())
            listed = [dsc.name] + [
                line.split()[2] for line in fields["Checksums-Sha256"].strip().splitlines()
            ]
            for file in listed:
                shutil.copyfile(Path(tmp) / file, self.root / directory / file)
        sums = "".join(
            f" {hashlib.sha256((self.root / directory / f).read_bytes()).hexdigest()} "
            f"{(self.root / directory / f).stat().st_size} {f}\n"
            for f in listed
        )
        paragraph = (
            f"Package: {name}\nBinary: {', '.join(binaries or (name,))}\nVersion: {version}\n"
            f"Format: {fmt}\nDirectory: {directory.as_posix()}\nChecksums-Sha256:\n{sums}"
        )
        published = PublishedSource(name, version, suite, component, directory, paragraph)
        self._sources = [
            s for s in self._sources if (s.name, s.version, s.suite) != (name, version, suite)
        ] + [published]
        return published

    def sources(self, suite: str | None = None) -> list[PublishedSource]:
        return [s for s in self._sources if suite in (None, s.suite)]

    def remove_package(self, name: str, *, suite: str, version: str | None = None) -> None:
        """Drop `name` (one version or all) from `suite`'s next publish."""
        self._debs = [
            d for d in self._debs
            if not (d.name == name and d.suite == suite and version in (None, d.version))
        ]  # fmt: skip

    def debs(self, suite: str | None = None) -> list[PublishedDeb]:
        return [d for d in self._debs if suite in (None, d.suite)]

    def path_of(self, deb: PublishedDeb) -> Path:
        return self.root / deb.path

    # -- publishing ----------------------------------------------------------------

    def publish(
        self,
        suite: str = "stable",
        *,
        codename: str | None = None,
        date: datetime | None = None,
        valid_until: datetime | None = None,
        archs: Sequence[str] = ("amd64",),
        components: Sequence[str] = ("main",),
        compressions: Iterable[str] = ("", ".xz", ".gz"),
        by_hash: bool = False,
    ) -> Path:
        """Write the indexes and a signed InRelease for `suite`; return the InRelease path."""
        dists = self.root / "dists" / suite
        listed: list[tuple[str, bytes]] = []
        compressions = tuple(compressions)
        for component in components:
            for arch in archs:
                paragraphs = [
                    self._paragraph(d) for d in self._debs
                    if d.suite == suite and d.component == component and d.arch in (arch, "all")
                ]  # fmt: skip
                text = "\n".join(paragraphs).encode()
                directory = f"{component}/binary-{arch}"
                for relative, data in _index_files(dists, directory, "Packages", text,
                                                   compressions):  # fmt: skip
                    listed.append((relative, data))
                    if by_hash:
                        store = dists / directory / "by-hash" / "SHA256"
                        store.mkdir(parents=True, exist_ok=True)
                        (store / hashlib.sha256(data).hexdigest()).write_bytes(data)
            sources = [
                s.paragraph for s in self._sources if s.suite == suite and s.component == component
            ]
            if sources:
                text = "\n".join(sources).encode()
                listed += _index_files(dists, f"{component}/source", "Sources", text, compressions)
        if date is None:
            date = datetime.now(UTC).replace(microsecond=0)
            previous = self._last_date.get(suite)
            if previous is not None and date <= previous:
                date = previous + timedelta(seconds=1)
        self._last_date[suite] = max(date, self._last_date.get(suite, date))
        lines = [
            f"Origin: {self.origin}",
            f"Label: {self.origin}",
            f"Suite: {suite}",
            f"Codename: {codename or suite}",
            f"Date: {release_date(date)}",
        ]
        if valid_until is not None:
            lines.append(f"Valid-Until: {release_date(valid_until)}")
        lines += [
            f"Architectures: {' '.join(archs)}",
            f"Components: {' '.join(components)}",
        ]
        if by_hash:
            lines.append("Acquire-By-Hash: yes")
        lines.append("MD5Sum:")
        lines += [f" {hashlib.md5(d).hexdigest()} {len(d):8d} {p}" for p, d in listed]
        lines.append("SHA256:")
        lines += [f" {hashlib.sha256(d).hexdigest()} {len(d):8d} {p}" for p, d in listed]
        release = ("\n".join(lines) + "\n").encode()
        (dists / "Release").write_bytes(release)
        inrelease = dists / "InRelease"
        inrelease.write_bytes(self._signer.clearsign(release))
        return inrelease

    def _paragraph(self, deb: PublishedDeb) -> str:
        data = (self.root / deb.path).read_bytes()
        return (
            deb.control
            + f"Filename: {deb.path.as_posix()}\n"
            + f"Size: {len(data)}\n"
            + f"MD5sum: {hashlib.md5(data).hexdigest()}\n"
            + f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
        )

    # -- faults --------------------------------------------------------------------

    def inrelease(self, suite: str) -> Path:
        return self.root / "dists" / suite / "InRelease"

    def tamper_inrelease(self, suite: str, old: str = "Label: ", new: str = "Label: x") -> None:
        """Change the signed text of `suite`'s InRelease after signing."""
        path = self.inrelease(suite)
        text = path.read_text()
        if old not in text:
            raise ValueError(f"{old!r} is not in {path}")
        path.write_text(text.replace(old, new, 1))

    def append_outside_signature(self, suite: str, text: str) -> None:
        """Add unsigned text after the signature block of `suite`'s InRelease."""
        with open(self.inrelease(suite), "a") as fh:
            fh.write(text)

    def corrupt_index(
        self, suite: str, component: str = "main", arch: str = "amd64", ext: str = ".xz"
    ) -> Path:
        """Flip one byte of a published Packages file (same size, different hash)."""
        path = self.root / "dists" / suite / component / f"binary-{arch}" / f"Packages{ext}"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return path

    def foreign_keyring(self) -> Path:
        """The public keyring of another key, which did not sign this archive."""
        if self._foreign is None:
            self._foreign = _Signer("stranger")
        return self._foreign.export(self.workdir / "foreign-keyring.gpg")


def _index_files(
    dists: Path, directory: str, name: str, text: bytes, compressions: Sequence[str]
) -> list[tuple[str, bytes]]:
    """Write one index in each compression; (path in dists, bytes) of each."""
    written: list[tuple[str, bytes]] = []
    for ext in compressions:
        data = {"": text, ".xz": lzma.compress(text), ".gz": gzip.compress(text)}[ext]
        relative = f"{directory}/{name}{ext}"
        (dists / relative).parent.mkdir(parents=True, exist_ok=True)
        (dists / relative).write_bytes(data)
        written.append((relative, data))
    return written


def _paragraph(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


# One member of a crafted data.tar: (name, kind, argument), kind one of "dir",
# "file" (argument: the content), "symlink" / "hardlink" (argument: the target),
# "chr", "fifo".
Member = tuple[str, str, "bytes | str"]


def crafted_data_tar(members: Sequence[Member]) -> bytes:
    """A GNU-format tar of exactly `members`, in order, as a hostile package would ship."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.mode = 0o755 if kind == "dir" else 0o644
            data = b""
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "file":
                data = arg.encode() if isinstance(arg, str) else arg
                info.size = len(data)
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = arg.decode() if isinstance(arg, bytes) else arg
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            else:
                raise ValueError(f"unknown member kind {kind!r}")
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return buf.getvalue()


def write_ar(
    path: Path, members: Sequence[tuple[str, bytes]], *, magic: bytes = b"!<arch>\n"
) -> Path:
    """Write an ar archive by hand, for crafting valid and hostile .deb files."""
    out = bytearray(magic)
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
        out += header + data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))
    return path
