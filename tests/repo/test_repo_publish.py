"""hardbase's own archive: keygen, publish, serve, read by hardbase's archive client and apt.

The .debs and source packages are real (dpkg-deb and dpkg-source, through
tests/archive_fixture.py); they are fixtures, not Debian's. gpgv and apt-get check
what `repo publish` signs.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import build_deb, build_dsc

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from hardbase.debian.archive import Archive
from hardbase.debian.model import SourceEntry
from hardbase.repo.keys import ArchiveKey, write_archive_key
from hardbase.repo.publish import LOCK_FILE, PublishError, RepoBusy, publish, repo_lock
from hardbase.repo.serve import RepoServer
from hardbase.source.fetch import fetch_source


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> ArchiveKey:
    return write_archive_key(tmp_path_factory.mktemp("key") / "archive", unencrypted=True)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "fixture") as archive:
        yield archive


def entry(server: RepoServer, key: ArchiveKey) -> SourceEntry:
    return SourceEntry((server.url,), ("trixie-hardbase",), ("main",), key.public)


def test_keygen_writes_a_0600_secret_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "k"
    assert main(["repo", "keygen", str(prefix), "--no-password"]) == 0
    secret, public, fingerprint = capsys.readouterr().out.split()
    assert (secret, public) == (f"{prefix}.key", f"{prefix}.gpg")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert Path(secret).read_bytes().startswith(b"-----BEGIN PGP PRIVATE KEY BLOCK-----")
    assert len(fingerprint) == 40
    listed = subprocess.run(
        ["gpg", "--show-keys", "--with-colons", public], capture_output=True, text=True, check=True
    ).stdout
    assert f":{fingerprint}:" in listed
    before = Path(secret).read_bytes(), Path(public).read_bytes()
    assert main(["repo", "keygen", str(prefix), "--no-password"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "never overwrites" in err
    assert (Path(secret).read_bytes(), Path(public).read_bytes()) == before


def test_published_suite_reads_back_with_gpgv_and_the_archive_client(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    deb = build_deb(archive, "libhello1", "1.0-1+deb13u0+hb1", source="hello")
    dsc = build_dsc(archive, "hello", "1.0-1+deb13u0+hb1")
    code = main(["repo", "publish", str(repo), "--release", "trixie", "--key", str(key.secret),
                 str(deb), str(dsc)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "libhello1 1.0-1+deb13u0+hb1 amd64 -> "
        "pool/main/h/hello/libhello1_1.0-1+deb13u0+hb1_amd64.deb"
    )
    inrelease = repo / "dists" / "trixie-hardbase" / "InRelease"
    subprocess.run(["gpgv", "--keyring", str(key.public), str(inrelease)], check=True,
                   capture_output=True)  # fmt: skip
    with RepoServer(repo) as server:
        index, releases = Archive([entry(server, key)], cache_dir=tmp_path / "c").load(["amd64"])
        (pkg,) = index.candidates("libhello1", "amd64")
        assert (pkg.version, pkg.source, pkg.suite) == ("1.0-1+deb13u0+hb1", "hello",
                                                        "trixie-hardbase")  # fmt: skip
        assert releases[0].codename == "trixie-hardbase"
        # and `source fetch` reads hardbase's own Sources like Debian's
        fetched = fetch_source("hello", tmp_path / "src", entries=[entry(server, key)],
                               cache_dir=tmp_path / "c")  # fmt: skip
        assert fetched.version == "1.0-1+deb13u0+hb1"
        assert (fetched.tree / "debian" / "changelog").is_file()


def test_republish_keeps_versions_and_refuses_a_changed_package(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    first = build_deb(archive, "hello", "1.0-1+hb1")
    publish(repo, "trixie", [first], key.secret)
    second = build_deb(archive, "hello", "1.0-1+hb2")
    result = publish(repo, "trixie", [second, first], key.secret)  # the same file again is fine
    assert result.binaries == 2
    packages = (repo / "dists/trixie-hardbase/main/binary-amd64/Packages").read_text()
    assert "Version: 1.0-1+hb1" in packages and "Version: 1.0-1+hb2" in packages
    # the same name, version and arch with other content: refused, nothing changed
    inrelease = (repo / "dists/trixie-hardbase/InRelease").read_bytes()
    published = second.read_bytes()
    other = build_deb(archive, "hello", "1.0-1+hb2", files={"/usr/bin/hello": b"other"})
    assert other.read_bytes() != published
    code = main(["repo", "publish", str(repo), "--release", "trixie", "--key", str(key.secret),
                 str(other)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "new +hb revision" in err
    assert (repo / "dists/trixie-hardbase/InRelease").read_bytes() == inrelease
    assert (repo / "pool/main/h/hello/hello_1.0-1+hb2_amd64.deb").read_bytes() == published


@pytest.mark.parametrize("case", ["missing", "not-a-key"])
def test_a_missing_or_bad_archive_key_is_exit_2_and_nothing_written(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    repo = tmp_path / "repo"
    keyfile = tmp_path / "nokey.key"
    if case == "not-a-key":
        keyfile.write_text("not a key\n")
    deb = build_deb(archive, "hello", "1.0-1+hb1")
    code = main(["repo", "publish", str(repo), "--release", "trixie", "--key", str(keyfile),
                 str(deb)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(keyfile) in err
    assert not (repo / "dists" / "trixie-hardbase").exists()
    assert not (repo / "pool").exists()
    if (repo / "dists").exists():
        assert not list((repo / "dists").iterdir())


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("notes.txt", b"x", "is not a .deb, .dsc or .changes file"),
        ("broken.deb", b"!<arch>\nnot really", "is not a readable .deb"),
        ("absent.deb", None, "does not exist"),
    ],
)
def test_bad_input_files_are_refused(
    tmp_path: Path, key: ArchiveKey, capsys: pytest.CaptureFixture[str],
    name: str, content: bytes | None, says: str,
) -> None:  # fmt: skip
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    repo = tmp_path / "repo"
    code = main(["repo", "publish", str(repo), "--release", "trixie", "--key", str(key.secret),
                 str(path)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err
    assert not (repo / "dists").exists() and not (repo / "pool").exists()


def test_a_dsc_whose_tarball_does_not_match_is_refused(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey
) -> None:
    dsc = build_dsc(archive, "hello", "1.0-1+hb1")
    tarball = next(dsc.parent.glob("hello_1.0.orig.tar.gz"))
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    with pytest.raises(PublishError, match="does not match the size and SHA256"):
        publish(tmp_path / "repo", "trixie", [dsc], key.secret)
    assert not (tmp_path / "repo" / "pool").exists()


def test_a_concurrent_publisher_is_refused(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    deb = build_deb(archive, "hello", "1.0-1+hb1")
    publish(repo, "trixie", [deb], key.secret)
    inrelease = (repo / "dists/trixie-hardbase/InRelease").read_bytes()
    # another process holds the writer lock, as a running publish does
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from hardbase.repo.publish import repo_lock\n"
         "with repo_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(repo)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        newer = build_deb(archive, "hello", "1.0-1+hb2")
        code = main(["repo", "publish", str(repo), "--release", "trixie", "--key",
                     str(key.secret), str(newer)])  # fmt: skip
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "another process is publishing" in err
        assert LOCK_FILE in err
        with pytest.raises(RepoBusy), repo_lock(repo):
            pass
        assert (repo / "dists/trixie-hardbase/InRelease").read_bytes() == inrelease
        assert not (repo / "pool/main/h/hello/hello_1.0-1+hb2_amd64.deb").exists()
    finally:
        holder.kill()
        holder.wait()
    publish(repo, "trixie", [newer], key.secret)  # the lock is free again


def test_readers_never_see_a_half_written_suite(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey
) -> None:
    repo = tmp_path / "repo"
    publish(repo, "trixie", [build_deb(archive, "hello", "1.0-1+hb1")], key.secret)
    debs = [build_deb(archive, f"pkg{i}", "1.0-1+hb1") for i in range(4)]
    errors: list[BaseException] = []
    seen: set[int] = set()
    done = threading.Event()

    def read() -> None:
        cache = tmp_path / "reader"
        while not done.is_set():
            try:
                index, _ = Archive([entry(server, key)], cache_dir=cache).load(["amd64"])
                seen.add(len(index))
            except BaseException as exc:  # every read must verify, whatever the moment
                errors.append(exc)
                return

    with RepoServer(repo) as server:
        reader = threading.Thread(target=read)
        reader.start()
        try:
            for deb in debs:
                publish(repo, "trixie", [deb], key.secret)
                time.sleep(0.05)
        finally:
            done.set()
            reader.join(timeout=60)
    assert not errors, errors
    assert len(seen) >= 2  # the reader saw the suite change under it
    assert len(list((repo / "dists").glob(".trixie-hardbase.*"))) == 2  # current and previous


def test_serve_refuses_hidden_files_and_listings(tmp_path: Path, archive: FixtureArchive,
                                                 key: ArchiveKey) -> None:  # fmt: skip
    repo = tmp_path / "repo"
    publish(repo, "trixie", [build_deb(archive, "hello", "1.0-1+hb1")], key.secret)
    (tmp_path / "secret").write_text("outside")
    (repo / "pool" / "escape").symlink_to(tmp_path / "secret")
    with RepoServer(repo) as server:
        ok = urllib.request.urlopen(server.url + "dists/trixie-hardbase/InRelease", timeout=10)
        assert ok.status == 200 and b"BEGIN PGP SIGNED MESSAGE" in ok.read()
        for path in (LOCK_FILE, "pool/", "pool/escape", "dists/.trixie-hardbase.x/Release",
                     "../secret"):  # fmt: skip
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(server.url + path, timeout=10)
            assert caught.value.code == 404, path


def test_apt_get_reads_the_archive(tmp_path: Path, archive: FixtureArchive,
                                   key: ArchiveKey) -> None:  # fmt: skip
    repo = tmp_path / "repo"
    deb = build_deb(archive, "hello", "1.0-1+hb1")
    dsc = build_dsc(archive, "hello", "1.0-1+hb1")
    publish(repo, "trixie", [deb, dsc], key.secret)
    root = tmp_path / "apt"
    for d in ("state/lists/partial", "cache/archives/partial", "etc/preferences.d",
              "etc/apt.conf.d", "dl"):  # fmt: skip
        (root / d).mkdir(parents=True)
    (root / "status").write_text("")
    with RepoServer(repo) as server:
        (root / "etc/sources.list").write_text(
            f"deb [signed-by={key.public}] {server.url} trixie-hardbase main\n"
            f"deb-src [signed-by={key.public}] {server.url} trixie-hardbase main\n"
        )
        options = [
            "-o", f"Dir::Etc={root / 'etc'}",
            "-o", f"Dir::Etc::SourceList={root / 'etc/sources.list'}",
            "-o", "Dir::Etc::SourceParts=/nonexistent", "-o", f"Dir::State={root / 'state'}",
            "-o", f"Dir::State::status={root / 'status'}", "-o", f"Dir::Cache={root / 'cache'}",
            "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
            "-o", "APT::Architecture=amd64", "-o", "APT::Architectures=amd64",
        ]  # fmt: skip
        update = subprocess.run(["apt-get", *options, "update"], capture_output=True, text=True)
        assert update.returncode == 0 and "W:" not in update.stdout + update.stderr, update
        for command in (["download", "hello"], ["source", "--download-only", "hello"]):
            run = subprocess.run(["apt-get", *options, *command], cwd=root / "dl",
                                 capture_output=True, text=True)  # fmt: skip
            assert run.returncode == 0, run
    assert (root / "dl" / "hello_1.0-1+hb1_amd64.deb").read_bytes() == deb.read_bytes()
    assert (root / "dl" / dsc.name).read_bytes() == dsc.read_bytes()


def test_a_bad_release_name_is_refused(tmp_path: Path, key: ArchiveKey,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    deb = tmp_path / "x.deb"
    deb.write_bytes(b"x")
    code = main(["repo", "publish", str(tmp_path / "repo"), "--release", "../etc", "--key",
                 str(key.secret), str(deb)])  # fmt: skip
    assert code == 2 and "is not a Debian codename" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()


def test_repo_serve_command_serves_until_stopped(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey
) -> None:
    repo = tmp_path / "repo"
    publish(repo, "trixie", [build_deb(archive, "hello", "1.0-1+hb1")], key.secret)
    server = subprocess.Popen(
        [sys.executable, "-m", "hardbase", "repo", "serve", str(repo), "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(f"serving {repo} at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        body = urllib.request.urlopen(url + "dists/trixie-hardbase/InRelease", timeout=10).read()
        assert body == (repo / "dists/trixie-hardbase/InRelease").read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert main(["repo", "serve", str(tmp_path / "absent")]) == 2


def _changes(
    directory: Path, files: list[Path], name: str = "hello_1.0-1+hb1_amd64.changes"
) -> Path:
    """A .changes in dpkg-genchanges' format listing `files` (written here: a fixture)."""
    import hashlib

    sums = "".join(
        f" {hashlib.sha256(f.read_bytes()).hexdigest()} {f.stat().st_size} {f.name}\n"
        for f in files
    )
    changes = directory / name
    changes.write_text(
        "Format: 1.8\nSource: hello\nBinary: hello\nArchitecture: source amd64\n"
        "Version: 1.0-1+hb1\nDistribution: trixie-hardbase\n"
        f"Checksums-Sha256:\n{sums}"
    )
    return changes


