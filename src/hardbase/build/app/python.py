"""Python apps: a pinned requirements file, resolved and installed by the image's own pip.

Locking runs `pip install --dry-run --report` with `--only-binary=:all:` in the
build root (the image's python3 plus Debian's python3-pip), so pip picks the
wheels the image's interpreter and libc accept, and checks the requirements'
hashes (pip downloads every file when hashes are given). The lock keeps each
wheel's URL and sha256. Building installs exactly those wheels, offline, with
`--no-index --no-deps --require-hashes --no-compile` into /usr/local (Debian's
site directory for local packages): no .pyc, no caches, no build tools.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hardbase.build.app.interface import LOCK_KIND_PYTHON, AppError, AppPackage
from hardbase.build.app.model import PythonAppModel
from hardbase.build.app.paths import spec_relative
from hardbase.build.app.sandbox import WORK, BuildRoot
from hardbase.util import jsondoc, names

log = logging.getLogger(__name__)

PIP = [
    "/usr/bin/python3",
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--no-input",
    "--no-cache-dir",
    "--break-system-packages",  # the build root is thrown away; the image has no pip
    "--only-binary=:all:",
]
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_VERSIONS = re.compile(
    r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)"
)
_HASH_LINE = re.compile(r"^\s+(\S+) from (\S+)", re.MULTILINE)


class PythonBackend:
    kind = LOCK_KIND_PYTHON
    lock_needs_root = True

    def __init__(self, spec_path: Path, model: PythonAppModel, context: str | None = None) -> None:
        self.spec_path = spec_path
        self.requirements = spec_relative(spec_path, model.requirements, "requirements", context)
        if not self.requirements.is_file():
            raise AppError(f"{spec_path}: app requirements '{model.requirements}' is not a file")

    def build_roots(self) -> tuple[str, ...]:
        return ("python3-pip",)

    def inputs(self) -> dict[str, str]:
        return {"requirements": hashlib.sha256(self.requirements.read_bytes()).hexdigest()}

    def lock(self, root: BuildRoot | None, arch: str) -> list[AppPackage]:
        if root is None:  # build_roots() names python3-pip, so the builder makes one
            raise AppError(
                "the python app backend pins its packages in a build root; none was given"
            )
        shutil.copyfile(self.requirements, root.work / "requirements.txt")
        result = root.run(
            [
                *PIP,
                "--dry-run",
                "--ignore-installed",
                "--report",
                f"/{WORK}/report.json",
                "-r",
                f"/{WORK}/requirements.txt",
            ],
            network=True,
            what=f"pip resolving {self.requirements.name}",
        )
        if result.returncode != 0:
            raise self._pip_error(result.stderr, root, arch)
        try:
            report = jsondoc.loads((root.work / "report.json").read_bytes())
            return [self._package(item) for item in report["install"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AppError(
                f"pip's installation report for {self.requirements} is unreadable"
            ) from exc

    def _package(self, item: dict[str, Any]) -> AppPackage:
        info = item["download_info"]
        url = str(info["url"])
        archive = info.get("archive_info")
        if archive is None or item.get("is_direct"):
            raise AppError(
                f"{self.requirements}: {url} is a direct or local reference; "
                "pin releases from the package index"
            )
        hashes = archive.get("hashes") or {}
        sha256 = hashes.get("sha256") or str(archive.get("hash", "")).removeprefix("sha256=")
        if not names.SHA256.allows(sha256):
            raise AppError(f"{self.requirements}: the index gave no sha256 for {url}")
        # decoded before it is split, so an encoded '/' (%2F) cannot survive into the name
        filename = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
        if not filename.endswith(".whl"):
            raise AppError(
                f"{self.requirements}: {filename} is not a wheel; pin a release with one"
            )
        meta = item["metadata"]
        return AppPackage(str(meta["name"]), str(meta["version"]), url, sha256, filename)

    def _pip_error(self, stderr: str, root: BuildRoot, arch: str) -> AppError:
        where = self.requirements.name
        python = _python_version(root)
        if "DO NOT MATCH THE HASHES" in stderr:
            match = _HASH_LINE.search(stderr.split("DO NOT MATCH THE HASHES", 1)[1])
            what = f"{match.group(1)} ({match.group(2)})" if match else "a downloaded file"
            return AppError(
                f"{where}: {what} does not match the hash pinned for it; "
                "fix the --hash line or the version pin"
            )
        if "Hashes are required in --require-hashes mode" in stderr:
            return AppError(
                f"{where} pins hashes for some requirements but not all (pip requires every "
                "dependency pinned with --hash once one is); add the missing ones"
            )
        versions = _VERSIONS.search(stderr)
        if versions:
            req, available = versions.group(1), versions.group(2).strip()
            if available == "none":
                return AppError(
                    f"{where}: '{req}' has no wheel on the package index for the image's "
                    f"Python {python} ({arch}): check the name, or pin a release with a wheel"
                )
            return AppError(
                f"{where}: no wheel of '{req}' fits the image's Python {python} ({arch}); "
                f"releases with one: {available[-80:]}"
            )
        match = _NO_MATCH.search(stderr)
        if match:
            return AppError(f"{where}: '{match.group(1)}' is not on the package index")
        errors = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
        detail = errors[-1] if errors else (stderr.strip().splitlines() or ["no output"])[-1]
        return AppError(f"pip could not resolve {where}: {detail.removeprefix('ERROR: ')}")

    def install(self, root: BuildRoot, packages: list[AppPackage], files: dict[str, Path]) -> Path:
        wheels = root.work / "wheels"
        wheels.mkdir()
        lines = []
        for pkg in packages:
            name = names.component(pkg.filename, f"wheel file name of {pkg.name}")
            shutil.copyfile(files[pkg.sha256], wheels / name)
            lines.append(f"{pkg.name}=={pkg.version} --hash=sha256:{pkg.sha256}\n")
        (root.work / "pinned.txt").write_text("".join(lines))
        out = root.work / "out"
        result = root.run(
            [
                *PIP,
                "--no-index",
                f"--find-links=/{WORK}/wheels",
                "--no-deps",
                "--ignore-installed",  # the build root's own Debian packages (pip's) stay out
                "--require-hashes",
                "--no-compile",
                "--no-warn-script-location",
                f"--root=/{WORK}/out",
                "-r",
                f"/{WORK}/pinned.txt",
            ],
            network=False,
            what="pip installing the locked wheels",
        )
        if result.returncode != 0:
            errors = [ln for ln in result.stderr.splitlines() if ln.lower().startswith("error")]
            detail = errors[-1] if errors else "see --debug"
            raise AppError(f"pip could not install the locked wheels: {detail}")
        return out


def _python_version(root: BuildRoot) -> str:
    try:
        target = (root.path / "usr/bin/python3").readlink()
    except OSError:
        return "3"
    return str(target).removeprefix("python")
