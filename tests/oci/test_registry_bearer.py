"""Bearer-token auth against docker-registry's `token` auth, with a small token service here.

The token service is a real implementation of Docker's token protocol: it
checks basic credentials and issues ES256 JWTs the registry verifies against
a certificate in its `rootcertbundle`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from registry_fixture import RegistryServer, make_image, registry_available, run_hardbase

pytestmark = pytest.mark.peers

USER, PASSWORD = "tokenuser", "T0ken-Secret-Pass"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


class TokenService:
    def __init__(self, root: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hardbase test token signer")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = root / "token-root.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.scopes: list[str] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                scopes = query.get("scope", [])
                service.scopes.extend(scopes)
                body = json.dumps({"token": service.token(scopes)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": libtrust_key_id(self.key.public_key())}
        claims = {
            "iss": "hardbase-test-issuer",
            "sub": USER,
            "aud": "hardbase-test-registry",
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(now),
            "access": access,
        }
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[RegistryServer, TokenService]]:
    if not registry_available():
        pytest.skip("docker-registry is not installed")
    service = TokenService(tmp_path)
    server = RegistryServer(
        tmp_path / "token-registry",
        extra_config=(
            "auth:\n  token:\n"
            f"    realm: {service.realm}\n    service: hardbase-test-registry\n"
            f"    issuer: hardbase-test-issuer\n    rootcertbundle: {service.cert_path}\n"
        ),
    )
    server.start()
    try:
        yield server, service
    finally:
        server.stop()
        service.stop()


def test_push_with_bearer_tokens(
    tmp_path: Path, token_registry: tuple[RegistryServer, TokenService]
) -> None:
    server, service = token_registry
    digest = make_image(tmp_path / "img", "t", [{"a": b"bearer"}])
    env = {"HARDBASE_REGISTRY_USERNAME": USER, "HARDBASE_REGISTRY_PASSWORD": PASSWORD}
    dest = f"docker://{server.host}/team/app:t"
    result = run_hardbase("push", f"oci:{tmp_path / 'img'}:t", dest, "--insecure", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == digest
    assert any(s.startswith("repository:team/app:") and "push" in s for s in service.scopes)
    assert PASSWORD not in result.stdout + result.stderr

    wrong = {"HARDBASE_REGISTRY_USERNAME": USER, "HARDBASE_REGISTRY_PASSWORD": "wrong-one"}
    refused = run_hardbase("push", f"oci:{tmp_path / 'img'}:t", dest, "--insecure", env=wrong)
    assert refused.returncode == 2
    assert "token service" in refused.stderr and "refused" in refused.stderr
    assert "wrong-one" not in refused.stderr
