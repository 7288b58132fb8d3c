"""The lifecycle tests' world: a fixture archive holding real .debs, a registry, keys,
a webhook receiver, and the fleet files written for them."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import http.server
import json
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive_fixture import FixtureArchive
from registry_fixture import RegistryServer

DATA = Path(__file__).parents[1] / "data" / "lifecycle"
STATIC = ("base-files", "ca-certificates", "media-types", "netbase", "tzdata")
NEW_NETBASE = "6.5+deb13u1"
WEBHOOK_SECRET = "fixture-webhook-secret"


def repack(deb: Path, version: str, dest: Path, *, changes: str = "") -> Path:
    """The same package rebuilt by dpkg-deb with another Version (a fixture upload).

    With `changes`, a changelog entry for `version` (targeted at trixie-security, saying
    `changes`) is put on top of the package's changelog: `changelog.Debian.gz`, or
    `changelog.gz` for a native package such as netbase.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        subprocess.run(["dpkg-deb", "-R", str(deb), str(root)], check=True, capture_output=True)
        control = root / "DEBIAN" / "control"
        lines = [
            f"Version: {version}" if line.startswith("Version:") else line
            for line in control.read_text().splitlines()
        ]
        control.write_text("\n".join(lines) + "\n")
        if changes:
            name = next(line.split(": ", 1)[1] for line in lines if line.startswith("Package:"))
            _prepend_changelog(root / "usr/share/doc" / name, name, version, changes)
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(root), str(dest)],
            check=True,
            capture_output=True,
        )
    return dest


def _prepend_changelog(doc: Path, package: str, version: str, changes: str) -> None:
    path = doc / "changelog.Debian.gz"
    if not path.is_file():
        path = doc / "changelog.gz"
    entry = (
        f"{package} ({version}) trixie-security; urgency=medium\n\n"
        f"  * Fixture upload (hardbase tests, not a real advisory). {changes}\n\n"
        " -- hardbase fixture <fixture@hardbase.invalid>  Fri, 27 Nov 2026 12:00:00 +0000\n\n"
    )
    old = gzip.decompress(path.read_bytes()) if path.is_file() else b""
    path.write_bytes(gzip.compress(entry.encode() + old, mtime=0))


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records POSTs and checks their HMAC-SHA256."""

    def __init__(self, secret: str, fail_first: int = 0) -> None:
        self.secret = secret.encode()
        self.posts: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.fail_first = fail_first
        self.attempts = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                want = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Hardbase-Signature", "")
                if not hmac.compare_digest(want, got):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.posts.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@dataclass
class World:
    """A fixture archive with the real static .debs, a registry, keys and a fleet of two."""

    root: Path
    archive: FixtureArchive
    registry: RegistryServer
    webhook: WebhookReceiver
    debs: dict[str, Path]
    key: Path
    pub: Path
    env: dict[str, str] = field(default_factory=dict)

    def spec(self, name: str, body: str) -> Path:
        path = self.root / "images" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"name: {name}\nrelease: trixie\n{body}"
            "sources:\n"
            f"  - uris: ['{self.archive.url}']\n"
            "    suites: [trixie, trixie-security]\n"
            f"    signed-by: {self.archive.keyring}\n"
        )
        return path

    def add_debs(self, debs: dict[str, Path]) -> None:
        """Put more real .debs into trixie (say, busybox and libc6) and republish it."""
        for deb in debs.values():
            self.archive.add_deb(deb, suite="trixie")
        self.archive.publish("trixie")

    def fleet(
        self,
        *,
        feeds: list[str] | None = None,
        state: str | None = None,
        images: tuple[str, ...] = ("a", "b"),
        smoke: bool | list[str] = False,
        extra: str = "",
        policy: Path | None = None,
        feed_lines: list[str] | None = None,
        variants: bool = False,
    ) -> Path:
        """The fleet file; image `c` is the static preset plus busybox (see `add_debs`)."""
        osv = [str(DATA / d) for d in (feeds or ["osv-fix"])]
        lines = [
            f"registry: {{url: '{self.registry.host}', insecure: true}}",
            f"state: '{state or 'sqlite:///' + str(self.root / 'state.db')}'",
            f"vulndb: {self.root / 'vuln.db'}",
            "interval: 1s",
            f"sign_key: {self.key}",
            f"workdir: {self.root / 'work'}",
            f"webhook: {{url: '{self.webhook.url}', secret_env: HARDBASE_TEST_WEBHOOK_SECRET}}",
            "feeds:",
            *(
                feed_lines
                if feed_lines is not None
                else ["  - name: osv", f"    locations: {json.dumps(osv)}"]
            ),
            "registry_wait: 60s",
            extra,
            "images:",
        ]
        bodies = {
            "a": "extends: static\n",
            "b": "packages: [base-files, netbase, media-types]\n",
            "c": "extends: static\npackages: [busybox]\n",
        }
        for name in images:
            lines += [
                f"  - spec: {self.spec(name, bodies[name])}",
                f"    repository: hardbase/{name}",
                "    tags: ['13', latest]",
            ]
            if smoke:
                command = smoke if isinstance(smoke, list) else ["/nonexistent-smoke-binary"]
                lines.append(f"    smoke: {json.dumps(command)}")
            if policy is not None:
                lines.append(f"    policy: {policy}")
            if variants:
                lines.append("    variants: true")
        path = self.root / "fleet.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def fix_netbase(self, changes: str = "") -> None:
        """Publish netbase 6.5+deb13u1 (a fixture rebuild of the real .deb) to trixie-security,
        its changelog saying `changes` when given."""
        new = repack(
            self.debs["netbase"], NEW_NETBASE, self.root / "netbase-new.deb", changes=changes
        )
        self.archive.add_deb(new, suite="trixie-security")
        self.archive.publish("trixie-security")
