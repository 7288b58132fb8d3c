"""`hardbase certs add`: CAs added to images hardbase did not build, as one new layer.

Offline: a two-platform image with a Debian bundle, a PKCS#12 keystore and a JKS
keystore (both made here, holding a FIXTURE CA) gets a second FIXTURE CA; the
result keeps every old layer, adds one, and its bundle, hash link and both
keystores (read back, and by keytool) hold the new CA. Bad input exits 2 with
nothing written.

Archive: the mmdebstrap reference image (debian:trixie-slim + python3, which
has no CA bundle at all) and hardbase's python3, java and nodejs images are run
with runc before and after: Python's `ssl`, Java's default trust store and
Node's `https` refuse an HTTPS server on 127.0.0.1 signed by a FIXTURE CA
before and trust it after.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.certs import jks, pkcs12
from hardbase.certs.x509 import pem_blocks, subject_hash
from hardbase.cli.main import main
from hardbase.oci.filetree import walk_layers
from hardbase.oci.transports.open import open_source
from peers import need, runc_run, unpack
from registry_fixture import make_image
from tls import CLIENTS, compile_https_check, make_ca

PKCS12_STORE = "etc/ssl/certs/java/cacerts"
JKS_STORE = "opt/java/openjdk/lib/security/cacerts"
BUNDLE = "etc/ssl/certs/ca-certificates.crt"


def _ca(tmp: Path, name: str) -> Path:
    folder = tmp / name
    folder.mkdir()
    ca = make_ca(folder)[0]
    return ca.rename(folder / f"{name}.pem")


@pytest.fixture
def image(tmp_path: Path) -> tuple[str, bytes]:
    """oci:DIR:base with a bundle and two keystores holding one FIXTURE CA; (ref, its DER)."""
    old = pem_blocks(_ca(tmp_path, "old-ca").read_bytes())[0]
    files = {
        BUNDLE: (tmp_path / "old-ca" / "old-ca.pem").read_bytes(),
        PKCS12_STORE: pkcs12.write([("debian:old-ca.pem", old)]),
        JKS_STORE: jks.write([("old-ca", old)]),
        "usr/bin/app": b"not a keystore\n",
    }
    make_image(tmp_path / "base", "base", [files], archs=("amd64", "arm64"))
    return f"oci:{tmp_path / 'base'}:base", old


def _tree(ref: str, arch: str = "amd64"):  # type: ignore[no-untyped-def]
    with open_source(ref) as source:
        img = source.resolve(arch)
        return img, walk_layers(source, img, lambda p: True)


def test_certs_add_writes_bundle_links_and_both_keystore_formats(
    tmp_path: Path, image: tuple[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    ref, old = image
    new_pem = _ca(tmp_path, "org-ca")
    new = pem_blocks(new_pem.read_bytes())[0]
    out = f"oci:{tmp_path / 'out'}:trusted"
    assert main(["-q", "certs", "add", ref, "--cert", str(new_pem), "--output", out]) == 0
    digest = capsys.readouterr().out.strip().splitlines()[-1]
    for arch in ("amd64", "arm64"):
        base_img, _ = _tree(ref, arch)
        img, tree = _tree(out, arch)
        assert img.layers[:-1] == base_img.layers  # old layers untouched, one new on top
        assert len(img.config["rootfs"]["diff_ids"]) == 2
        assert img.config["history"][-1]["created_by"] == "hardbase certs add org-ca"
        assert pem_blocks(tree.read(BUNDLE) or b"") == [old, new]
        link = f"etc/ssl/certs/{subject_hash(new)}.0"
        assert tree.files[link].link == "org-ca.pem"
        assert tree.read(link) == new_pem.read_bytes()
        assert tree.files["usr/lib/ssl/cert.pem"].link == "/" + BUNDLE
        store = tree.read(PKCS12_STORE) or b""
        assert pkcs12.is_pkcs12(store)
        assert sorted(d for _, d in pkcs12.read(store)) == sorted([old, new])
        store = tree.read(JKS_STORE) or b""
        assert jks.is_jks(store)
        assert dict(jks.read(store)) == {"old-ca": old, "debian:org-ca.pem": new}
        assert tree.read("usr/bin/app") == b"not a keystore\n"
    with open_source(out) as source:
        assert source.top().digest == digest

    # the same input gives the same image; a second add of the same CA changes nothing
    again = f"oci:{tmp_path / 'again'}:trusted"
    assert main(["-q", "certs", "add", ref, "--cert", str(new_pem), "--output", again]) == 0
    assert capsys.readouterr().out.strip() == digest
    twice = f"oci:{tmp_path / 'twice'}:t"
    assert main(["-q", "certs", "add", out, "--cert", str(new_pem), "--output", twice]) == 0
    assert capsys.readouterr().out.strip() == digest


def test_keytool_reads_the_rewritten_jks(tmp_path: Path, image: tuple[str, bytes]) -> None:
    need("keytool")
    ref, _ = image
    new_pem = _ca(tmp_path, "org-ca")
    out = f"oci:{tmp_path / 'out'}:t"
    assert main(["-q", "certs", "add", ref, "--cert", str(new_pem), "--output", out]) == 0
    path = tmp_path / "cacerts"
    path.write_bytes(_tree(out)[1].read(JKS_STORE) or b"")
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", str(path), "-storepass", "changeit"],
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("trustedCertEntry") == 2


@pytest.mark.parametrize(
    "case",
    ["missing-cert", "not-pem", "wrong-keystore-password", "archive-destination", "no-image"],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, image: tuple[str, bytes], case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, _ = image
    cert = _ca(tmp_path, "org-ca")
    dest = tmp_path / "out"
    args = ["certs", "add", ref, "--cert", str(cert), "--output", f"oci:{dest}:t"]
    expect = ""
    if case == "missing-cert":
        args[4], expect = str(tmp_path / "nope.pem"), "does not exist"
    elif case == "not-pem":
        (tmp_path / "key.txt").write_text("just text\n")
        args[4], expect = str(tmp_path / "key.txt"), "no PEM certificate"
    elif case == "wrong-keystore-password":
        args += ["--keystore-password", "not-changeit"]
        expect = "MAC does not match"
    elif case == "archive-destination":
        args[-1], expect = f"oci-archive:{dest}", "oci:DIR[:TAG] or docker://"
    else:
        args[2], expect = f"oci:{tmp_path / 'missing'}:x", "missing"
    assert main(["-q", *args]) == 2
    err = capsys.readouterr().err
    assert expect in err and len(err.strip().splitlines()) == 1, err
    assert not dest.exists()


REFERENCE = "reference"


def image_for(name: str, request: pytest.FixtureRequest, root: Path) -> str:
    """The image `name` (built on first use): the mmdebstrap reference or a hardbase preset."""
    if name == REFERENCE:
        return str(request.getfixturevalue("reference_ref"))
    if name == "python3":
        return str(request.getfixturevalue("python3_ref"))
    out = root / name
    if not out.exists():
        spec = root / f"{name}.yaml"
        spec.write_text(f"name: {name}\nextends: {name}\n")
        assert main(["-q", "build", str(spec), "--output", str(out)]) == 0
    return f"oci:{out}:latest"


@pytest.mark.archive
@pytest.mark.slow
@pytest.mark.parametrize("name", [REFERENCE, "python3", "java", "nodejs"])
def test_runtimes_trust_the_added_ca_and_refuse_before(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    https_server: tuple[str, Path],
    name: str,
) -> None:
    need("umoci", "runc")
    url, ca = https_server
    root = tmp_path_factory.getbasetemp() / "certs-images"
    root.mkdir(exist_ok=True)
    ref = image_for(name, request, root)
    out = tmp_path / "trusted"
    assert main(["-q", "certs", "add", ref, "--cert", str(ca), "--output", f"oci:{out}:t"]) == 0
    client = CLIENTS[name if name in ("java", "nodejs") else "python3"]
    results = {}
    for variant, (layout, tag) in {
        "before": (Path(ref.split(":")[1]), ref.rsplit(":", 1)[1]),
        "after": (out, "t"),
    }.items():
        rootfs = unpack(layout, tag, tmp_path / variant)
        if name == "java":
            need("javac")
            compile_https_check(rootfs)
        results[variant] = runc_run(tmp_path / variant, [*client, url], host_network=True)
    before, after = results["before"], results["after"]
    assert before.returncode != 0 and "OK 200" not in before.stdout, before.stdout
    assert after.returncode == 0 and "OK 200" in after.stdout, after.stdout + after.stderr
    if name == REFERENCE:
        config = json.loads((tmp_path / "after" / "config.json").read_text())
        assert config["process"]["user"]["uid"] == 0  # the reference runs as root, untouched
    shutil.rmtree(tmp_path / "before", ignore_errors=True)
