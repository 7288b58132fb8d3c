"""`containers-storage:` (podman's local image store) for scan, sbom and push.

The image is loaded into a real podman store with `podman pull oci:DIR` (no
network; vfs driver in a private root and runroot under the test's temp dir,
so the machine's own store is left alone), then hardbase reads it by the
`[vfs@ROOT+RUNROOT]localhost/app:1` form skopeo takes. The results must equal
those of the same image read from its `oci:` layout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.images.fixture_images import file, gz, tar_bytes, write_oci
from hardbase.cli.main import main
from hardbase.util.paths import cache_dir
from peers import need

pytestmark = pytest.mark.peers

DATA = Path(__file__).parents[1] / "data" / "vuln"
STATUS = (
    "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
    "Source: fixture-zlib (1:1.2.13.dfsg-1)\nVersion: 1:1.2.13.dfsg-1+b1\n"
)


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(the oci: reference, the containers-storage: reference) of one image."""
    need("podman", "skopeo")
    layer = tar_bytes([
        file("etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        file("var/lib/dpkg/status", STATUS),
    ])  # fmt: skip
    layout = write_oci(tmp_path / "image", [gz(layer)])
    # podman refuses a runroot path longer than 50 characters, and pytest's
    # temp dirs can be longer: the store lives in a short /tmp dir of its own
    short = Path(tempfile.mkdtemp(prefix="hbcs-", dir="/tmp"))
    root, run = short / "storage", short / "run"
    podman = [
        "podman", "--root", str(root), "--runroot", str(run), "--storage-driver", "vfs",
        "--runtime", "runc", "--cgroup-manager=cgroupfs", "--events-backend=file",
    ]  # fmt: skip
    subprocess.run([*podman, "pull", "-q", f"oci:{layout}:latest"], check=True, capture_output=True)
    subprocess.run([*podman, "tag", f"localhost{layout}:latest", "localhost/app:1"], check=True)
    try:
        yield f"oci:{layout}:latest", f"containers-storage:[vfs@{root}+{run}]localhost/app:1"
    finally:
        subprocess.run([*podman, "rmi", "-a", "-f"], check=False, capture_output=True)
        shutil.rmtree(short, ignore_errors=True)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_reads_the_podman_store(
    stored: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oci, storage = stored
    db = str(tmp_path / "v.db")
    assert main(["-q", "db", "update", "--db", db, "--source", f"osv={DATA / 'osv'}",
                 "--source", f"debian-tracker={DATA / 'tracker.json'}"]) == 0  # fmt: skip
    reports = {}
    for ref in (oci, storage):
        code, out, err = run(capsys, "scan", ref, "--db", db, "--format", "json")
        assert code == 0, err
        reports[ref] = json.loads(out)
    doc = reports[storage]
    assert doc["image"]["reference"] == storage
    assert doc["image"]["digest"].startswith("sha256:")
    found = {(f["package"]["name"], f["id"], f["status"]) for f in doc["findings"]}
    assert ("zlib1g", "CVE-2099-1003", "fixable") in found
    assert found == {(f["package"]["name"], f["id"], f["status"]) for f in reports[oci]["findings"]}
    assert not list((cache_dir() / "tmp").iterdir())  # the private copy is gone


def test_sbom_and_push_from_the_podman_store(
    stored: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oci, storage = stored
    boms = []
    for ref in (oci, storage):
        code, out, err = run(capsys, "sbom", ref, "--format", "cyclonedx-json")
        assert code == 0, err
        boms.append(sorted(c["purl"] for c in json.loads(out)["components"] if "purl" in c))
    assert boms[0] == boms[1] and any("zlib1g" in p for p in boms[1])
    code, out, err = run(capsys, "-q", "push", storage, f"oci:{tmp_path / 'copy'}:x")
    assert code == 0, err
    inspect = subprocess.run(
        ["skopeo", "inspect", "--config", f"oci:{tmp_path / 'copy'}:x"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert json.loads(inspect.stdout)["rootfs"]["type"] == "layers"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "is not in the local containers storage (`podman images` lists"),
        ("option-like", "must be written containers-storage:NAME[:TAG]"),
        ("empty", "is not an image reference"),
    ],
)
def test_bad_containers_storage_references(
    stored: tuple[str, str], capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    _, storage = stored
    ref = {
        "missing": storage.replace("localhost/app:1", "localhost/nope:1"),
        "option-like": "containers-storage:-rf",
        "empty": "containers-storage:",
    }[case]
    code, out, err = run(capsys, "sbom", ref)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
