"""Hermetic build roots for rebuilding Debian packages, and builds in them.

A build root is the Essential set, build-essential and fakeroot plus a source
package's Build-Depends (and Build-Depends-Arch), resolved by hardbase's resolver
against the release's signed indexes into an exact list of `name:arch=version`
(sha256) lines. The root is cached by the sha256 of that list: `mmdebstrap
--variant=custom` installs exactly those versions (apt verifies the same
InRelease files with the same keyrings), the result is checked against the
list, and the tarball is kept under the cache. A second build with the same
list unpacks the cached tarball.

Builds run `dpkg-buildpackage -B` under runc as an unprivileged user in their
own network namespace (no network), with `SOURCE_DATE_EPOCH` from the changelog,
a fixed build path and hostname, and DEB_BUILD_OPTIONS without `nocheck` so the
package's own tests run where its rules have them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbase.debian.control import parse_control
from hardbase.debian.index import PackageIndex, parse_relations
from hardbase.debian.model import BinaryPackage, SourceEntry
from hardbase.debian.resolver import resolve
from hardbase.errors import BuildError, HardbaseError, ResolveError
from hardbase.util.fs import file_hash

log = logging.getLogger(__name__)

# Bump when what goes into a root besides its package list changes (the hooks below).
ROOT_FORMAT = 1
BUILD_UID = 1000
BUILD_USER = "hbbuild"
BUILD_HOME = "/build"
BASE_PACKAGES = ("build-essential", "fakeroot")
CREATE_TIMEOUT = 1800.0
BUILD_TIMEOUT = 3600.0
_SYNTHETIC = "hardbase-build-depends"
_CONTAINER_PREFIX = "hardbase-debbuild-"
_CONTAINER = re.compile(re.escape(_CONTAINER_PREFIX) + r"([0-9]+)-[0-9a-f]{12}")
_PROFILES = re.compile(r"<([^>]*)>")


class BuildRootError(HardbaseError):
    """A build root could not be resolved or created."""


class BuildFailed(BuildError):
    """`dpkg-buildpackage` failed; the log is kept."""

    def __init__(self, message: str, log_path: Path) -> None:
        super().__init__(message)
        self.log_path = log_path


@dataclass(frozen=True)
class RootPlan:
    """The exact packages of a build root and the key it is cached by."""

    packages: tuple[BinaryPackage, ...]  # sorted by name
    arch: str
    release: str

    def lines(self) -> list[str]:
        return [f"{p.name}:{p.arch}={p.version} {p.sha256}" for p in self.packages]

    @property
    def key(self) -> str:
        text = f"hardbase build root {ROOT_FORMAT} {self.release} {self.arch}\n"
        return hashlib.sha256((text + "\n".join(self.lines()) + "\n").encode()).hexdigest()


@dataclass(frozen=True)
class BuildRoot:
    """A created (or cached) build root: its tarball and whether this call made it."""

    plan: RootPlan
    tarball: Path
    sha256: str  # of the tarball
    cached: bool
    seconds: float


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: the binary packages and the records around them."""

    debs: tuple[Path, ...]
    buildinfo: Path | None
    changes: Path | None
    log: Path
    seconds: float


def without_profiles(text: str, profiles: Sequence[str] = ()) -> str:
    """A Build-Depends field with build-profile restrictions evaluated for `profiles`.

    An alternative with `<...>` formulas stays when one formula holds (`<!nocheck>`
    holds with no profile active); the formulas are removed from the text.
    """
    active = set(profiles)
    groups = []
    for group in text.split(","):
        kept = []
        for alternative in group.split("|"):
            formulas = _PROFILES.findall(alternative)
            if formulas and not any(_holds(f, active) for f in formulas):
                continue
            kept.append(_PROFILES.sub("", alternative).strip())
        kept = [k for k in kept if k]
        if kept:
            groups.append(" | ".join(kept))
    return ", ".join(groups)


