"""images/hardbase.yaml: hardbase built by hardbase from this source, run under runc.

Marked `archive` (Debian mirror and PyPI). The image runs `hardbase --version`
and scans an oci-archive file mounted into the container.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hardbase.cli.main import main
from peers import need, runc_run, unpack

pytestmark = [pytest.mark.archive, pytest.mark.slow]

REPO = Path(__file__).parents[2]
OSV = REPO / "tests" / "data" / "app" / "osv"


@pytest.fixture(scope="module")
def hardbase_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("runc", "umoci")
    tree = tmp_path_factory.mktemp("repo")
    # the spec's context is the repository root: copy the parts it names
    (tree / "images").mkdir()
    for name in ("hardbase.yaml", "hardbase.requirements.txt"):
        shutil.copy(REPO / "images" / name, tree / "images" / name)
    shutil.copytree(
        REPO / "src" / "hardbase",
        tree / "src" / "hardbase",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = tree / "out"
    assert main(["-q", "build", str(tree / "images" / "hardbase.yaml"), "--output", str(out)]) == 0
    bundle = tree / "bundle"
    unpack(out, "latest", bundle)
    return bundle


def test_version(hardbase_bundle: Path) -> None:
    from hardbase import __version__

    result = runc_run(hardbase_bundle, ["/usr/bin/python3", "-m", "hardbase", "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"hardbase {__version__}"
    rootfs = hardbase_bundle / "rootfs"
    assert not (rootfs / "usr/bin/sh").exists() and not (rootfs / "usr/bin/pip3").exists()
    assert (rootfs / "usr/bin/gpgv").exists()


def test_scans_mounted_oci_archive(hardbase_bundle: Path, tmp_path: Path) -> None:
    work = tmp_path / "scan"
    work.mkdir()
    spec = work / "static.yaml"
    shutil.copy(REPO / "images" / "static.yaml", spec)
    target = work / "static.tar"
    assert main(["-q", "build", str(spec), "--output", str(target), "-f", "oci-archive"]) == 0
    db = work / "vuln.db"
    assert main(["-q", "db", "update", "--db", str(db), "--source", f"osv={OSV}"]) == 0
    for path in (work, target, db):
        path.chmod(0o777 if path.is_dir() else 0o666)
    config_path = hardbase_bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/scan"]
    config["mounts"].append(
        {"destination": "/scan", "type": "bind", "source": str(work), "options": ["rbind", "rw"]}
    )
    config_path.write_text(json.dumps(config))
    result = runc_run(
        hardbase_bundle,
        [
            "/usr/bin/python3", "-m", "hardbase", "scan", "oci-archive:/scan/static.tar",
            "--db", "/scan/vuln.db", "--format", "json",
        ],
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["image"]["reference"] == "oci-archive:/scan/static.tar"
    assert report["image"]["os"]["version_id"].startswith("13")
    assert isinstance(report["findings"], list)


def test_runs_as_nonroot(hardbase_bundle: Path) -> None:
    config = json.loads((hardbase_bundle / "config.json").read_text())
    assert config["process"]["user"]["uid"] == 65532
