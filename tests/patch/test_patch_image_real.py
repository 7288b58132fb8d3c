"""`hardbase patch-image` on a real image: mmdebstrap minbase bookworm (and trixie) + python3
pinned to the point-release suite, patched from the real mirror with real Debian data (the
debian-changelog feed). The patched image is run with runc (and podman): its own `dpkg --verify` and
`dpkg-query` agree with the new versions, python3 still imports ssl and sqlite3, skopeo and
umoci accept it, Trivy reads the same package set as hardbase, and a rescan finds nothing
fixable but what was reported as needing a rebuild.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from evaluate import real_images
from hardbase.cli.main import main
from hardbase.evaluate.reference import build_reference_image
from hardbase.vuln.inventory import inventory
from lang_subjects import normal_purl, trivy_purls
from peers import need, podman_run, runc_run, unpack

pytestmark = [pytest.mark.archive, pytest.mark.slow]


def _fixable(ref: str, db: Path, out: Path) -> set[tuple[str, str]]:
    assert main(["-q", "scan", ref, "--db", str(db), "--format", "json", "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    return {(f["id"], f["package"]["name"]) for f in doc["findings"] if f["status"] == "fixable"}


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_patch_image_on_a_point_release_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], release: str
) -> None:
    need("umoci", "runc", "skopeo")
    ref = real_images.point_release_image(release)
    db = real_images.changelog_db(release)
    before = _fixable(ref, db, tmp_path / "before.json")
    # bookworm's point release is old: many; trixie's (13.x) is recent: a few
    assert len(before) > (20 if release == "bookworm" else 0)
    out = tmp_path / "patched"
    assert main(["patch-image", ref, "--output", f"oci:{out}:p", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    err, digest = captured.err, captured.out.strip()
    upgraded = dict(
        (line.split(": ")[2].split(" ")[0], line.split(" -> ")[1].split(" ")[0])
        for line in err.splitlines()
        if " -> " in line
    )
    rebuild = {line.split(": ")[2].split(" ")[0] for line in err.splitlines()
               if "needs a rebuild" in line}  # fmt: skip
    assert upgraded
    rootfs = unpack(out, "p", tmp_path / "bundle")
    assert rootfs.is_dir()
    bundle = tmp_path / "bundle"
    verify = runc_run(bundle, ["dpkg", "--verify"])
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
    query = runc_run(bundle, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"])
    installed = dict(line.split(" ", 1) for line in query.stdout.splitlines())
    for name, version in upgraded.items():
        assert installed[name] == version
    audit = runc_run(bundle, ["dpkg", "--audit"])
    assert audit.returncode == 0 and audit.stdout == ""
    py = runc_run(bundle, ["python3", "-c", "import ssl, sqlite3; print(ssl.OPENSSL_VERSION)"])
    assert py.returncode == 0, py.stderr
    podman = podman_run(f"oci:{out}:p", ["python3", "-c", "import ssl, sqlite3"])
    assert podman.returncode == 0, podman.stderr
    inspect = subprocess.run(["skopeo", "inspect", f"oci:{out}:p"], capture_output=True,
                             text=True, check=True)  # fmt: skip
    assert json.loads(inspect.stdout)["Layers"][-1].startswith("sha256:")
    after = _fixable(f"oci:{out}:p", db, tmp_path / "after.json")
    assert {name for _, name in after} <= rebuild
    ours = {normal_purl(p.purl) for p in inventory(f"oci:{out}:p").inventory.packages
            if p.type == "deb"}  # fmt: skip
    theirs = {p for p in trivy_purls(out, tmp_path, image=True) if p.startswith("pkg:deb/")}
    assert {p.split("?")[0] for p in ours} == {p.split("?")[0] for p in theirs}
    if release == "bookworm":  # deterministic, and patching the patched image adds nothing
        again = ["-q", "patch-image", ref, "--output", f"oci:{tmp_path / 'again'}:p"]
        assert main([*again, "--db", str(db)]) == 0
        assert capsys.readouterr().out.strip() == digest
        twice = ["patch-image", f"oci:{out}:p", "--output", f"oci:{tmp_path / 'twice'}:p"]
        assert main([*twice, "--db", str(db)]) == 0
        captured = capsys.readouterr()
        assert "nothing to patch; no layer added" in captured.err
        assert captured.out.strip() == digest


def test_patch_image_real_upgrade_needing_a_new_dependency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bookworm's python3-poetry fix (CVE-2026-41140, +deb12u1 in bookworm-security) adds a
    dependency, python3-trove-classifiers, whose only scripts are dh_python3's
    byte-compiling: patch-image on a point-release image with python3-poetry adds it and
    upgrades poetry, and the image's own dpkg and python3 (run with runc) agree. (Found on
    2026-12-04 by comparing the Depends of bookworm and bookworm-security.)"""
    need("mmdebstrap", "umoci", "runc")
    ref = build_reference_image(
        tmp_path / "poetry", release="bookworm", packages=("python3-poetry",),
        point_release=True,
    )  # fmt: skip
    db = tmp_path / "poetry.db"
    args = ["-q", "db", "update", "--db", str(db), "--release", "bookworm"]
    assert main([*args, "--source", "debian-changelog=bookworm:poetry"]) == 0
    before = _fixable(ref, db, tmp_path / "before.json")
    assert ("CVE-2026-41140", "python3-poetry") in before
    out = tmp_path / "patched"
    assert main(["patch-image", ref, "--output", f"oci:{out}:p", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "python3-poetry 1.3.2+dfsg-3 -> " in err and "fixes CVE-2026-41140" in err, err
    added = "python3-trove-classifiers 2023.4.18-1 (bookworm): added as a new dependency of "
    assert added + "python3-poetry" in err, err
    unpack(out, "p", tmp_path / "bundle")
    verify = runc_run(tmp_path / "bundle", ["dpkg", "--verify"])
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
    shown = runc_run(tmp_path / "bundle", ["dpkg", "-s", "python3-trove-classifiers"])
    assert "Status: install ok installed" in shown.stdout, shown.stderr
    py = runc_run(tmp_path / "bundle", ["python3", "-c", "import trove_classifiers, poetry"])
    assert py.returncode == 0, py.stderr
    assert _fixable(f"oci:{out}:p", db, tmp_path / "after.json") == set()