def _holds(formula: str, active: set[str]) -> bool:
    for term in formula.split():
        negated = term.startswith("!")
        if (term.lstrip("!") in active) == negated:
            return False
    return True


def plan_root(index: PackageIndex, build_depends: str, *, arch: str, release: str) -> RootPlan:
    """Resolve the Essential set, build-essential, fakeroot and `build_depends` exactly."""
    text = without_profiles(build_depends)
    try:
        parse_relations(text)
    except HardbaseError as exc:
        raise BuildRootError(f"the Build-Depends {build_depends!r} cannot be parsed") from exc
    essential = sorted({p.name for p in index.packages() if p.essential})
    if not essential:
        raise BuildRootError(f"the {release} indexes list no Essential package; is it Debian?")
    synthetic = BinaryPackage(
        name=_SYNTHETIC, version="0", arch=arch, source=_SYNTHETIC, source_version="0",
        filename="", sha256="0" * 64, size=0, base_uri="", suite="(Build-Depends)",
        depends=", ".join(filter(None, [*BASE_PACKAGES, text])),
    )  # fmt: skip
    index.add(synthetic)
    try:
        resolution = resolve(index, [*essential, _SYNTHETIC], arch, drops=())
    except ResolveError as exc:
        raise BuildRootError(f"the build root for {release} cannot be resolved: {exc}") from None
    packages = tuple(p for p in resolution.packages if p.name != _SYNTHETIC)
    return RootPlan(packages=packages, arch=arch, release=release)


