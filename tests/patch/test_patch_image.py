"""`hardbase patch-image` against the signed fixture archive: whiteouts, the dpkg database,
"needs a rebuild", determinism, and bad input.

The image is made by the host's real dpkg (`dpkg --root`) installing the point-release
versions of FIXTURE packages; the archive's -security suite has their fixed versions:

- libfoo1: the fix drops /usr/share/libfoo1/dropped.txt, adds added.txt, changes the
  library and its conffile /etc/foo.conf (patchable);
- libbar1: the fix's postinst is new (it would create a user): needs a rebuild;
- libbaz1: the fix depends on libnew1, which is not installed and depends on libnew2, also
  not installed; both are script-free, so both are added as new dependencies.

The vulnerability database holds FIXTURE advisories (made-up ids) on those three.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from archive_fixture import FixtureArchive
from hardbase.cli.main import main
from hardbase.oci.filetree import walk_layers
from hardbase.oci.transports.open import open_source
from patch_image_world import FIXES, NEW, OLD, OS_RELEASE, make_world
from peers import need, podman_run, runc_run, unpack
from registry_fixture import make_image

pytestmark = pytest.mark.archive


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    archive, ref, db = make_world(tmp_path_factory.mktemp("patch-image"))
    yield archive, ref, db
    archive.close()


def _args(archive: FixtureArchive, db: Path, keyring: Path | None = None) -> list[str]:
    return ["--db", str(db), "--mirror", archive.url, "--security-mirror", archive.url,
            "--keyring", str(keyring or archive.keyring)]  # fmt: skip


def _manifest_digest(ref: str) -> str:
    with open_source(ref) as source:
        return str(source.resolve(None).manifest.digest)


def _tree(ref: str):  # type: ignore[no-untyped-def]
    with open_source(ref) as source:
        image = source.resolve(None)
        return image, walk_layers(source, image, lambda p: p.startswith(("var/", "usr/", "etc/")))


def test_patch_image_upgrades_and_reports_the_rest(
    world: tuple[FixtureArchive, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, ref, db = world
    out = tmp_path / "out"
    assert main(["patch-image", ref, "--output", f"oci:{out}:p", *_args(archive, db)]) == 0
    err = capsys.readouterr().err
    assert f"libfoo1 {OLD} -> {NEW} (bookworm-security): fixes {FIXES['libfoo1']}" in err
    assert "libbar1 needs a rebuild: its postinst changed" in err
    assert f"libbaz1 {OLD} -> {NEW} (bookworm-security): fixes {FIXES['libbaz1']}" in err
    assert "libnew1 1.0-1 (bookworm-security): added as a new dependency of libbaz1" in err
    assert "libnew2 1.0-1 (bookworm-security): added as a new dependency of libnew1" in err
    assert "2 packages upgraded, 2 added as new dependencies" in err
    image, tree = _tree(f"oci:{out}:p")
    assert tree.read("usr/lib/x86_64-linux-gnu/libfoo.so.1") == b"FIXTURE libfoo 1.0, fixed\n"
    assert tree.read("usr/share/libfoo1/added.txt") == b"FIXTURE: new in the fix\n"
    assert "usr/share/libfoo1/dropped.txt" not in tree.files  # whited out
    status = (tree.read("var/lib/dpkg/status") or b"").decode()
    assert "Package: libfoo1\nStatus: install ok installed\n" in status
    paragraphs = {p.split("\n")[0]: p for p in status.strip().split("\n\n")}
    assert f"Version: {NEW}" in paragraphs["Package: libfoo1"]
    assert f"Version: {OLD}" in paragraphs["Package: libbar1"]
    assert f"Version: {NEW}" in paragraphs["Package: libbaz1"]
    assert "Depends: libnew1" in paragraphs["Package: libbaz1"]
    for added in ("libnew1", "libnew2"):
        assert "Status: install ok installed\n" in paragraphs[f"Package: {added}"]
        assert tree.read(f"var/lib/dpkg/info/{added}.md5sums")
    assert tree.read("usr/lib/x86_64-linux-gnu/libnew.so.1") == b"FIXTURE libnew1\n"
    assert tree.read("usr/share/libnew2/README") == b"FIXTURE libnew2\n"
    assert (
        "/usr/share/libnew2/README"
        in (tree.read("var/lib/dpkg/info/libnew2.list") or b"").decode().splitlines()
    )
    listed = (tree.read("var/lib/dpkg/info/libfoo1.list") or b"").decode().splitlines()
    assert (
        "/usr/share/libfoo1/added.txt" in listed and "/usr/share/libfoo1/dropped.txt" not in listed
    )
    config = image.config
    assert config["history"][-1]["created_by"] == (
        f"hardbase patch-image libbaz1={NEW} libfoo1={NEW} libnew1=1.0-1 libnew2=1.0-1"
    )
    assert image.manifest_json["annotations"]["org.opencontainers.image.base.digest"]
    # the host's dpkg agrees with the database the layer wrote
    need("umoci")
    rootfs = unpack(out, "p", tmp_path / "bundle")
    shown = subprocess.run(["dpkg", f"--root={rootfs}", "-s", "libfoo1"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert f"Version: {NEW}" in shown and " /etc/foo.conf " in shown
    for added in ("libnew1", "libnew2"):
        shown = subprocess.run(["dpkg", f"--root={rootfs}", "-s", added], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
        assert "Status: install ok installed" in shown and "Version: 1.0-1" in shown
    verify = subprocess.run(["dpkg", f"--root={rootfs}", "--verify"], capture_output=True,
                            text=True)  # fmt: skip
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
    # a rescan: only the findings reported as needing a rebuild are left
    report = tmp_path / "scan.json"
    main(["-q", "scan", f"oci:{out}:p", "--db", str(db), "--format", "json", "--output",
          str(report)])  # fmt: skip
    left = {f["id"] for f in json.loads(report.read_text())["findings"]}
    assert left == {FIXES["libbar1"]}


def test_patch_image_is_deterministic_and_idempotent(
    world: tuple[FixtureArchive, str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same inputs give the same digest, with a warm or a cold cache; the image's own
    dpkg, run inside it by runc and by podman, reads the new versions; patching the patched
    image adds nothing."""
    archive, ref, db = world
    digests = []
    for name in ("a", "b"):
        assert main(["-q", "patch-image", ref, "--output", f"oci:{tmp_path / name}:p",
                     *_args(archive, db)]) == 0  # fmt: skip
        digests.append(capsys.readouterr().out.strip())
        monkeypatch.setenv("HARDBASE_CACHE", str(tmp_path / "cold-cache"))
    assert digests[0] == digests[1]
    assert any((tmp_path / "cold-cache").rglob("*.deb"))  # b fetched everything again
    expected = {"libfoo1": NEW, "libbar1": OLD, "libbaz1": NEW, "libnew1": "1.0-1",
                "libnew2": "1.0-1"}  # fmt: skip
    need("umoci", "runc")
    unpack(tmp_path / "a", "p", tmp_path / "bundle")
    shown = runc_run(tmp_path / "bundle", ["dpkg", "-s", "libfoo1"])
    assert shown.returncode == 0 and f"\nVersion: {NEW}\n" in shown.stdout, shown.stderr
    query = ["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\\n"]
    for run in (runc_run(tmp_path / "bundle", query), podman_run(f"oci:{tmp_path / 'a'}:p", query)):
        assert run.returncode == 0, run.stderr
        rows = dict(line.split(" ", 1) for line in run.stdout.splitlines())
        assert rows == {n: f"{v} install ok installed" for n, v in expected.items()}
    verify = runc_run(tmp_path / "bundle", ["dpkg", "--verify"])
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
    again = tmp_path / "again"
    patched = f"oci:{tmp_path / 'a'}:p"
    assert main(["patch-image", patched, "--output", f"oci:{again}:p", *_args(archive, db)]) == 0
    captured = capsys.readouterr()
    assert "nothing to patch; no layer added" in captured.err
    assert captured.out.strip() == digests[0]
    assert _manifest_digest(f"oci:{again}:p") == digests[0]