def test_a_changes_file_publishes_what_it_lists(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey
) -> None:
    import shutil

    dsc = build_dsc(archive, "hello", "1.0-1+hb1")
    upload = tmp_path / "upload"
    upload.mkdir()
    listed = [build_deb(archive, "hello", "1.0-1+hb1", source="hello"), dsc,
              *[p for p in dsc.parent.iterdir() if p.name.startswith("hello_1.0")
                and not p.name.endswith((".dsc", ".deb"))]]  # fmt: skip
    for path in listed:
        shutil.copyfile(path, upload / path.name)
    changes = _changes(upload, [upload / p.name for p in listed])
    result = publish(tmp_path / "repo", "trixie", [changes], key.secret)
    assert sorted((p.kind, p.name) for p in result.added) == [("deb", "hello"), ("dsc", "hello")]
    sources = (tmp_path / "repo/dists/trixie-hardbase/main/source/Sources").read_text()
    assert "Package: hello\n" in sources and "hello_1.0.orig.tar.gz" in sources
    # a listed file that does not match: refused before anything is written
    (upload / "hello_1.0.orig.tar.gz").write_bytes(b"changed")
    with pytest.raises(PublishError, match="does not match the size and SHA256"):
        publish(tmp_path / "repo2", "trixie", [changes], key.secret)
    assert not (tmp_path / "repo2" / "pool").exists()