def _sources_lines(entries: Sequence[SourceEntry]) -> list[str]:
    return [
        f"deb [signed-by={entry.signed_by}] {uri} {suite} {' '.join(entry.components)}"
        for entry in entries
        for uri in entry.uris
        for suite in entry.suites
    ]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_root(plan: RootPlan, entries: Sequence[SourceEntry], cache_dir: Path) -> BuildRoot:
    """The build root of `plan`: the cached tarball, or a new one from mmdebstrap."""
    store = cache_dir / "buildroots"
    tarball = store / f"{plan.key}.tar"
    started = time.monotonic()
    with _locked(store / f"{plan.key}.lock"):
        if tarball.is_file():
            log.info("build root %s is cached", plan.key[:12])
            return BuildRoot(plan, tarball, file_hash(tarball), True, time.monotonic() - started)
        mmdebstrap = shutil.which("mmdebstrap")
        if mmdebstrap is None:
            raise BuildRootError(
                "build roots are made with mmdebstrap, which is not installed; "
                "install it (apt-get install mmdebstrap)"
            )
        store.mkdir(parents=True, exist_ok=True)
        partial = store / f".{plan.key}.{os.getpid()}.tar"
        include = ",".join(f"{p.name}={p.version}" for p in plan.packages)
        passwd = f"{BUILD_USER}:x:{BUILD_UID}:{BUILD_UID}::{BUILD_HOME}:/bin/sh"
        hooks = [
            f'echo "{passwd}" >> "$1/etc/passwd"',
            f'echo "{BUILD_USER}:x:{BUILD_UID}:" >> "$1/etc/group"',
            f'mkdir -p "$1{BUILD_HOME}"',
        ]  # fmt: skip
        args = [
            mmdebstrap, "--variant=custom", f"--include={include}", f"--architectures={plan.arch}",
            "--format=tar", "--quiet",
            *[f"--customize-hook={hook}" for hook in hooks],
            plan.release, str(partial), *_sources_lines(entries),
        ]  # fmt: skip
        log.info("creating build root %s (%d packages)", plan.key[:12], len(plan.packages))
        try:
            proc = subprocess.run(
                args, capture_output=True, text=True, timeout=CREATE_TIMEOUT,
                stdin=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C.UTF-8"},
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            partial.unlink(missing_ok=True)
            raise BuildRootError(f"mmdebstrap could not create the {plan.release} root") from exc
        if proc.returncode != 0:
            partial.unlink(missing_ok=True)
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise BuildRootError(f"mmdebstrap failed to create the {plan.release} root: {tail}")
        try:
            _check_installed(partial, plan)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        (store / f"{plan.key}.list").write_text("\n".join(plan.lines()) + "\n")
        os.replace(partial, tarball)
        return BuildRoot(plan, tarball, file_hash(tarball), False, time.monotonic() - started)


def _check_installed(tarball: Path, plan: RootPlan) -> None:
    """The root must hold exactly the planned packages (apt must not have chosen others)."""
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("./var/lib/dpkg/status")
        status = member.read().decode() if member else ""
    installed = {
        f"{fields.get('Package')}={fields.get('Version')}"
        for fields in parse_control(status)
        if "installed" in fields.get("Status", "").split()
    }
    wanted = {f"{p.name}={p.version}" for p in plan.packages}
    if installed != wanted:
        extra = sorted(installed - wanted)[:5]
        missing = sorted(wanted - installed)[:5]
        raise BuildRootError(
            f"the created build root differs from its resolved package list "
            f"(extra: {', '.join(extra) or 'none'}; missing: {', '.join(missing) or 'none'})"
        )


# -- building ------------------------------------------------------------------------------


def build_in_root(
    root: BuildRoot,
    tree: Path,
    files: Sequence[Path],
    *,
    epoch: int,
    output: Path,
    log_path: Path,
    timeout: float = BUILD_TIMEOUT,
) -> BuildResult:
    """`dpkg-buildpackage -B` of the source `tree` (beside its `files`) in a copy of `root`.

    The tree and files are copied to /build in a fresh unpacking of the root's
    tarball; the .debs, .buildinfo and .changes are copied to `output`; the log
    goes to `log_path` whatever happens. BuildFailed names the log.
    """
    runc = shutil.which("runc")
    if runc is None:
        raise BuildRootError("builds run under runc, which is not installed (apt-get install runc)")
    started = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    reap_stale_builds(runc)
    with tempfile.TemporaryDirectory(prefix="hardbase-build-", dir=output.parent) as scratch:
        bundle = Path(scratch)
        rootfs = bundle / "rootfs"
        rootfs.mkdir()
        _unpack(root.tarball, rootfs)
        work = rootfs / BUILD_HOME.lstrip("/")
        work.mkdir(exist_ok=True)
        shutil.copytree(tree, work / tree.name, symlinks=True)
        for file in files:
            shutil.copy2(file, work / file.name)
        _give(work)
        script = (
            f"cd {BUILD_HOME}/{tree.name} && "
            f"dpkg-buildpackage -B -us -uc > {BUILD_HOME}/build.log 2>&1"
        )
        config = _config(runc, bundle, ["/bin/sh", "-c", script], epoch)
        (bundle / "config.json").write_text(json.dumps(config))
        name = f"{_CONTAINER_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            proc = subprocess.run(
                [runc, "run", "--bundle", str(bundle), name],
                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            proc = None
        except OSError as exc:
            raise BuildRootError("cannot start runc for the build") from exc
        finally:
            subprocess.run([runc, "delete", "--force", name], capture_output=True, check=False)
        built_log = work / "build.log"
        text = built_log.read_bytes() if built_log.is_file() else b""
        if proc is not None and proc.stderr:
            text += proc.stderr.encode()
        log_path.write_bytes(text)
        if proc is None:
            raise BuildFailed(
                f"the build took longer than {timeout:.0f} s and was stopped; its log is "
                f"{log_path}",
                log_path,
            )
        if proc.returncode != 0:
            last = (text.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise BuildFailed(
                f"dpkg-buildpackage failed ({last.strip()[:160]}); the whole log is {log_path}",
                log_path,
            )
        output.mkdir(parents=True, exist_ok=True)
        debs = []
        buildinfo = changes = None
        for path in sorted(work.iterdir()):
            if path.suffix in (".deb", ".buildinfo", ".changes") and path.is_file():
                target = output / path.name
                shutil.copy2(path, target)
                if path.suffix == ".deb":
                    debs.append(target)
                elif path.suffix == ".buildinfo":
                    buildinfo = target
                else:
                    changes = target
        if not debs:
            raise BuildFailed(f"the build made no .deb; its log is {log_path}", log_path)
        return BuildResult(tuple(debs), buildinfo, changes, log_path, time.monotonic() - started)


def reap_stale_builds(runc: str) -> list[str]:
    """Delete the build containers of hardbase processes that are gone, and their bundles.

    A build's container outlives a hardbase process killed mid-build (SIGKILL gives
    it no chance to stop runc) and runs on until its build ends: its name carries the
    pid of the process that started it, so the next build stops and deletes each one
    whose process is dead, and removes its bundle (the unpacked root and tree). A
    bundle whose container already ended lies in the killed run's work directory
    (`patch.build.scratch_dir` removes the default one). Returns the names deleted.
    """
    proc = subprocess.run([runc, "list", "--format", "json"], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    if proc.returncode != 0:
        log.warning("runc list failed; stale build containers are not reaped")
        return []
    try:
        containers = json.loads(proc.stdout or "null") or []
    except json.JSONDecodeError:
        return []
    reaped = []
    for container in containers if isinstance(containers, list) else []:
        name = str(container.get("id", "")) if isinstance(container, dict) else ""
        match = _CONTAINER.fullmatch(name)
        if match is None or process_alive(int(match.group(1))):
            continue
        subprocess.run([runc, "delete", "--force", name], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL)  # fmt: skip
        bundle = Path(str(container.get("bundle", "")))
        if bundle.name.startswith("hardbase-build-") and (bundle / "config.json").is_file():
            shutil.rmtree(bundle, ignore_errors=True)
        log.info("deleted the stale build container %s and its bundle %s", name, bundle)
        reaped.append(name)
    return reaped


def process_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this host (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unpack(tarball: Path, rootfs: Path) -> None:
    try:
        subprocess.run(
            ["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(rootfs),
             "--exclude=./dev/*"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise BuildRootError(f"cannot unpack the build root {tarball}") from exc


def _give(top: Path) -> None:
    os.chown(top, BUILD_UID, BUILD_UID)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.chown(Path(dirpath) / name, BUILD_UID, BUILD_UID, follow_symlinks=False)


def _config(runc: str, bundle: Path, args: list[str], epoch: int) -> dict[str, Any]:
    try:
        subprocess.run([runc, "spec"], cwd=bundle, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildRootError("`runc spec` failed; check the runc installation") from exc
    config: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    process = config["process"]
    process["terminal"] = False
    process["args"] = args
    process["cwd"] = BUILD_HOME
    process["user"] = {"uid": BUILD_UID, "gid": BUILD_UID}
    process["env"] = [
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        f"HOME={BUILD_HOME}",
        f"USER={BUILD_USER}",
        f"LOGNAME={BUILD_USER}",
        "LANG=C.UTF-8",
        "TZ=UTC",
        f"SOURCE_DATE_EPOCH={epoch}",
        f"DEB_BUILD_OPTIONS=parallel={os.cpu_count() or 1}",
    ]
    process["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 8192, "soft": 8192}]
    config["root"] = {"path": "rootfs", "readonly": False}
    config["hostname"] = "hardbase-build"
    # runc's default namespaces include "network": the build has only a loopback-less netns.
    namespaces = config.get("linux", {}).get("namespaces", [])
    if not any(isinstance(ns, dict) and ns.get("type") == "network" for ns in namespaces):
        raise BuildRootError(
            "`runc spec` gave no network namespace, so the build could reach the network; "
            "check the runc installation"
        )
    return config
