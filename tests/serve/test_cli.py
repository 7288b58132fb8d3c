"""`hardbase serve` options and `serve token`: refused listen addresses and bad options exit 2
and write nothing; tokens are printed once and stored only as hashes."""

from __future__ import annotations

import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from serve_world import hardbase

from hardbase.server.tokens import TokenStore
from registry_fixture import free_port


def fleet_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "registry: {url: '127.0.0.1:5000'}\n"
        f"state: {tmp_path / 'state.db'}\n"
        f"sign_key: {tmp_path / 'cosign.key'}\n"
        f"{extra}"
        "images:\n  - {spec: a.yaml, repository: hardbase/a, tags: [latest]}\n"
    )
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:8080"], "refusing to listen on 0.0.0.0 without TLS"),
        (["--listen", "[::]:8080"], "refusing to listen on :: without TLS"),
        (["--listen", "192.0.2.10:8080"], "refusing to listen on 192.0.2.10 without TLS"),
        (["--listen", "127.0.0.1"], "is not HOST:PORT"),
        (["--listen", "127.0.0.1:0"], "is not HOST:PORT"),
        (["--listen", "example.org:80"], "give an IP address"),
        (["--tls-cert", "/nonexistent.pem"], "give both --tls-cert and --tls-key"),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/x.pem"], "does not exist"),
    ],
)
def test_bad_serve_options_exit_2_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    fleet = fleet_file(tmp_path)
    done = hardbase("serve", "--fleet", str(fleet), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "state.db").exists()


def test_serve_needs_a_fleet(tmp_path: Path) -> None:
    done = hardbase("serve")
    assert done.returncode == 2 and "give --fleet FILE" in done.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("serve: {sla_target: soon}\n", "sla_target"),
        ("serve: {sla_target: 0}\n", "sla_target"),
        ("serve: {anonymous: true}\n", "anonymous"),
        ("serve: {max_body: 10}\n", "max_body"),
    ],
)
def test_bad_serve_section_exits_2(tmp_path: Path, extra: str, message: str) -> None:
    fleet = fleet_file(tmp_path, extra)
    done = hardbase("serve", "--fleet", str(fleet))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "state.db").exists()


def test_tokens_are_printed_once_and_stored_hashed(tmp_path: Path) -> None:
    fleet = fleet_file(tmp_path)
    made = hardbase("serve", "token", "create", "--fleet", str(fleet), "--role", "admin",
                    "--name", "ci")  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("hbt_") and made.stdout.count("\n") == 1
    secret = token.split("_", 2)[2]
    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = db.execute("SELECT id, sha256, role, name FROM srv_tokens").fetchall()
        dump = "\n".join(db.iterdump())
    assert len(rows) == 1 and rows[0][2:] == ("admin", "ci")
    assert secret not in dump and token not in dump
    store = TokenStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        who = store.check(token)
        assert who is not None and who.is_admin and who.token_id == rows[0][0]
        assert store.check(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert store.check("hbt_" + rows[0][0] + "_short") is None
    finally:
        store.close()
    listed = hardbase("serve", "token", "list", "--fleet", str(fleet))
    assert rows[0][0] in listed.stdout and "admin" in listed.stdout and secret not in listed.stdout
    assert hardbase("serve", "token", "revoke", "--fleet", str(fleet), rows[0][0]).returncode == 0
    store = TokenStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        assert store.check(token) is None
    finally:
        store.close()
    again = hardbase("serve", "token", "revoke", "--fleet", str(fleet), rows[0][0])
    assert again.returncode == 2 and "no active token" in again.stderr
    bad = hardbase("serve", "token", "create", "--fleet", str(fleet), "--role", "root")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_tls_listen_serves_https(tmp_path: Path) -> None:
    """With --tls-cert/--tls-key the service speaks HTTPS (a self-signed test certificate)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    fleet = fleet_file(tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hardbase", "serve", "--fleet", str(fleet), "--no-watch",
         "--listen", f"127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/healthz", context=context, timeout=5
                ) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
