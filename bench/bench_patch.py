"""Source-level patching of the real case: sqlite3 on bookworm, CVE-2026-11822/11824.

Measures, with an empty cache: `hardbase source fetch sqlite3 --release bookworm`;
the hermetic build root (resolve + mmdebstrap, cold, then cached); the patched
build (`hardbase patch build`, root cached: patch, changelog, dpkg-source -b,
dpkg-buildpackage -B under runc, publish to REPO); and the rebuild of the
bookworm python3 image from Debian plus REPO. Takes about 12 minutes here.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from common import Result, sh

from hardbase.build.spec import MIRROR, SECURITY_MIRROR
from hardbase.debian.archive import Archive
from hardbase.patch.buildroot import ensure_root, plan_root
from hardbase.patch.trees import Archives
from hardbase.repo.serve import RepoServer


def _seconds(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def run(work: Path) -> list[Result]:
    cache = work / "cache"
    env = {"HARDBASE_CACHE": str(cache)}
    results = []
    fetch = _seconds(lambda: sh("hardbase", "-q", "source", "fetch", "sqlite3", "--release",
                                "bookworm", "--output", work / "src", env=env))  # fmt: skip
    results.append(Result("source fetch sqlite3 (bookworm), cold", fetch, "s"))
    dsc = next((work / "src").glob("*.dsc")).read_text()
    build_depends = dsc.split("Build-Depends: ", 1)[1].split("\n", 1)[0]
    entries = Archives().release("bookworm")
    start = time.perf_counter()
    index, _ = Archive(entries, cache_dir=cache / "archive").load(["amd64"])
    plan = plan_root(index, build_depends, arch="amd64", release="bookworm")
    resolved = time.perf_counter() - start
    cold = ensure_root(plan, entries, cache)
    warm = ensure_root(plan, entries, cache)
    results += [
        Result("build root: resolve Build-Depends", resolved, "s", f"{len(plan.packages)} pkgs"),
        Result("build root: mmdebstrap, cold", cold.seconds, "s"),
        Result("build root: cached", warm.seconds, "s"),
    ]
    sh("hardbase", "-q", "repo", "keygen", "--no-password", work / "archive", env=env)
    build = _seconds(lambda: sh(
        "hardbase", "-q", "patch", "build", "sqlite3", "--release", "bookworm",
        "--cve", "CVE-2026-11822", "--cve", "CVE-2026-11824", "--repo", work / "repo",
        "--key", work / "archive.key", env=env,
    ))  # fmt: skip
    results.append(Result("patch build sqlite3 (root cached, publish)", build, "s"))
    with RepoServer(work / "repo") as server:
        spec = work / "py.yaml"
        spec.write_text(yaml.safe_dump({
            "name": "py", "release": "bookworm", "extends": "python3",
            "sources": [
                {"uris": [MIRROR], "suites": ["bookworm", "bookworm-updates"]},
                {"uris": [SECURITY_MIRROR], "suites": ["bookworm-security"]},
                {"uris": [server.url], "suites": ["bookworm-hardbase"],
                 "signed-by": str(work / "archive.gpg")},
            ],
        }))  # fmt: skip
        image = _seconds(lambda: sh("hardbase", "-q", "build", spec, "--output", work / "img",
                                    env=env))  # fmt: skip
    results.append(Result("image rebuild python3 (Debian + REPO)", image, "s"))
    total = warm.seconds + build + image
    results.append(Result("cached root + build + image (target < 300 s)", total, "s"))
    return results