def test_patch_image_only_security_and_trivy_report(
    world: tuple[FixtureArchive, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, ref, db = world
    image, _ = _tree(ref)
    trivy = {
        "ArtifactName": ref,
        "Metadata": {"DiffIDs": image.config["rootfs"]["diff_ids"]},
        "Results": [{"Class": "os-pkgs", "Type": "debian", "Vulnerabilities": [
            {"VulnerabilityID": FIXES["libfoo1"], "PkgName": "libfoo1",
             "InstalledVersion": OLD, "FixedVersion": NEW}]}],
    }  # fmt: skip
    path = tmp_path / "trivy.json"
    path.write_text(json.dumps(trivy))
    args = [a for a in _args(archive, db) if a not in ("--db", str(db))]
    assert main(["patch-image", ref, "--output", f"oci:{tmp_path / 'o'}:p", "--report",
                 str(path), "--only", "security", *args]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "libfoo1 1.0-1 -> 1.0-1+deb12u1 (bookworm-security)" in err
    assert "libbar1" not in err  # not in the report


def _fails(args: list[str], dest: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-q", *args]) == 2
    assert not dest.exists()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_patch_image_bad_input(
    world: tuple[FixtureArchive, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, ref, db = world
    dest = tmp_path / "dest"
    out = ["--output", f"oci:{dest}:p"]
    make_image(tmp_path / "plain", "t", [{"etc/os-release": b"ID=alpine\n"}])
    err = _fails(["patch-image", f"oci:{tmp_path / 'plain'}:t", *out, *_args(archive, db)],
                 dest, capsys)  # fmt: skip
    assert "has no dpkg database" in err
    make_image(
        tmp_path / "bad",
        "t",
        [{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": b"Package: \xff\xfe\n"}],
    )
    err = _fails(["patch-image", f"oci:{tmp_path / 'bad'}:t", *out, *_args(archive, db)],
                 dest, capsys)  # fmt: skip
    assert "is not UTF-8 text" in err
    make_image(tmp_path / "unknown", "t", [{
        "etc/os-release": b"ID=plan9\n",
        "var/lib/dpkg/status": b"Package: libfoo1\nStatus: install ok installed\n"
                               b"Version: 1.0-1\nArchitecture: amd64\n"}])  # fmt: skip
    err = _fails(["patch-image", f"oci:{tmp_path / 'unknown'}:t", *out, *_args(archive, db)],
                 dest, capsys)  # fmt: skip
    assert "is not a Debian or Ubuntu release" in err
    make_image(tmp_path / "zanzibar", "t", [{
        "etc/os-release": OS_RELEASE.replace(b"bookworm", b"zanzibar"),
        "var/lib/dpkg/status": b"Package: libfoo1\nStatus: install ok installed\n"
                               b"Version: 1.0-1\nArchitecture: amd64\n"}])  # fmt: skip
    err = _fails(["patch-image", f"oci:{tmp_path / 'zanzibar'}:t", *out, *_args(archive, db)],
                 dest, capsys)  # fmt: skip
    assert "is debian 'zanzibar' (VERSION_CODENAME in its os-release), a release patch-image " \
        "does not know: it reads the suites of bookworm, trixie, forky" in err  # fmt: skip
    make_image(tmp_path / "unmerged", "t", [{
        "etc/os-release": OS_RELEASE, "bin/sh": b"FIXTURE\n",
        "var/lib/dpkg/status": b"Package: libfoo1\nStatus: install ok installed\n"
                               b"Version: 1.0-1\nArchitecture: amd64\n"}])  # fmt: skip
    err = _fails(["patch-image", f"oci:{tmp_path / 'unmerged'}:t", *out, *_args(archive, db)],
                 dest, capsys)  # fmt: skip
    assert "is not merged-/usr" in err
    dead = ["--mirror", "http://127.0.0.1:1/", "--security-mirror", "http://127.0.0.1:1/"]
    err = _fails(["patch-image", ref, *out, *_args(archive, db), *dead], dest, capsys)
    assert "127.0.0.1:1" in err
    report = tmp_path / "other.json"
    report.write_text(json.dumps({"Metadata": {"ImageID": "sha256:" + "0" * 64},
                                  "Results": []}))  # fmt: skip
    err = _fails(["patch-image", ref, *out, "--report", str(report), "--mirror", archive.url],
                 dest, capsys)  # fmt: skip
    assert "is of another image" in err


def test_patch_image_refuses_a_deb_whose_hash_does_not_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, ref, db = make_world(tmp_path)
    try:
        fixed = next(d for d in archive.debs("bookworm-security") if d.name == "libfoo1")
        path = archive.path_of(fixed)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF  # same size, other bytes
        path.write_bytes(bytes(data))
        dest = tmp_path / "dest"
        err = _fails(["patch-image", ref, "--output", f"oci:{dest}:p", *_args(archive, db)],
                     dest, capsys)  # fmt: skip
        assert "sha256" in err or "hash" in err
    finally:
        archive.close()
        shutil.rmtree(tmp_path / "world", ignore_errors=True)


def test_patch_image_signs_and_attaches_sboms_provenance_and_vex(
    world: tuple[FixtureArchive, str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive, ref, db = world
    monkeypatch.delenv("HARDBASE_KEY_PASSWORD", raising=False)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    assert main(["-q", "keygen", "--no-password", "--output-prefix", str(tmp_path / "k")]) == 0
    dest = f"oci:{tmp_path / 'signed'}:p"
    args = ["patch-image", ref, "--output", dest, "--sign-key", str(tmp_path / "k.key")]
    assert main([*args, *_args(archive, db)]) == 0
    assert "attached 4 attestations" in capsys.readouterr().err
    types = ["spdxjson", "cyclonedx", "slsaprovenance1", "openvex"]
    verify = ["verify", dest, "--key", str(tmp_path / "k.pub"), "--require", *types]
    assert main(verify) == 0
    assert capsys.readouterr().out.count("PASS  required ") == 4
    statements = _statements(dest, "https://openvex.dev/ns")["predicate"]["statements"]
    assert [(s["vulnerability"]["name"], s["status"]) for s in statements] == [
        (FIXES["libfoo1"], "fixed"),
        (FIXES["libbaz1"], "fixed"),
    ]


def _statements(ref: str, predicate_type: str) -> dict[str, Any]:
    """The in-toto statement of `predicate_type` attached to the image `ref` names."""
    import base64

    from hardbase.attest.store import open_store
    from hardbase.oci.layout import Descriptor

    with open_store(ref) as store:
        tagged = store.get_tagged(store.resolve().digest.cosign_tag("att"))
        assert tagged is not None
        for layer in tagged[1]["layers"]:
            envelope = json.loads(store.read_blob(Descriptor.from_json(layer)))
            doc: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
            if doc["predicateType"] == predicate_type:
                return doc
    raise AssertionError(f"no {predicate_type} attestation on {ref}")


def test_patch_image_distroless_status_d_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image hardbase built (status.d, no lists, no scripts) gets status.d entries, for
    the upgrades and for the new dependencies added."""
    import yaml

    archive, _, db = make_world(tmp_path)
    try:
        archive.add_package(
            "base-files", "12.4", suite="bookworm",
            files={"/etc/os-release": OS_RELEASE.decode(),
                   "/usr/share/doc/base-files/README": "FIXTURE base-files\n"},
        )  # fmt: skip
        archive.publish("bookworm")
        spec = tmp_path / "foo.yaml"
        spec.write_text(yaml.safe_dump({
            "name": "foo", "packages": ["base-files", "libfoo1", "libbaz1"],
            "sources": [{"uris": [archive.url], "suites": ["bookworm"],
                         "signed-by": str(archive.keyring)}],
        }))  # fmt: skip
        assert main(["-q", "build", str(spec), "--output", str(tmp_path / "built")]) == 0
        out = f"oci:{tmp_path / 'out'}:p"
        ref = f"oci:{tmp_path / 'built'}:latest"
        assert main(["-q", "patch-image", ref, "--output", out, *_args(archive, db)]) == 0
        _, tree = _tree(out)
        entry = (tree.read("var/lib/dpkg/status.d/libfoo1") or b"").decode()
        assert f"Version: {NEW}" in entry and "Status: install ok installed" in entry
        sums = (tree.read("var/lib/dpkg/status.d/libfoo1.md5sums") or b"").decode()
        assert "usr/share/libfoo1/added.txt" in sums and "dropped.txt" not in sums
        assert tree.read("usr/share/libfoo1/added.txt") == b"FIXTURE: new in the fix\n"
        assert "usr/share/libfoo1/dropped.txt" not in tree.files  # whited out (old md5sums)
        for added in ("libnew1", "libnew2"):  # libbaz1's new dependencies, as status.d entries
            entry = (tree.read(f"var/lib/dpkg/status.d/{added}") or b"").decode()
            assert f"Package: {added}\nStatus: install ok installed\n" in entry
            assert tree.read(f"var/lib/dpkg/status.d/{added}.md5sums")
        assert tree.read("usr/share/libnew2/README") == b"FIXTURE libnew2\n"
        report = tmp_path / "scan.json"
        main(["-q", "scan", out, "--db", str(db), "--format", "json", "--output", str(report)])
        assert json.loads(report.read_text())["findings"] == []
    finally:
        archive.close()


def test_patch_image_leaves_an_upgrade_whose_new_dependency_has_a_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newer libbaz1 needs libnew1 and libscript1; libscript1's postinst blocks it (and in
    a newer one still, libclash1's Breaks on the installed libbar1)."""
    archive, ref, db = make_world(tmp_path)
    try:
        archive.add_package("libbaz1", f"{NEW}.1", suite="bookworm-security",
                            depends="libnew1, libscript1")  # fmt: skip
        archive.add_package("libscript1", "1.0-1", suite="bookworm-security",
                            control_files={"postinst": "#!/bin/sh\nldconfig\n"})  # fmt: skip
        archive.publish("bookworm-security")
        out = f"oci:{tmp_path / 'out'}:p"
        assert main(["patch-image", ref, "--output", out, *_args(archive, db)]) == 0
        err = capsys.readouterr().err
        assert (
            f"libbaz1 needs a rebuild: it needs libscript1, not installed, and libscript1 has a "
            f"postinst that must run ({FIXES['libbaz1']} stay open)"
        ) in err
        assert "libnew1" not in err and "libscript1 1.0-1" not in err
        _, tree = _tree(out)
        status = (tree.read("var/lib/dpkg/status") or b"").decode()
        assert "Package: libnew1" not in status and "Package: libscript1" not in status
        assert "usr/lib/x86_64-linux-gnu/libnew.so.1" not in tree.files
        # a script-free new dependency that breaks an installed package blocks it too
        archive.add_package("libbaz1", f"{NEW}.2", suite="bookworm-security",
                            depends="libclash1")  # fmt: skip
        archive.add_package("libclash1", "1.0-1", suite="bookworm-security",
                            fields={"Breaks": "libbar1 (<< 2)"})  # fmt: skip
        archive.publish("bookworm-security")
        assert main(["patch-image", ref, "--output", f"oci:{tmp_path / 'o2'}:p",
                     *_args(archive, db)]) == 0  # fmt: skip
        assert (
            "libbaz1 needs a rebuild: it needs libclash1, not installed, and libclash1 breaks "
            "the installed libbar1"
        ) in capsys.readouterr().err
    finally:
        archive.close()
