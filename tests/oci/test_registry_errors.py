"""Registry failures end in one clear sentence (exit 2), never a traceback or a leaked secret."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardbase.oci.copy import copy
from hardbase.oci.registry import RegistryUnavailable
from registry_fixture import TEST_USERS, RegistryServer, free_port, make_image, run_hardbase

pytestmark = pytest.mark.peers

PASSWORD = TEST_USERS["alice"]
BASE = {"etc/os-release": b"ID=debian\n"}
APP1 = {"app/one": b"first application\n"}
APP2 = {"app/two": b"second application\n"}
hardbase = run_hardbase


def assert_one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("hardbase: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_basic_auth_from_environment(tmp_path: Path, auth_registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "img", "t", [BASE])
    env = {"HARDBASE_REGISTRY_USERNAME": "alice", "HARDBASE_REGISTRY_PASSWORD": PASSWORD}
    result = hardbase(
        "--debug",
        "push",
        f"oci:{tmp_path / 'img'}:t",
        f"docker://{auth_registry.host}/a:t",
        "--insecure",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == digest
    assert PASSWORD not in result.stdout + result.stderr
    assert base64.b64encode(f"alice:{PASSWORD}".encode()).decode() not in result.stderr


def test_basic_auth_from_docker_config(tmp_path: Path, auth_registry: RegistryServer) -> None:
    digest = make_image(tmp_path / "img", "t", [BASE])
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    (config_dir / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    result = hardbase(
        "push",
        f"oci:{tmp_path / 'img'}:t",
        f"docker://{auth_registry.host}/a:t",
        "--insecure",
        env={"DOCKER_CONFIG": str(config_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == digest


@pytest.mark.parametrize("debug", [False, True])
def test_wrong_credentials(tmp_path: Path, auth_registry: RegistryServer, debug: bool) -> None:
    make_image(tmp_path / "img", "t", [BASE])
    wrong = "Not-The-Password-42"
    env = {"HARDBASE_REGISTRY_USERNAME": "alice", "HARDBASE_REGISTRY_PASSWORD": wrong}
    args = ["push", f"oci:{tmp_path / 'img'}:t", f"docker://{auth_registry.host}/a:t", "--insecure"]
    result = hardbase(*(["--debug", *args] if debug else args), env=env)
    if debug:  # --debug shows the traceback and debug logs; still no secret in them
        assert result.returncode != 0
    else:
        assert result.returncode == 2
        line = assert_one_sentence(result.stderr)
        assert "refused the credentials" in line and auth_registry.host in line
    assert result.stdout == ""
    for secret in (wrong, base64.b64encode(f"alice:{wrong}".encode()).decode()):
        assert secret not in result.stdout + result.stderr
    assert wrong not in auth_registry.log_path.read_text()


def test_missing_credentials(tmp_path: Path, auth_registry: RegistryServer) -> None:
    make_image(tmp_path / "img", "t", [BASE])
    result = hardbase(
        "push", f"oci:{tmp_path / 'img'}:t", f"docker://{auth_registry.host}/a:t", "--insecure"
    )
    assert result.returncode == 2
    assert "wants credentials" in assert_one_sentence(result.stderr)


def test_unreachable_registry(tmp_path: Path) -> None:
    make_image(tmp_path / "img", "t", [BASE])
    port = free_port()  # nothing listens there
    result = hardbase(
        "push", f"oci:{tmp_path / 'img'}:t", f"docker://127.0.0.1:{port}/a:t", "--insecure"
    )
    assert result.returncode == 2
    line = assert_one_sentence(result.stderr)
    assert f"cannot reach registry 127.0.0.1:{port}" in line


class _Garbage(http.server.BaseHTTPRequestHandler):
    status = 500

    def _answer(self) -> None:
        body = b"<html><body><h1>Oops</h1></body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(params=[500, 200, 404])
def garbage_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Garbage,), {"status": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_garbage_server(tmp_path: Path, garbage_server: str) -> None:
    make_image(tmp_path / "img", "t", [BASE])
    result = hardbase(
        "push", f"oci:{tmp_path / 'img'}:t", f"docker://{garbage_server}/a:t", "--insecure"
    )
    assert result.returncode == 2, result.stderr
    line = assert_one_sentence(result.stderr)
    assert garbage_server in line


class KillAfter:
    """A Progress that stops the registry after `n` blobs are done."""

    def __init__(self, registry: RegistryServer, n: int) -> None:
        self.registry = registry
        self.n = n
        self.done = 0

    def start(self, task: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        if self.done == self.n:
            self.registry.stop()

    def finish(self) -> None:
        pass


def test_registry_killed_mid_push(tmp_path: Path, registry: RegistryServer) -> None:
    layers = [BASE, APP1, APP2, {"x": b"x" * 5000}, {"y": b"y" * 7000}]
    digest = make_image(tmp_path / "img", "t", layers)
    src, dest = f"oci:{tmp_path / 'img'}:t", f"docker://{registry.host}/k:t"
    with pytest.raises(RegistryUnavailable) as failure:
        copy(src, dest, insecure=True, progress=KillAfter(registry, 2), retries=3, backoff=0.05)
    assert registry.host in failure.value.diagnostics()
    registry.start()
    assert registry.manifest_digests("k") == set()  # nothing half-published
    result = copy(src, dest, insecure=True, retries=3, backoff=0.05)
    assert result.digest == digest
    # what went up before the kill (at least 2 blobs; uploads run in parallel) is not sent again
    assert result.stats.skipped >= 2 and result.stats.skipped + result.stats.uploaded == 6

    stored = registry.blob_digests()
    for manifest_digest in registry.manifest_digests("k"):
        hexpart = manifest_digest.split(":")[1]
        data = (
            registry.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"
        ).read_bytes()
        manifest = json.loads(data)
        for desc in [manifest["config"], *manifest["layers"]]:
            assert desc["digest"] in stored
