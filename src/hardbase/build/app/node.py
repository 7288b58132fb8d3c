"""Node apps: a package-lock.json installed by the image's own npm (`npm ci --omit=dev`).

package-lock.json (lockfileVersion 2 or 3) already pins every package with its
tarball URL and integrity hash, so locking reads it, downloads each tarball
once, checks the integrity and records its sha256. Building copies the pinned
tarballs into the build root (the image's nodejs plus Debian's npm), points
the lockfile's `resolved` fields at them and runs `npm ci --offline
--ignore-scripts` without network: npm lays out node_modules exactly as the
lockfile says. Install scripts do not run, so packages that compile native
addons at install time are not supported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from hardbase.build.app.interface import LOCK_KIND_NODE, AppError, AppPackage
from hardbase.build.app.model import NodeAppModel
from hardbase.build.app.paths import spec_relative
from hardbase.build.app.sandbox import WORK, BuildRoot
from hardbase.build.app.store import fetch_unpinned
from hardbase.util import jsondoc, names

log = logging.getLogger(__name__)

REGISTRY = "https://registry.npmjs.org"
NPM = ["/usr/bin/node", "/usr/share/nodejs/npm/bin/npm-cli.js"]
NODE_ARCH = {"amd64": "x64", "arm64": "arm64"}
HIDDEN_LOCKFILE = "node_modules/.package-lock.json"  # npm's cache of the tree; names build paths


class NodeBackend:
    kind = LOCK_KIND_NODE
    lock_needs_root = False

    def __init__(
        self, spec_path: Path, model: NodeAppModel, target: str, context: str | None = None
    ) -> None:
        self.spec_path = spec_path
        self.lockfile = spec_relative(spec_path, model.lockfile, "lockfile", context)
        self.manifest = self.lockfile.with_name("package.json")
        if not self.lockfile.is_file() or not self.manifest.is_file():
            raise AppError(
                f"{spec_path}: app lockfile '{model.lockfile}' needs a package.json beside it"
            )
        self.omit_dev = model.omit_dev
        self.target = target  # the directory that gets node_modules/

    def build_roots(self) -> tuple[str, ...]:
        return ("npm",)

    def inputs(self) -> dict[str, str]:
        return {
            "lockfile": hashlib.sha256(self.lockfile.read_bytes()).hexdigest(),
            "package.json": hashlib.sha256(self.manifest.read_bytes()).hexdigest(),
            "omit-dev": str(self.omit_dev),
            "target": self.target,
        }

    def _read_lockfile(self) -> dict[str, Any]:
        try:
            doc = jsondoc.loads(self.lockfile.read_bytes())
        except (OSError, ValueError) as exc:
            raise AppError(f"{self.lockfile} is not valid JSON") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("packages"), dict):
            raise AppError(
                f"{self.lockfile} has no 'packages' map (lockfileVersion 2 or 3); "
                "regenerate it with npm 7 or later"
            )
        return doc

    def lock(self, root: BuildRoot | None, arch: str) -> list[AppPackage]:
        out = []
        for path, entry in sorted(self._read_lockfile()["packages"].items()):
            if not path or not isinstance(entry, dict) or not self._wanted(path, entry, arch):
                continue
            if entry.get("link"):
                raise AppError(f"{self.lockfile}: {path} is a link (workspace); not supported")
            name = str(entry.get("name") or path.rsplit("node_modules/", 1)[-1])
            version = entry.get("version")
            integrity = entry.get("integrity")
            if not isinstance(version, str) or not isinstance(integrity, str):
                raise AppError(
                    f"{self.lockfile}: {path} has no version or integrity; "
                    "regenerate the lockfile from the registry"
                )
            url = entry.get("resolved") or _registry_url(name, version)
            sha256, size = fetch_unpinned(str(url), integrity, f"{name} {version}")
            filename = f"{name.replace('/', '-').lstrip('@')}-{version}.tgz"
            out.append(AppPackage(name, version, str(url), sha256, filename, size, integrity, path))
        return out

    def _wanted(self, path: str, entry: dict[str, Any], arch: str) -> bool:
        if self.omit_dev and entry.get("dev"):
            return False
        if entry.get("optional"):
            # optional packages for another platform are skipped, as npm does
            for field, value in (("os", "linux"), ("cpu", NODE_ARCH.get(arch, arch))):
                allowed = entry.get(field)
                if isinstance(allowed, list) and not _allows(allowed, value):
                    return False
        return True

    def install(self, root: BuildRoot, packages: list[AppPackage], files: dict[str, Path]) -> Path:
        project = root.work / "project"
        tarballs = root.work / "tarballs"
        project.mkdir()
        tarballs.mkdir()
        doc = self._read_lockfile()
        pinned = {p.path: p for p in packages}
        for path, entry in doc["packages"].items():
            pkg = pinned.get(path)
            if pkg is not None and isinstance(entry, dict):
                sha = names.sha256_hex(pkg.sha256, f"sha256 of {pkg.name}")
                shutil.copyfile(files[sha], tarballs / f"{sha}.tgz")
                entry["resolved"] = f"file:../tarballs/{sha}.tgz"
                entry["integrity"] = pkg.integrity
        (project / "package-lock.json").write_text(json.dumps(doc, indent=2))
        shutil.copyfile(self.manifest, project / "package.json")
        for name in ("npmrc", "npmrc-global"):
            (root.work / name).write_text("")
        args = [*NPM, "ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"]
        if self.omit_dev:
            args.append("--omit=dev")
        result = root.run(
            [*args, f"--cache=/{WORK}/npm-cache", "--update-notifier=false"],
            network=False,
            what="npm ci with the locked tarballs",
            cwd=f"/{WORK}/project",
            env={
                "NPM_CONFIG_USERCONFIG": f"/{WORK}/npmrc",
                "NPM_CONFIG_GLOBALCONFIG": f"/{WORK}/npmrc-global",
            },
        )
        if result.returncode != 0:
            errors = [ln for ln in result.stderr.splitlines() if ln.startswith("npm ERR!")]
            detail = errors[0].removeprefix("npm ERR! ") if errors else "see --debug"
            raise AppError(f"npm ci failed for {self.lockfile.name}: {detail}")
        (project / HIDDEN_LOCKFILE).unlink(missing_ok=True)
        out = root.work / "out"
        dest = out / self.target.lstrip("/") / "node_modules"
        dest.parent.mkdir(parents=True)
        if (project / "node_modules").is_dir():
            shutil.move(project / "node_modules", dest)
        return out


def _allows(allowed: list[Any], value: str) -> bool:
    if any(a == f"!{value}" for a in allowed):
        return False
    positive = [a for a in allowed if isinstance(a, str) and not a.startswith("!")]
    return not positive or value in positive


def _registry_url(name: str, version: str) -> str:
    # lockfiles written with omit-lockfile-registry-resolved leave out the registry's URL
    return f"{REGISTRY}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
