"""Throwaway build roots: the image's Debian packages plus a tool, run with runc.

A build root is assembled from the same lock as the image (the same .deb
files, so the interpreter and libc are the image's) plus the packages the
ecosystem's tool needs (python3-pip, npm). Commands run in it as the nonroot
user under runc: in their own network namespace (no network) unless the
step is the one that downloads, where the host's network is shared.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbase.build.app.interface import AppError
from hardbase.build.assemble import PackageContents, generated_entries, read_package
from hardbase.build.fetch import fetch_packages
from hardbase.build.lock import LockedPackage
from hardbase.build.prune import Pruner
from hardbase.build.skeleton import skeleton_entries
from hardbase.build.spec import NONROOT_UID, PruneSettings
from hardbase.build.tree import DIR, SYMLINK, Entry
from hardbase.util.fs import RootDir, RootPathError
from hardbase.util.progress import NullProgress, Progress

log = logging.getLogger(__name__)

WORK = "hb"  # the build root's scratch directory, /hb, writable by the nonroot user
RUN_TIMEOUT = 900.0
HOST_FILES = ("etc/resolv.conf", "etc/hosts")  # bound read-only when the step has network
# The download step trusts the host's CA bundle too (TLS-inspecting proxies); what it
# downloads is checked against pinned hashes, so trust adds no way in.
HOST_CA = "etc/ssl/certs/ca-certificates.crt"
BUILD_CA = f"{WORK}/host-ca.crt"
PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_STDERR_TAIL = 4000


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str


def require_runc() -> str:
    runc = shutil.which("runc")
    if runc is None:
        raise AppError(
            "app images run pip or npm in a build root with runc, which is not installed; "
            "install it (apt-get install runc)"
        )
    return runc


class BuildRoot:
    """A root filesystem on disk under `bundle/rootfs`, with a runc bundle around it."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = bundle

    @property
    def path(self) -> Path:
        return self.bundle / "rootfs"

    @property
    def work(self) -> Path:
        return self.path / WORK

    @classmethod
    def assemble(
        cls,
        bundle: Path,
        packages: list[LockedPackage],
        arch: str,
        progress: Progress | None = None,
    ) -> BuildRoot:
        """Unpack `packages` (no maintainer scripts, as the image is made) under bundle/rootfs."""
        require_runc()
        progress = progress or NullProgress()
        paths = fetch_packages(packages, progress=progress)
        progress.start(f"unpacking {len(packages)} packages into the {arch} build root", 0)
        pruner = Pruner(PruneSettings())
        with ThreadPoolExecutor(8) as pool:
            contents: list[PackageContents] = list(
                pool.map(lambda p: read_package(paths[p.sha256], p.name, pruner), packages)
            )
        root = cls(bundle)
        root.path.mkdir(parents=True)
        populate(root.path, contents, arch)
        progress.finish()
        return root

    def run(
        self,
        args: list[str],
        *,
        network: bool,
        what: str,
        timeout: float = RUN_TIMEOUT,
        env: dict[str, str] | None = None,
        cwd: str = f"/{WORK}",
    ) -> RunResult:
        """Run `args` in the root as the nonroot user; never raises for a non-zero exit."""
        runc = require_runc()
        _give(self.work)  # what the host put in /hb belongs to the user the step runs as
        config = _runtime_config(self.bundle, args, network=network, env=env or {}, cwd=cwd)
        (self.bundle / "config.json").write_text(json.dumps(config))
        name = f"hardbase-build-{uuid.uuid4().hex[:12]}"
        log.info("%s (network %s)", what, "on" if network else "off")
        try:
            proc = subprocess.run(
                [runc, "run", "--bundle", str(self.bundle), name],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise AppError(f"{what} took longer than {timeout:.0f} s and was stopped") from None
        except OSError as exc:
            raise AppError(f"cannot start runc for {what}") from exc
        finally:
            subprocess.run([runc, "delete", "--force", name], capture_output=True, check=False)
        log.debug("%s exited %d; stderr: %s", what, proc.returncode, proc.stderr[-_STDERR_TAIL:])
        return RunResult(proc.returncode, proc.stdout, proc.stderr)


def _runtime_config(
    bundle: Path, args: list[str], *, network: bool, env: dict[str, str], cwd: str
) -> dict[str, Any]:
    # runc's own default spec (namespaces, masked paths, capabilities), adjusted.
    template = bundle / "config.json"
    template.unlink(missing_ok=True)
    try:
        subprocess.run(
            [require_runc(), "spec"], cwd=bundle, check=True, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise AppError("`runc spec` failed; check the runc installation") from exc
    config: dict[str, Any] = json.loads(template.read_text())
    process = config["process"]
    process["terminal"] = False
    process["args"] = args
    process["cwd"] = cwd
    process["user"] = {"uid": NONROOT_UID, "gid": NONROOT_UID}
    base_env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": f"/{WORK}/home",
        "LANG": "C.UTF-8",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if network:
        base_env.update({k: v for k, v in os.environ.items() if k in PROXY_VARS})
        if Path("/", HOST_CA).is_file():
            for var in ("SSL_CERT_FILE", "PIP_CERT", "NPM_CONFIG_CAFILE"):
                base_env[var] = f"/{BUILD_CA}"
    base_env.update(env)
    process["env"] = [f"{k}={v}" for k, v in base_env.items()]
    process["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 8192, "soft": 8192}]
    config["root"] = {"path": "rootfs", "readonly": False}
    config["hostname"] = "hardbase-build"
    if network:
        config["linux"]["namespaces"] = [
            ns for ns in config["linux"]["namespaces"] if ns["type"] != "network"
        ]
        binds = [(f"/{name}", f"/{name}") for name in HOST_FILES]
        binds.append((f"/{HOST_CA}", f"/{BUILD_CA}"))
        for source, destination in binds:
            if Path(source).is_file():
                config["mounts"].append(
                    {
                        "destination": destination,
                        "type": "bind",
                        "source": source,
                        "options": ["rbind", "ro"],
                    }
                )
    return config


def _give(top: Path) -> None:
    os.chown(top, NONROOT_UID, NONROOT_UID)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.chown(Path(dirpath) / name, NONROOT_UID, NONROOT_UID, follow_symlinks=False)


def populate(path: Path, contents: list[PackageContents], arch: str) -> None:
    """Write the skeleton, `contents` and the bind-mount targets below the empty dir `path`."""
    entries = skeleton_entries(arch, 0)
    entries += [e for pkg in contents for e in pkg.entries]
    entries += generated_entries(contents, 0)
    with RootDir(path) as tree:
        write_entries(tree, entries)
        try:
            for scratch in (WORK, f"{WORK}/home"):
                tree.mkdir(scratch, 0o755, uid=NONROOT_UID, gid=NONROOT_UID)
            for name in (*HOST_FILES, BUILD_CA):
                tree.ensure_file(name)  # bind-mount targets
        except RootPathError as exc:
            raise AppError(f"the build root cannot be prepared: {exc}") from None


def write_entries(tree: RootDir, entries: list[Entry]) -> None:
    """Write image entries below `tree`, refusing any that would go through a symlink."""
    for entry in entries:
        try:
            if entry.kind == DIR:
                tree.mkdir(entry.path, entry.mode)
            elif entry.kind == SYMLINK:
                tree.symlink(entry.path, entry.target)
            else:
                with entry.open() as content:
                    tree.write(entry.path, content, entry.mode)
        except RootPathError as exc:
            raise AppError(
                f"{entry.owner or 'hardbase'} cannot be unpacked into the build root: {exc}; "
                "a package must not ship files below a symlink"
            ) from None
