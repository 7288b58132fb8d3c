"""Fixtures for the vulnerability tests: the fixture feeds, a local feed server, databases."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardbase.vuln.db import VulnDB

DATA = Path(__file__).parent.parent / "data" / "vuln"


@pytest.fixture
def feed_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving tests/data/vuln; yields its base URL."""
    handler = functools.partial(QuietHandler, directory=str(DATA))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VulnDB]:
    """An empty database: a SQLite file, and the same tests again on PostgreSQL."""
    if request.param == "sqlite":
        handle = VulnDB.open(tmp_path / "vuln.db")
    else:
        handle = VulnDB.open(request.getfixturevalue("postgres_db"))
    yield handle
    handle.close()
