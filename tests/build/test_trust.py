"""Trust stores: the deterministic Java keystore, OpenSSL hash links, and `certs:`.

The TLS test builds java, python3 and nodejs images from the real archive with
a test CA (made here, a fixture) added by `certs:`, starts an HTTPS server on
127.0.0.1 whose certificate that CA signed, and runs each runtime's own client
in the image with runc: Java's default trust store, Python's `ssl` and Node's
`https` trust it; the same images without `certs:` refuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.certs import jks, pkcs12
from hardbase.certs.x509 import pem_blocks, subject_hash, to_pem
from hardbase.cli.main import main
from peers import need, runc_run, unpack
from tls import CLIENTS, compile_https_check, make_ca

HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def debian_cas() -> list[bytes]:
    if not HOST_BUNDLE.is_file():
        pytest.skip("no CA bundle on this machine (ca-certificates)")
    return pem_blocks(HOST_BUNDLE.read_bytes())


def test_subject_hash_is_openssls_for_every_debian_ca(tmp_path: Path) -> None:
    need("openssl")
    certs = [*debian_cas(), *pem_blocks(make_ca(tmp_path)[0].read_bytes())]
    for der in certs:
        want = subprocess.run(
            ["openssl", "x509", "-hash", "-noout"], input=to_pem(der), capture_output=True
        ).stdout.decode()
        assert subject_hash(der) == want.strip()


def test_keystore_is_deterministic_and_java_reads_it(tmp_path: Path) -> None:
    need("keytool")
    entries = [(f"debian:ca{i}.pem", der) for i, der in enumerate(debian_cas())]
    store = pkcs12.write(entries)
    assert pkcs12.write(list(reversed(entries))) == store  # same bundle, same bytes
    assert pkcs12.read(store) == sorted(entries)
    path = tmp_path / "cacerts"
    path.write_bytes(store)
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", str(path), "-storepass", "changeit"],
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("trustedCertEntry") == len(entries)
    wrong = subprocess.run(
        ["keytool", "-list", "-keystore", str(path), "-storepass", "wrong-password"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0
    with pytest.raises(pkcs12.KeystoreError, match="MAC does not match"):
        pkcs12.read(store, "wrong-password")


def test_keystores_keytool_wrote_are_read(tmp_path: Path) -> None:
    need("keytool")
    ca = make_ca(tmp_path)[0]
    for kind in ("PKCS12", "JKS"):
        path = tmp_path / f"store.{kind}"
        subprocess.run(
            ["keytool", "-importcert", "-noprompt", "-alias", "fixture", "-file", str(ca),
             "-keystore", str(path), "-storetype", kind, "-storepass", "changeit"],
            check=True, capture_output=True,
        )  # fmt: skip
        data = path.read_bytes()
        got = jks.read(data) if jks.is_jks(data) else pkcs12.read(data)
        assert got == [("fixture", pem_blocks(ca.read_bytes())[0])]
    rewritten = tmp_path / "ours.jks"
    rewritten.write_bytes(jks.write(got))
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", str(rewritten), "-storepass", "changeit"],
        capture_output=True,
        text=True,
    )
    assert "fixture, " in listing.stdout and "trustedCertEntry" in listing.stdout


def test_certs_entry_outside_the_spec_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nextends: static\ncerts: [../ca.pem]\n")
    assert main(["-q", "build", str(spec), "--output", str(tmp_path / "out")]) == 2
    assert "certs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.archive
@pytest.mark.slow
@pytest.mark.parametrize("preset", ["java", "python3", "nodejs"])
def test_runtimes_trust_a_ca_added_with_certs(
    tmp_path: Path, https_server: tuple[str, Path], preset: str
) -> None:
    need("umoci", "runc")
    url, ca = https_server
    shutil.copy(ca, tmp_path / "org-ca.pem")
    results = {}
    for variant, extra in (("with", "certs: [org-ca.pem]\n"), ("without", "")):
        spec = tmp_path / f"{preset}-{variant}.yaml"
        spec.write_text(f"name: {preset}-{variant}\nextends: {preset}\n{extra}")
        out = tmp_path / f"{preset}-{variant}"
        assert main(["-q", "build", str(spec), "--output", str(out)]) == 0
        rootfs = unpack(out, "latest", tmp_path / f"bundle-{variant}")
        if preset == "java":
            need("javac")
            compile_https_check(rootfs)
            keystore = rootfs / "etc/ssl/certs/java/cacerts"
            jvm_links = list((rootfs / "usr/lib/jvm").glob("*/lib/security/cacerts"))
            assert jvm_links
            assert {os.readlink(p) for p in jvm_links} == {"/etc/ssl/certs/java/cacerts"}
            assert len(pkcs12.read(keystore.read_bytes())) > 100
        if variant == "with":
            links = list((rootfs / "etc/ssl/certs").glob("*.0"))
            assert [p.name for p in links] == [f"{subject_hash(pem_blocks(ca.read_bytes())[0])}.0"]
        results[variant] = runc_run(
            tmp_path / f"bundle-{variant}", [*CLIENTS[preset], url], host_network=True
        )
    trusted, refused = results["with"], results["without"]
    assert trusted.returncode == 0 and "OK 200" in trusted.stdout, trusted.stdout + trusted.stderr
    assert refused.returncode != 0 and "OK 200" not in refused.stdout
    if preset == "java":
        assert "trusted CAs: 0" not in refused.stdout  # Debian's CAs are in the keystore
