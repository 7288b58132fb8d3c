"""Fixtures for the vulnerability tests: the fixture feeds, a local feed server, databases."""

from __future__ import annotations

import functools
import glob
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
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


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server from Debian's packages on 127.0.0.1; yields a SQLAlchemy base URL.

    initdb refuses to run as root, so the server runs as the `postgres` user.
    """
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install psycopg2-binary)")
    bindir = Path(bins[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("needs runuser to start PostgreSQL as a non-root user")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="hardbase-pg-"))
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "--no-sync"], check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-l", str(root / "log"), "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def _fresh_postgres_db(base: str) -> str:
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VulnDB]:
    """An empty database: a SQLite file, and the same tests again on PostgreSQL."""
    if request.param == "sqlite":
        handle = VulnDB.open(tmp_path / "vuln.db")
    else:
        handle = VulnDB.open(_fresh_postgres_db(request.getfixturevalue("postgres")))
    yield handle
    handle.close()
