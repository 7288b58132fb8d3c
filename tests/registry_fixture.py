"""A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1.

`RegistryServer` writes a config (filesystem storage in a temp dir, deletes
enabled, optional htpasswd basic auth), starts `docker-registry serve`, waits
until `/v2/` answers and stops it with kill + wait. It can be killed and
restarted on the same port and storage, so tests can interrupt a push.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"


def registry_available() -> bool:
    return Path(REGISTRY_BIN).is_file() or shutil.which("docker-registry") is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for an htpasswd file, from `bcrypt` if installed, else libxcrypt."""
    try:
        import bcrypt  # type: ignore[import-not-found]

        return str(bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode())
    except ImportError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


class RegistryServer:
    """One docker-registry process with its storage under `root`."""

    def __init__(
        self, root: Path, *, users: dict[str, str] | None = None, extra_config: str = ""
    ) -> None:
        self.root = root
        self.extra_config = extra_config
        self.storage = root / "storage"
        self.port = free_port()
        self.users = users
        self.log_path = root / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config = root / "config.yml"
        self._write_config()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        if self.users:
            htpasswd = self.root / "htpasswd"
            htpasswd.write_text(
                "".join(f"{user}:{bcrypt_hash(pw)}\n" for user, pw in self.users.items())
            )
            lines += ["auth:", "  htpasswd:", "    realm: hardbase-test", f"    path: {htpasswd}"]
        self.config.write_text("\n".join(lines) + "\n" + self.extra_config)

    def start(self, timeout: float = 15.0) -> None:
        if self.proc is not None:
            raise RuntimeError("registry already running")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(self.config)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"docker-registry exited: {self.log_path.read_text()[-2000:]}")
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer on {self.host}")

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            conn.request("GET", "/v2/")
            return conn.getresponse().status in (200, 401)
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        """Kill the process and wait for it (the storage stays)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # --- what is in the storage, read straight from the filesystem ---

    def _v2(self) -> Path:
        return self.storage / "docker" / "registry" / "v2"

    def blob_digests(self) -> set[str]:
        """Digests of every blob (layers, configs and manifests) the registry stores."""
        blobs = self._v2() / "blobs" / "sha256"
        if not blobs.is_dir():
            return set()
        return {
            f"sha256:{d.name}"
            for prefix in blobs.iterdir()
            for d in prefix.iterdir()
            if (d / "data").is_file()
        }

    def manifest_digests(self, repository: str) -> set[str]:
        """Digests of the manifest revisions linked in `repository`."""
        revisions = self._v2() / "repositories" / repository / "_manifests" / "revisions" / "sha256"
        if not revisions.is_dir():
            return set()
        return {f"sha256:{d.name}" for d in revisions.iterdir() if (d / "link").is_file()}

    def auth_header(self, user: str) -> dict[str, str]:
        assert self.users is not None
        token = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


@contextlib.contextmanager
def running_registry(
    root: Path, *, users: dict[str, str] | None = None
) -> Iterator[RegistryServer]:
    """A started registry, stopped when the block ends."""
    if not registry_available():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    server = RegistryServer(root, users=users)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- small OCI images built in the tests -------------------------------------


def tar_layer(files: dict[str, bytes]) -> bytes:
    """A deterministic, gzip-compressed tar layer holding `files`."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def make_image(
    root: Path,
    tag: str,
    layers: list[dict[str, bytes] | bytes],
    *,
    archs: tuple[str, ...] = ("amd64",),
    labels: dict[str, str] | None = None,
) -> str:
    """Write an image into the OCI layout at `root` under `tag`; returns the top digest.

    Each layer is files (path -> content, mode 0644) or a gzip-compressed tar already
    made. One architecture gives a plain manifest; several give an index of manifests.
    """
    import gzip
    import hashlib

    from hardbase.oci import mediatypes as mt
    from hardbase.oci.layout import Layout

    layout = Layout.create(root)
    manifests = []
    for arch in archs:
        layer_descs = []
        diff_ids = []
        for files in layers:
            if isinstance(files, bytes):
                blob = files
            else:
                blob = tar_layer({**files, "etc/arch": arch.encode()} if len(archs) > 1 else files)
            diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest())
            layer_descs.append(layout.put_bytes(blob, mt.OCI_LAYER_GZIP))
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {"User": "65532", "Labels": labels or {}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        config_desc = layout.put_json(config, mt.OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": config_desc.to_json(),
            "layers": [d.to_json() for d in layer_descs],
        }
        manifests.append(
            layout.put_json(
                manifest, mt.OCI_MANIFEST, platform={"os": "linux", "architecture": arch}
            )
        )
    if len(manifests) == 1:
        top = manifests[0]
    else:
        index = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [m.to_json() for m in manifests],
        }
        top = layout.put_json(index, mt.OCI_INDEX)
    from hardbase.oci.layout import Descriptor

    layout.set_entry(Descriptor(top.media_type, top.digest, top.size), tag)
    return top.digest


# --- shared test constants and the CLI runner ---------------------------------

TEST_USERS = {"alice": "Corr3ct-Horse-Battery"}
KEY_PASSWORD = "key-Passw0rd-for-tests"


def run_hardbase(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `hardbase` CLI in a subprocess, without registry credentials from this machine."""
    import os
    import sys

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HARDBASE_REGISTRY_")}
    full_env["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hardbase", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
