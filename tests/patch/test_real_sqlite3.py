"""The real case, end to end: sqlite3 on bookworm, CVE-2026-11822 and CVE-2026-11824.

Found from the Debian archive alone (docs/patching.md): bookworm's newest sqlite3,
3.40.1-2+deb12u2, names neither CVE, while trixie's 3.46.1-7+deb13u2 carries
debian/patches/54-CVE-2026-11822_CVE-2026-11824.patch, upstream SQLite commit
79db323ce14923a1bcc7b3b72679003c14c1cd7f ("Fix potential buffer overwrite that
could occur in fts5 when processing corrupt records").

Fetch, find, build (hermetic root, sqlite3's rules run), publish to REPO, build
the bookworm python3 image from Debian plus REPO, run it with runc and drive the
patched FTS5 code from Python's sqlite3 module (tests/data/patch/
fts5_corrupt_record.py, a transcription of SQLite's own regression test): the
image with Debian's library aborts on heap corruption, the rebuilt one reports
the record as corrupt. The rebuilt .debs carry their pedigree (Hardbase-* control
fields); the image's SBOMs name Debian's libsqlite3-0 as the ancestor and the patch
(CycloneDX pedigree, SPDX PATCH_FOR), `build --sign-key` attaches OpenVEX `fixed`
for both CVEs, and the provenance is in REPO, signed with the archive key. A second
build of the same inputs gives byte-identical .debs. Needs deb.debian.org, mmdebstrap,
runc and umoci; about 25 minutes here.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_pedigree import attestations

from hardbase.attest.names import OPENVEX_V020
from hardbase.build.spec import MIRROR, SECURITY_MIRROR
from hardbase.cli.main import main
from hardbase.repo.serve import RepoServer
from hardbase.util.fs import file_hash
from peers import runc_run, unpack
from sbom.sbom_support import cdx_errors, spdx_errors  # noqa: F401 (session fixtures)

# Two sqlite3 builds of about 8 minutes each on this machine: over the suite-wide 900 s.
pytestmark = [pytest.mark.archive, pytest.mark.slow, pytest.mark.timeout(3000)]

DATA = Path(__file__).parents[1] / "data" / "patch"
VERSION = "3.40.1-2+deb12u2+hb1"
PATCH = "54-CVE-2026-11822_CVE-2026-11824.patch"
LIB = "usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"


def _spec(tmp: Path, name: str, repo_url: str | None, keyring: Path | None) -> Path:
    sources = [
        {"uris": [MIRROR], "suites": ["bookworm", "bookworm-updates"]},
        {"uris": [SECURITY_MIRROR], "suites": ["bookworm-security"]},
    ]
    if repo_url is not None:
        sources.append(
            {"uris": [repo_url], "suites": ["bookworm-hardbase"], "signed-by": str(keyring)}
        )
    path = tmp / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": name, "release": "bookworm", "extends": "python3", "sources": sources}
        )
    )
    return path


def _exercise(layout: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    rootfs = unpack(layout, "latest", bundle)
    shutil.copy(DATA / "fts5_corrupt_record.py", rootfs / "tmp" / "fts5.py")
    (rootfs / "tmp").chmod(0o1777)
    return runc_run(bundle, ["/usr/bin/python3", "/tmp/fts5.py", "/tmp/fts.db"])


def test_sqlite3_fixed_from_source_into_hardbases_archive_and_the_image(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    cdx_errors: Any,  # noqa: F811
    spdx_errors: Any,  # noqa: F811
) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache"), "-q"]
    assert main(["-q", "repo", "keygen", "--no-password", str(tmp_path / "archive")]) == 0
    key, keyring = tmp_path / "archive.key", tmp_path / "archive.gpg"

    # find: Debian's trixie patch, applying to bookworm's tree
    find = subprocess.run(
        ["python3", "-m", "hardbase", *cache, "patch", "find", "sqlite3", "CVE-2026-11822",
         "--release", "bookworm", "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert find.returncode == 0, find.stderr
    doc = json.loads(find.stdout)
    assert (doc["source"], doc["version"]) == ("sqlite3", "3.40.1-2+deb12u2")
    first = doc["candidates"][0]
    assert first["patch"] == PATCH and first["kind"] == "debian" and first["applies"]
    assert first["from"]["suite"] == "trixie" and first["from"]["version"] == "3.46.1-7+deb13u2"
    assert first["upstream"] == "commit 79db323ce14923a1bcc7b3b72679003c14c1cd7f"
    assert first["fixes"] == ["CVE-2026-11822", "CVE-2026-11824"]

    # build: into REPO, and once more without publishing, for reproducibility
    repo = tmp_path / "repo"
    args = ["patch", "build", "sqlite3", "--release", "bookworm", "--cve", "CVE-2026-11822",
            "--cve", "CVE-2026-11824"]  # fmt: skip
    assert main([*cache, *args, "--repo", str(repo), "--key", str(key),
                 "--work", str(tmp_path / "w1")]) == 0  # fmt: skip
    assert main([*cache, *args, "--revision", "1", "--work", str(tmp_path / "w2")]) == 0
    one = sorted((tmp_path / "w1" / "out").glob("*.deb"))
    two = sorted((tmp_path / "w2" / "out").glob("*.deb"))
    assert f"libsqlite3-0_{VERSION}_amd64.deb" in [d.name for d in one]
    assert [d.name for d in one] == [d.name for d in two]
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} is not reproducible"
    tree = tmp_path / "w1" / "source" / "sqlite3-3.40.1"
    assert (tree / "debian" / "patches" / "series").read_text().splitlines()[-1] == PATCH
    changelog = (tree / "debian" / "changelog").read_text()
    assert changelog.startswith(f"sqlite3 ({VERSION}) bookworm; urgency=medium\n")
    assert "CVE-2026-11822, CVE-2026-11824" in changelog.split("\n -- ", 1)[0]
    record = json.loads(next((tmp_path / "w1" / "out").glob("*.hardbase-patch.json")).read_text())
    assert record["fixes"] == ["CVE-2026-11822", "CVE-2026-11824"]
    assert record["ancestor"]["version"] == "3.40.1-2+deb12u2"
    assert "fts5LeafRead" in record["patches"][0]["diff"]
    packages = repo / "dists" / "bookworm-hardbase" / "main" / "binary-amd64" / "Packages"
    assert (
        f"Package: libsqlite3-0\nSource: sqlite3\nVersion: {VERSION}" in packages.read_text()
        or (f"Version: {VERSION}" in packages.read_text())
    )
    deb = tmp_path / "w1" / "out" / f"libsqlite3-0_{VERSION}_amd64.deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "x")], check=True)
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert "Hardbase-Patched-From: sqlite3 (= 3.40.1-2+deb12u2)" in control
    assert "Hardbase-Fixes: CVE-2026-11822 CVE-2026-11824" in control
    # the provenance of the .debs, in REPO's pool and signed with the archive key
    pool = repo / "pool" / "main" / "s" / "sqlite3"
    provenance = pool / f"sqlite3_{VERSION}.provenance.json"
    gpgv = subprocess.run(["gpgv", "--keyring", str(repo / "hardbase-archive-keyring.gpg"),
                           f"{provenance}.asc", str(provenance)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert gpgv.returncode == 0, gpgv.stderr
    subjects = json.loads(provenance.read_text())["subject"]
    assert {"name": deb.name, "digest": {"sha256": file_hash(deb)}} in subjects
    shipped = gzip.decompress(
        (tmp_path / "x" / "usr/share/doc/libsqlite3-0/changelog.Debian.gz").read_bytes()
    ).decode()
    assert shipped.startswith(f"sqlite3 ({VERSION}) bookworm;") and "CVE-2026-11824" in shipped

    # the image from Debian plus REPO picks the rebuild; Debian's alone keeps the bug
    db = str(tmp_path / "vuln.db")
    assert main(["-q", "keygen", "--output-prefix", str(tmp_path / "cosign"), "--no-password"]) == 0
    with RepoServer(repo) as server:
        patched_spec = _spec(tmp_path, "py-patched", server.url, keyring)
        assert main(["-q", "build", str(patched_spec), "--output", str(tmp_path / "img"),
                     "--sign-key", str(tmp_path / "cosign.key")]) == 0  # fmt: skip
        digest = capsys.readouterr().out.strip().splitlines()[-1]
        # the scanner learns the fix from REPO's changelog (the debian-changelog importer)
        assert main([*cache, "db", "update", "--db", db,
                     "--source", f"debian-changelog={server.url}",
                     "--source", "debian-changelog=archive=hardbase",
                     "--source", f"debian-changelog=signed-by={keyring}",
                     "--source", "debian-changelog=bookworm"]) == 0  # fmt: skip
    lock = json.loads((tmp_path / "py-patched.lock.json").read_text())
    locked = {p["name"]: p for p in lock["archs"]["amd64"]["packages"]}
    assert locked["libsqlite3-0"]["version"] == VERSION
    assert locked["libsqlite3-0"]["suite"] == "bookworm-hardbase"
    stock_spec = _spec(tmp_path, "py-debian", None, None)
    assert main(["-q", "build", str(stock_spec), "--output", str(tmp_path / "stock")]) == 0

    # scan: Debian's image has both CVEs, fixed in the +hb1 version; the rebuilt one has none
    def findings(layout: Path) -> list[tuple[str, str, str]]:
        out = subprocess.run(
            ["python3", "-m", "hardbase", "-q", "scan", f"oci:{layout}:latest", "--db", db,
             "--format", "json"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        found = json.loads(out)["findings"]
        return sorted((f["id"], f["package"]["version"], f["fixed_version"]) for f in found)

    assert findings(tmp_path / "stock") == [
        ("CVE-2026-11822", "3.40.1-2+deb12u2", VERSION),
        ("CVE-2026-11824", "3.40.1-2+deb12u2", VERSION),
    ]
    assert findings(tmp_path / "img") == []

    # the SBOMs: Debian's libsqlite3-0 as the ancestor, trixie's patch (a backport) with
    # its diff resolving both CVEs; SPDX: Debian's package, the patch PATCH_FOR it
    purl = "pkg:deb/debian/libsqlite3-0@3.40.1-2%2Bdeb12u2%2Bhb1?arch=amd64&distro=debian-12"
    debian_purl = "pkg:deb/debian/libsqlite3-0@3.40.1-2%2Bdeb12u2?arch=amd64&distro=debian-12"
    cdx = json.loads((tmp_path / "img.cdx.json").read_text())
    assert cdx_errors(cdx) == []
    component = next(c for c in cdx["components"] if c["name"] == "libsqlite3-0")
    assert component["purl"] == purl
    assert [a["purl"] for a in component["pedigree"]["ancestors"]] == [debian_purl]
    [patch] = component["pedigree"]["patches"]
    assert patch["type"] == "backport" and "fts5LeafRead" in patch["diff"]["text"]["content"]
    assert [r["id"] for r in patch["resolves"]] == ["CVE-2026-11822", "CVE-2026-11824"]
    spdx = json.loads((tmp_path / "img.spdx.json").read_text())
    assert spdx_errors(spdx) == []
    names = {p["SPDXID"]: (p["name"], p.get("versionInfo")) for p in spdx["packages"]}
    patch_for = [
        (names[r["spdxElementId"]], names[r["relatedSpdxElement"]])
        for r in spdx["relationships"]
        if r["relationshipType"] == "PATCH_FOR"
    ]
    assert patch_for == [((f"debian/patches/{PATCH}", None), ("libsqlite3-0", "3.40.1-2+deb12u2"))]

    # OpenVEX "fixed" for both CVEs on the rebuilt package, attached by build --sign-key
    vex = attestations(tmp_path / "img", digest)[OPENVEX_V020]["predicate"]
    assert vex["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert [(s["vulnerability"]["name"], s["status"],
             [p["@id"] for p in s["products"][0]["subcomponents"]]) for s in vex["statements"]
            ] == [("CVE-2026-11822", "fixed", [purl]),
                  ("CVE-2026-11824", "fixed", [purl])]  # fmt: skip
    image = f"oci:{tmp_path / 'img'}:latest"
    assert main(["-q", "verify", image, "--key", str(tmp_path / "cosign.pub"),
                 "--require", "openvex", "--require-attestations"]) == 0  # fmt: skip

    fixed = _exercise(tmp_path / "img", tmp_path / "b1")
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.splitlines() == [
        "sqlite 3.40.1",
        "corrupt: database disk image is malformed",
    ]
    stock = _exercise(tmp_path / "stock", tmp_path / "b2")
    assert stock.stdout.splitlines()[0] == "sqlite 3.40.1"
    assert stock.returncode != 0 or not stock.stdout.strip().endswith("malformed"), stock.stdout
