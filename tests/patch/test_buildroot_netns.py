"""A build never runs with the host's network: when `runc spec` gives no network
namespace, `build_in_root` stops with one sentence before anything runs.

Real runc cannot be made to leave the namespace out, so this fault is injected: a
fixture `runc` on PATH runs the real `runc spec` and then deletes the network
namespace from the config.json it wrote, standing for a broken or altered runc.
The build root is a fixture tarball (one directory), not a Debian root.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from hardbase.patch.buildroot import BuildRoot, BuildRootError, RootPlan, build_in_root

pytestmark = pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")

WRAPPER = """\
#!{python}
# fixture: the real runc, except that `runc spec` leaves out the network namespace
import json, subprocess, sys
code = subprocess.run([{runc!r}, *sys.argv[1:]]).returncode
if code == 0 and sys.argv[1:2] == ["spec"]:
    config = json.load(open("config.json"))
    spaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [ns for ns in spaces if ns["type"] != "network"]
    json.dump(config, open("config.json", "w"))
sys.exit(code)
"""


def fixture_root(tmp_path: Path) -> BuildRoot:
    tarball = tmp_path / "root.tar"
    with tarfile.open(tarball, "w") as tar:
        info = tarfile.TarInfo("./etc")
        info.type = tarfile.DIRTYPE
        tar.addfile(info, io.BytesIO())
    return BuildRoot(RootPlan((), "amd64", "trixie"), tarball, "", False, 0.0)


def test_a_runc_spec_without_a_network_namespace_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("runc")
    assert real is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "runc"
    wrapper.write_text(WRAPPER.format(python=sys.executable, runc=real))
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")
    tree = tmp_path / "src" / "fixture-1.0"
    tree.mkdir(parents=True)
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(BuildRootError) as raised:
        build_in_root(
            fixture_root(tmp_path), tree, [], epoch=1700000000, output=output,
            log_path=tmp_path / "build.log",
        )  # fmt: skip
    assert raised.value.diagnostics() == (
        "`runc spec` gave no network namespace, so the build could reach the network; "
        "check the runc installation"
    )
    assert list(output.iterdir()) == []  # nothing was built or copied out


def test_the_fixture_runc_really_drops_only_the_network_namespace(tmp_path: Path) -> None:
    """The wrapper does what the test above relies on (checked against the real runc)."""
    real = shutil.which("runc")
    assert real is not None
    wrapper = tmp_path / "runc"
    wrapper.write_text(WRAPPER.format(python=sys.executable, runc=real))
    wrapper.chmod(0o755)
    for runc, where in ((real, tmp_path / "real"), (str(wrapper), tmp_path / "wrapped")):
        where.mkdir()
        subprocess.run([runc, "spec"], cwd=where, check=True)
    kinds = {
        name: {ns["type"] for ns in json.loads((tmp_path / name / "config.json").read_text())
               ["linux"]["namespaces"]}
        for name in ("real", "wrapped")
    }  # fmt: skip
    assert "network" in kinds["real"]
    assert kinds["wrapped"] == kinds["real"] - {"network"}