def test_a_protected_key_signs_only_with_its_passphrase(
    tmp_path: Path, archive: FixtureArchive, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    prefix = tmp_path / "k"
    monkeypatch.delenv("HARDBASE_ARCHIVE_KEY_PASSWORD", raising=False)
    assert main(["repo", "keygen", str(prefix)]) == 2  # neither a passphrase nor --no-password
    assert "HARDBASE_ARCHIVE_KEY_PASSWORD" in capsys.readouterr().err
    assert not list(tmp_path.glob("k.*"))
    monkeypatch.setenv("HARDBASE_ARCHIVE_KEY_PASSWORD", "correct horse")
    assert main(["repo", "keygen", str(prefix)]) == 0
    packets = subprocess.run(
        ["gpg", "--list-packets"], input=Path(f"{prefix}.key").read_bytes(),
        capture_output=True, check=False,
    ).stdout.decode()  # fmt: skip
    assert "protected" in packets and "gnu-dummy" not in packets
    deb = build_deb(archive, "hello", "1.0-1+hb1")
    repo = tmp_path / "repo"
    publish_args = ["repo", "publish", str(repo), "--release", "trixie", "--key",
                    f"{prefix}.key", str(deb)]  # fmt: skip
    monkeypatch.setenv("HARDBASE_ARCHIVE_KEY_PASSWORD", "wrong")
    capsys.readouterr()
    assert main(publish_args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot sign" in err
    assert not (repo / "pool").exists() and not (repo / "dists" / "trixie-hardbase").exists()
    monkeypatch.setenv("HARDBASE_ARCHIVE_KEY_PASSWORD", "correct horse")
    assert main(publish_args) == 0
    subprocess.run(["gpgv", "--keyring", f"{prefix}.gpg",
                    str(repo / "dists/trixie-hardbase/InRelease")], check=True,
                   capture_output=True)  # fmt: skip


def test_attachments_go_beside_the_source_signed_and_a_bad_name_is_refused(
    tmp_path: Path, archive: FixtureArchive, key: ArchiveKey
) -> None:
    from hardbase.repo.keys import sign_release

    dsc = build_dsc(archive, "hello", "1.0-1+hb1")
    provenance = tmp_path / "hello_1.0-1+hb1.provenance.json"
    provenance.write_text('{"fixture": "not a real provenance"}\n')
    signature = tmp_path / (provenance.name + ".asc")
    signature.write_bytes(sign_release(provenance.read_bytes(), key.secret).release_gpg)
    publish(tmp_path / "repo", "trixie", [dsc], key.secret, attachments=[provenance, signature])
    pool = tmp_path / "repo" / "pool" / "main" / "h" / "hello"
    assert (pool / provenance.name).read_bytes() == provenance.read_bytes()
    args = [str(pool / signature.name), str(pool / provenance.name)]
    gpgv = subprocess.run(
        ["gpgv", "--keyring", str(key.public), *args], capture_output=True, check=False
    )
    assert gpgv.returncode == 0, gpgv.stderr
    sources = tmp_path / "repo" / "dists" / "trixie-hardbase" / "main" / "source" / "Sources"
    assert "provenance" not in sources.read_text()
    bad = tmp_path / "no-underscore.json"
    bad.write_text("{}\n")
    with pytest.raises(PublishError, match="is not a file named <source>_<version>"):
        publish(tmp_path / "repo2", "trixie", [dsc], key.secret, attachments=[bad])
    assert not (tmp_path / "repo2" / "pool").exists()
