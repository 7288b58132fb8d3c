"""The shared HTTP client against a real local server: retries, size limits, hash checks."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardbase.errors import FetchError, IntegrityError
from hardbase.util.http import NotFound, download, fetch_bytes

BODY = b"fixture body, not a real archive file\n" * 100


class _Handler(http.server.BaseHTTPRequestHandler):
    failures_left = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/flaky" and _Handler.failures_left > 0:
            _Handler.failures_left -= 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path not in ("/body", "/flaky"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_5xx_answer_is_retried(server: str) -> None:
    _Handler.failures_left = 2
    assert fetch_bytes(f"{server}/flaky", max_size=1 << 20, retries=2) == BODY
    _Handler.failures_left = 3
    with pytest.raises(FetchError, match="HTTP 503"):
        fetch_bytes(f"{server}/flaky", max_size=1 << 20, retries=2)


def test_size_and_hash_are_checked(server: str, tmp_path: Path) -> None:
    good = hashlib.sha256(BODY).hexdigest()
    assert fetch_bytes(f"{server}/body", max_size=len(BODY), sha256=good) == BODY
    with pytest.raises(IntegrityError, match="limit"):
        fetch_bytes(f"{server}/body", max_size=len(BODY) - 1)
    with pytest.raises(IntegrityError, match="sha256"):
        fetch_bytes(f"{server}/body", max_size=len(BODY), sha256="0" * 64)
    dest = tmp_path / "file"
    with pytest.raises(IntegrityError, match="sha256"):
        download(f"{server}/body", dest, max_size=1 << 20, sha256="0" * 64)
    assert not dest.exists()  # nothing placed
    download(f"{server}/body", dest, max_size=1 << 20, sha256=good, size=len(BODY))
    assert dest.read_bytes() == BODY


def test_missing_and_unreachable(server: str) -> None:
    with pytest.raises(NotFound, match="HTTP 404"):
        fetch_bytes(f"{server}/nothing", max_size=10)
    with pytest.raises(FetchError, match="cannot reach .*Connection refused"):
        fetch_bytes("http://127.0.0.1:9/x", max_size=10, retries=0)
