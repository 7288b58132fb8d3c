"""A running `hardbase serve`: a real uvicorn server on 127.0.0.1 (a subprocess, as a user
runs it) over the state a real `hardbase watch` made on the lifecycle tests' fixture archive
(real trixie .debs) and registry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle_world import WEBHOOK_SECRET

from registry_fixture import KEY_PASSWORD, free_port

SRC = Path(__file__).parents[2] / "src"
# what the service's controller reads from the environment in these tests
ENV = {"HARDBASE_KEY_PASSWORD": KEY_PASSWORD, "HARDBASE_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET}


def hardbase(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardbase", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=300,
    )  # fmt: skip


def create_token(fleet: Path, role: str) -> str:
    done = hardbase("serve", "token", "create", "--fleet", str(fleet), "--role", role)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Service:
    fleet: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, *, token: str | None = None, body: bytes | None = None,
        headers: dict[str, str] | None = None, timeout: float = 60,
    ) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        req = urllib.request.Request(self.url + path, data=body, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def get_json(self, path: str, role: str = "read") -> Any:
        status, _, body = self.request("GET", path, token=self.tokens[role])
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def alive(self) -> bool:
        return self.process.poll() is None and self.request("GET", "/healthz")[0] == 200

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise
        return self.process.returncode


def start_service(
    fleet: Path, log: Path, *extra: str, env: dict[str, str] | None = None
) -> Service:
    port = free_port()
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hardbase", "serve", "--fleet", str(fleet),
         "--listen", f"127.0.0.1:{port}", *extra],
        stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    out.close()
    service = Service(fleet, port, log, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"hardbase serve exited {process.returncode}: {log.read_text()}")
        try:
            if service.request("GET", "/healthz", timeout=2)[0] == 200:
                return service
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"hardbase serve did not come up: {log.read_text()}")
