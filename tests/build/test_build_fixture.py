"""Builds from the fixture archive (real signed archive format, real .debs), offline.

Covers the whole pipeline and every bad input the build must refuse with exit 2,
one sentence on stderr, and no output left behind.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from isal import igzip

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from schema_check import check as check_schema

SUITE = "stable"


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    arch = FixtureArchive(tmp_path / "fixture")
    arch.add_package(
        "libhello1",
        "1.0-1",
        files={"usr/lib/x86_64-linux-gnu/libhello.so.1": b"ELF"},
        fields={"Replaces": "hello-old"},
    )
    arch.add_package(
        "hello",
        "2.0-1",
        depends="libhello1 (>= 1.0), awk | mawk",
        files={
            "usr/bin/hello": b"#!hello\n",
            "usr/share/doc/hello/copyright": "Format: x\n",
            "usr/share/doc/hello/changelog.Debian.gz": b"x",
            "usr/share/man/man1/hello.1.gz": b"man",
        },
        modes={"usr/bin/hello": 0o755},
    )
    arch.add_package("mawk", "1.3-1", provides="awk", files={"usr/bin/mawk": b"awk"})
    arch.add_package("legacy", "1.0-1", files={"bin/legacy": b"old"})
    arch.publish(SUITE)
    try:
        yield arch
    finally:
        arch.close()


def write_spec(tmp: Path, archive: FixtureArchive, **extra: object) -> Path:
    data: dict[str, object] = {
        "name": "hello",
        "packages": ["hello", "legacy"],
        "sources": [{"uris": [archive.url], "suites": [SUITE], "signed-by": str(archive.keyring)}],
        "entrypoint": ["/usr/bin/hello"],
    }
    data.update(extra)
    spec = tmp / "hello.yaml"
    spec.write_text(yaml.safe_dump(data))
    return spec


def layer_members(layout: Path) -> dict[str, tarfile.TarInfo]:
    index = json.loads((layout / "index.json").read_text())
    img = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    manifest = json.loads((layout / "blobs/sha256" / img["manifests"][0]["digest"][7:]).read_text())
    members: dict[str, tarfile.TarInfo] = {}
    for layer in manifest["layers"]:
        data = igzip.decompress((layout / "blobs/sha256" / layer["digest"][7:]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                members[m.name] = m
    return members


def test_build_from_fixture_archive(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, archive)
    assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out")]) == 0
    digest = capsys.readouterr().out.strip().splitlines()[-1]
    assert digest.startswith("sha256:")
    lock = json.loads((tmp_path / "hello.lock.json").read_text())
    check_schema("lock", lock)
    names = [p["name"] for p in lock["archs"]["amd64"]["packages"]]
    assert sorted(names) == ["hello", "legacy", "libhello1", "mawk"]
    members = layer_members(tmp_path / "out")
    assert "usr/bin/hello" in members and members["usr/bin/hello"].mode == 0o755
    assert "usr/bin/legacy" in members  # merged /usr: ./bin/legacy lands in usr/bin
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert "usr/share/doc/hello/copyright" in members
    assert "usr/share/doc/hello/changelog.Debian.gz" not in members
    assert "usr/share/man/man1/hello.1.gz" not in members
    assert "var/lib/dpkg/status.d/hello" in members
    assert "var/lib/dpkg/status.d/hello.md5sums" in members
    assert members["tmp"].mode == 0o1777
    assert all(m.uname == "" for m in members.values())

    # the warm build gives the same digest and does not touch the archive
    before = len(archive.requests)
    assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out2")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == digest
    assert len(archive.requests) == before


def test_peers_read_the_layout(tmp_path: Path, archive: FixtureArchive) -> None:
    from peers import skopeo_config

    spec = write_spec(tmp_path, archive, user="nonroot", env={"A": "1"})
    assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out")]) == 0
    config = skopeo_config(f"oci:{tmp_path / 'out'}:latest")
    assert config["config"]["User"] == "65532:65532"  # type: ignore[index]
    assert "A=1" in config["config"]["Env"]  # type: ignore[index]


def test_archive_formats_read_back(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    from hardbase.oci.transports.open import open_source

    spec = write_spec(tmp_path, archive)
    assert (
        main(
            [
                "-q",
                "build",
                str(spec),
                "-o",
                str(tmp_path / "img.tar"),
                "-f",
                "oci-archive",
                "-t",
                "v1",
            ]
        )
        == 0
    )
    digest = capsys.readouterr().out.strip()
    with open_source(f"oci-archive:{tmp_path / 'img.tar'}:v1") as src:
        assert src.top().digest == digest
    assert (
        main(["-q", "build", str(spec), "-o", str(tmp_path / "d.tar"), "-f", "docker-archive"]) == 0
    )
    with open_source(f"docker-archive:{tmp_path / 'd.tar'}") as src:
        image = src.resolve()
        assert image.config["config"]["Entrypoint"] == ["/usr/bin/hello"]


def test_source_date_epoch_clamps_and_sets_created(
    tmp_path: Path, archive: FixtureArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")
    spec = write_spec(tmp_path, archive)
    assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out")]) == 0
    assert max(m.mtime for m in layer_members(tmp_path / "out").values()) <= 1000


def test_files_section(tmp_path: Path, archive: FixtureArchive) -> None:
    (tmp_path / "app.conf").write_text("x=1\n")
    spec = write_spec(
        tmp_path,
        archive,
        files=[
            {"dst": "/etc/app.conf", "src": "app.conf", "mode": "0600", "owner": "65532:65532"},
            {"dst": "/var/app", "type": "dir", "mode": "0750"},
            {"dst": "/usr/bin/hi", "type": "symlink", "target": "hello"},
        ],
    )
    assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out")]) == 0
    members = layer_members(tmp_path / "out")
    assert members["etc/app.conf"].mode == 0o600 and members["etc/app.conf"].uid == 65532
    assert members["var/app"].isdir() and members["var/app"].mode == 0o750
    assert members["usr/bin/hi"].linkname == "hello"


def bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: Path, *extra: str) -> str:
    out = tmp_path / "out"
    code = main(["-q", "build", str(spec), "--output", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("hardbase: error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    return err


def test_unknown_package(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    err = bad(tmp_path, capsys, write_spec(tmp_path, archive, packages=["nosuch"]))
    assert "unknown package 'nosuch':" in err and "did you mean" not in err


def test_unknown_package_names_a_close_one_and_every_suite_searched(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    archive.add_package("armonly", "1.0-1", "arm64", suite="stable-security")
    archive.publish("stable-security")  # searched, but it has nothing for amd64
    sources = [
        {"uris": [archive.url], "suites": [SUITE, "stable-security"],
         "signed-by": str(archive.keyring)}
    ]  # fmt: skip
    err = bad(tmp_path, capsys, write_spec(tmp_path, archive, packages=["helo"], sources=sources))
    assert "unknown package 'helo' (did you mean 'hello'?)" in err
    assert f"stable/main ({archive.url.rstrip('/')}/dists/stable)" in err
    assert f"stable-security/main ({archive.url.rstrip('/')}/dists/stable-security)" in err


def test_unsatisfiable_dependency_names_the_chain(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    archive.add_package("app", "1.0", depends="hello (>= 9)")
    archive.publish(SUITE)
    err = bad(tmp_path, capsys, write_spec(tmp_path, archive, packages=["app"]))
    assert "hello (>= 9)" in err and "app" in err


def test_tampered_inrelease(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    archive.tamper_inrelease(SUITE)
    err = bad(tmp_path, capsys, write_spec(tmp_path, archive))
    assert "signature" in err.lower()


def test_deb_with_wrong_sha256(
    tmp_path: Path,
    archive: FixtureArchive,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an own cache: the session cache may already hold the good `hello` under the
    # locked sha256 (content-addressed), and a verified cache hit never refetches
    monkeypatch.setenv("HARDBASE_CACHE", str(tmp_path / "cache"))
    spec = write_spec(tmp_path, archive)
    assert main(["-q", "lock", str(spec)]) == 0
    capsys.readouterr()
    deb = next(d for d in archive.debs(SUITE) if d.name == "hello")
    path = archive.path_of(deb)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")  # same size, other content
    err = bad(tmp_path, capsys, spec)
    assert "sha256" in err and "hello" in err


def test_unreachable_mirror(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, archive)
    data = yaml.safe_load(spec.read_text())
    data["sources"][0]["uris"] = ["http://127.0.0.1:9/"]  # discard port: nothing listens
    spec.write_text(yaml.safe_dump(data))
    err = bad(tmp_path, capsys, spec)
    assert "cannot reach http://127.0.0.1:9/" in err


def test_invalid_spec_field(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    err = bad(tmp_path, capsys, write_spec(tmp_path, archive, archs=["sparc"]))
    assert "field 'archs.0'" in err


def test_package_left_the_mirror(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, archive)
    assert main(["-q", "lock", str(spec)]) == 0
    capsys.readouterr()
    deb = next(d for d in archive.debs(SUITE) if d.name == "legacy")
    archive.path_of(deb).unlink()
    err = bad(tmp_path, capsys, spec)
    assert "legacy 1.0-1 (amd64) is no longer on the mirror" in err


def test_stale_lock_refused(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, archive)
    assert main(["-q", "lock", str(spec)]) == 0
    spec = write_spec(tmp_path, archive, packages=["hello"])
    err = bad(tmp_path, capsys, spec)
    assert "different package set" in err
    assert main(["-q", "build", str(spec), "-o", str(tmp_path / "out"), "--relock"]) == 0


def test_conflicting_files_refused(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    archive.add_package("clash", "1.0", files={"usr/bin/hello": b"other"})
    archive.publish(SUITE)
    err = bad(tmp_path, capsys, write_spec(tmp_path, archive, packages=["hello", "clash"]))
    assert "both ship /usr/bin/hello" in err


def test_replaces_allows_overwrite(tmp_path: Path, archive: FixtureArchive) -> None:
    archive.add_package(
        "hello-new", "1.0", files={"usr/bin/hello": b"new"}, fields={"Replaces": "hello"}
    )
    archive.publish(SUITE)
    spec = write_spec(tmp_path, archive, packages=["hello", "hello-new"])
    assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out")]) == 0


def test_build_help_documents_every_option() -> None:
    out = subprocess.run(["hardbase", "build", "--help"], capture_output=True, text=True).stdout
    for option in ("--output", "--format", "--tag", "--relock"):
        assert option in out


def test_sboms_beside_output_and_signed_build(
    tmp_path: Path,
    archive: FixtureArchive,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", "pw")
    assert main(["keygen", "--output-prefix", str(tmp_path / "key")]) == 0
    spec = write_spec(tmp_path, archive)
    out = tmp_path / "img"
    assert (
        main(["-q", "build", str(spec), "-o", str(out), "--sign-key", str(tmp_path / "key.key")])
        == 0
    )
    digest = capsys.readouterr().out.strip().splitlines()[-1]
    spdx = json.loads((tmp_path / "img.spdx.json").read_text())
    cdx = json.loads((tmp_path / "img.cdx.json").read_text())
    names = {p["name"] for p in spdx["packages"]}
    assert {"hello", "libhello1", "mawk", "legacy"} <= names
    assert {c["name"] for c in cdx["components"]} >= {"hello", "libhello1", "mawk", "legacy"}
    assert (
        main(
            [
                "verify",
                f"oci:{out}:latest",
                "--key",
                str(tmp_path / "key.pub"),
                "--require-attestations",
            ]
        )
        == 0
    )
    report = capsys.readouterr().out
    assert digest in report and "slsa.dev/provenance/v1" in report and "spdx" in report
    # a warm rebuild writes the same SBOMs (they are cached by image and reference)
    before = (tmp_path / "img.spdx.json").read_bytes()
    assert main(["-q", "build", str(spec), "-o", str(out)]) == 0
    assert (tmp_path / "img.spdx.json").read_bytes() == before


def test_sign_key_needs_oci_format(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "k.key").write_text("x")
    err = bad(
        tmp_path,
        capsys,
        write_spec(tmp_path, archive),
        "--format",
        "oci-archive",
        "--sign-key",
        str(tmp_path / "k.key"),
    )
    assert "--sign-key needs --format oci" in err


def test_snapshot_stands_in_for_a_package_that_left_the_mirror(
    tmp_path: Path, archive: FixtureArchive
) -> None:
    import functools
    import http.server
    import shutil
    import threading

    snapshot = tmp_path / "snapshot"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(snapshot))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        spec = write_spec(tmp_path, archive, snapshot=url)
        assert main(["-q", "lock", str(spec)]) == 0
        deb = next(d for d in archive.debs(SUITE) if d.name == "legacy")
        pool_path = archive.path_of(deb)
        rel = pool_path.relative_to(archive.root)
        (snapshot / rel).parent.mkdir(parents=True)
        shutil.move(pool_path, snapshot / rel)  # gone from the mirror, kept by the snapshot
        assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out")]) == 0
        assert "usr/bin/legacy" in layer_members(tmp_path / "out")
    finally:
        server.shutdown()
        server.server_close()


def test_build_policy_gate(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, archive)
    passing = tmp_path / "ok.yaml"
    passing.write_text(
        "version: 1\nname: ok\nnon_root: true\nfilesystem: {no_setuid: true}\n"
        "sbom: {required: true}\n"
    )
    assert (
        main(["-q", "build", str(spec), "-o", str(tmp_path / "a"), "--policy", str(passing)]) == 0
    )
    assert "PASS  non-root user" in capsys.readouterr().err
    failing = tmp_path / "strict.yaml"
    failing.write_text("version: 1\nname: strict\nnon_root: true\n")
    root_spec = write_spec(tmp_path, archive, user="root")
    code = main(
        ["-q", "build", str(root_spec), "-o", str(tmp_path / "b"), "--policy", str(failing)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "FAIL  non-root user" in err
    assert "fails the policy strict" in err.splitlines()[-1]


def test_multiarch_signed_build_keeps_an_sbom_per_arch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hardbase.oci.layout import Layout

    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", "")
    arch = FixtureArchive(tmp_path / "fixture")
    try:
        for a in ("amd64", "arm64"):
            arch.add_package("tool", "1.0", a, files={"usr/bin/tool": f"tool for {a}"})
        arch.publish(SUITE, archs=("amd64", "arm64"))
        spec = write_spec(tmp_path, arch, packages=["tool"], archs=["amd64", "arm64"])
        assert main(["keygen", "--no-password", "--output-prefix", str(tmp_path / "k")]) == 0
        out = tmp_path / "multi"
        assert (
            main(["-q", "build", str(spec), "-o", str(out), "--sign-key", str(tmp_path / "k.key")])
            == 0
        )
        digest = capsys.readouterr().out.strip().splitlines()[-1]
        for a in ("amd64", "arm64"):
            assert (tmp_path / f"multi.{a}.spdx.json").is_file()
        layout = Layout.open(out)
        att = layout.find(f"sha256-{digest[7:]}.att")
        manifest = json.loads(layout.read_blob(att.digest))
        kinds = sorted(
            layer["annotations"]["predicateType"].rsplit("/", 1)[-1] for layer in manifest["layers"]
        )
        assert kinds == ["Document", "Document", "bom", "bom", "v1"]
        assert main(["verify", f"oci:{out}:latest", "--key", str(tmp_path / "k.pub")]) == 0
    finally:
        arch.close()


def test_sboms_attached_as_an_artifact(
    tmp_path: Path, archive: FixtureArchive, capsys: pytest.CaptureFixture[str]
) -> None:
    from hardbase.oci.layout import Layout

    spec = write_spec(tmp_path, archive)
    out = tmp_path / "img"
    assert main(["-q", "build", str(spec), "-o", str(out)]) == 0
    digest = capsys.readouterr().out.strip().splitlines()[-1]
    layout = Layout.open(out)
    artifact = json.loads(layout.read_blob(layout.find(f"sha256-{digest[7:]}.sbom").digest))
    types = sorted(layer["mediaType"] for layer in artifact["layers"])
    assert types == ["application/vnd.cyclonedx+json", "text/spdx+json"]
    spdx = next(x for x in artifact["layers"] if x["mediaType"] == "text/spdx+json")
    assert layout.read_blob(spdx["digest"]) == (tmp_path / "img.spdx.json").read_bytes()
    assert layout.find("latest").digest == digest  # the image is still what `latest` names
