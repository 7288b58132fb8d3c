"""Serve REPO over HTTP on 127.0.0.1, read-only and static, for tests and small setups.

Only GET and HEAD of files below REPO; the lock file and other dot-files,
directory listings and anything a symlink would lead out of REPO are 404. Any
static web server that follows the `dists/<suite>` symlink serves REPO as well.
"""

from __future__ import annotations

import http.server
import logging
import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

from hardbase.errors import UsageError

log = logging.getLogger(__name__)


class _Handler(http.server.SimpleHTTPRequestHandler):
    root: str

    def send_head(self) -> Any:
        path = self.translate_path(self.path)
        real = os.path.realpath(path)
        relative = os.path.relpath(real, self.root)
        hidden = any(part.startswith(".") for part in self.path.split("?")[0].split("/") if part)
        if (
            relative == os.pardir
            or relative.startswith(os.pardir + os.sep)
            or hidden
            or not os.path.isfile(real)
        ):
            self.send_error(404, "not found")
            return None
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s - %s", self.address_string(), format % args)


class RepoServer:
    """REPO served on 127.0.0.1:`port` (0: a free port) until `close()`."""

    def __init__(self, repo: Path, port: int = 0, host: str = "127.0.0.1") -> None:
        if not Path(repo).is_dir():
            raise UsageError(f"REPO {repo} is not a directory; publish to it first")
        root = os.path.realpath(repo)
        handler = type("Handler", (_Handler,), {"root": root})
        try:
            self._server = http.server.ThreadingHTTPServer(
                (host, port), partial(handler, directory=root)
            )
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}; pick another --port") from exc
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> RepoServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.5)

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> RepoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
