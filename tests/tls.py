"""A FIXTURE certificate authority and an HTTPS server it vouches for, for the trust-store tests.

`make_ca` writes a test CA (made here: a fixture, trusted by nothing real) and
a server certificate for IP 127.0.0.1 that it signed; `serve_https` runs an
HTTPS server on a free 127.0.0.1 port with that certificate.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(tmp: Path) -> tuple[Path, Path, Path]:
    """A FIXTURE CA and a server certificate for IP 127.0.0.1 it signed: (ca.pem, srv.pem, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("hardbase FIXTURE test CA"))
        .issuer_name(_name("hardbase FIXTURE test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(  # Python 3.13's strict verification wants it
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp / "test-ca.pem", tmp / "server.pem", tmp / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def serve_https(tmp: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate from a FIXTURE CA: (URL, CA file)."""
    ca, cert, key = make_ca(tmp)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", ca
    finally:
        server.shutdown()
        server.server_close()


# Each runtime's own HTTPS client, run inside an image against the server's URL.
CLIENTS = {
    "java": ["/usr/bin/java", "-cp", "/check", "HttpsCheck"],
    "python3": [
        "/usr/bin/python3",
        "-c",
        "import sys, urllib.request; print('OK', urllib.request.urlopen(sys.argv[1]).status)",
    ],
    "nodejs": [
        "/usr/bin/node",
        "-e",
        "require('https').get(process.argv[1], r => console.log('OK', r.statusCode))"
        ".on('error', e => { console.log('REFUSED', e.code); process.exit(3) })",
    ],
}


HTTPS_CHECK = Path(__file__).parent / "data" / "trust" / "HttpsCheck.java"


def compile_https_check(rootfs: Path) -> None:
    """Compile the Java client into ROOTFS/check (javac for release 17, the oldest JRE here)."""
    subprocess.run(
        ["javac", "--release", "17", "-d", str(rootfs / "check"), str(HTTPS_CHECK)], check=True
    )
