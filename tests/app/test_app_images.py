"""Application images built from the real Debian archive, PyPI and the npm registry.

Marked `archive` (they need deb.debian.org, PyPI and registry.npmjs.org); CI
runs them. Peers: umoci + runc (the apps answer HTTP on the host's loopback).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from hardbase.cli.main import main
from peers import need, runc_run, unpack

pytestmark = [pytest.mark.archive, pytest.mark.slow]

REPO = Path(__file__).parents[2]
DATA = REPO / "tests" / "data" / "app"


def copy_fixture(tmp: Path, name: str) -> Path:
    dest = tmp / name
    shutil.copytree(DATA / name, dest)
    return dest


PROGRESS: dict[str, list[str]] = {}  # spec name -> the progress lines of its first build


def build(spec: Path, out: Path, env: dict[str, str] | None = None, quiet: bool = True) -> str:
    proc = subprocess.run(
        ["hardbase", *(["-q"] if quiet else []), "build", str(spec), "--output", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    PROGRESS.setdefault(spec.stem, proc.stderr.splitlines())
    return proc.stdout.strip().splitlines()[-1]


def manifest(layout: Path) -> dict[str, object]:
    index = json.loads((layout / "index.json").read_text())
    inner = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    digest = (
        inner["manifests"][0]["digest"] if "manifests" in inner else index["manifests"][0]["digest"]
    )
    doc: dict[str, object] = json.loads((layout / "blobs/sha256" / digest[7:]).read_text())
    return doc


def layer_names(layout: Path) -> list[tuple[str, str]]:
    layers = manifest(layout)["layers"]
    assert isinstance(layers, list)
    return [(layer["annotations"]["dev.hardbase.layer"], layer["digest"]) for layer in layers]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_and_get(bundle: Path, args: list[str]) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Run the app (answering one request) under runc on the host's loopback; GET /."""
    port = free_port()
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["env"] += [f"PORT={port}", "SERVE_ONE_REQUEST=1"]
    config_path.write_text(json.dumps(config))
    result: list[subprocess.CompletedProcess[str]] = []
    thread = threading.Thread(
        target=lambda: result.append(runc_run(bundle, args, host_network=True, timeout=120))
    )
    thread.start()
    body = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and thread.is_alive():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                body = response.read().decode()
            break
        except OSError:
            time.sleep(0.3)
    thread.join(timeout=120)
    assert result, "runc did not finish"
    return body, result[0]


@pytest.fixture(scope="module")
def flask_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    need("runc")
    src = copy_fixture(tmp_path_factory.mktemp("flask"), "flask")
    out = src.parent / "image"
    return out, build(src / "flask.yaml", out, quiet=False)


@pytest.fixture(scope="module")
def express_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    need("runc")
    src = copy_fixture(tmp_path_factory.mktemp("express"), "express")
    out = src.parent / "image"
    return out, build(src / "express.yaml", out, quiet=False)


def test_flask_app_answers_http_as_nonroot(flask_app: tuple[Path, str], tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    rootfs = unpack(flask_app[0], "latest", bundle)
    site = rootfs / "usr/local/lib/python3.13/dist-packages"
    assert (site / "flask-3.1.0.dist-info/METADATA").is_file()
    assert list(site.glob("markupsafe/_speedups*.so"))  # the compiled wheel
    assert not list(rootfs.rglob("__pycache__")) and not list(rootfs.rglob("*.pyc"))
    for tool in ("usr/bin/pip", "usr/bin/pip3", "usr/lib/python3/dist-packages/pip", "usr/bin/sh"):
        assert not (rootfs / tool).exists(), tool
    body, proc = serve_and_get(bundle, ["/usr/bin/python3", "/app/main.py"])
    assert proc.returncode == 0, proc.stderr
    assert body.startswith("hello from flask on python 3.13, uid 65532"), body
    assert "markupsafe._speedups" in body


def test_flask_lock_pins_wheels_and_layers_sit_over_runtime(flask_app: tuple[Path, str]) -> None:
    lock = json.loads((flask_app[0].parent / "flask" / "flask.lock.json").read_text())
    wheels = {p["name"].lower(): p for p in lock["app"]["archs"]["amd64"]["packages"]}
    assert set(wheels) == {
        "blinker",
        "click",
        "flask",
        "itsdangerous",
        "jinja2",
        "markupsafe",
        "werkzeug",
    }
    assert wheels["flask"]["version"] == "3.1.0"
    assert (
        wheels["flask"]["sha256"]
        == "d667207822eb83f1c4b50949b1623c8fc8d51f2341d65f72e1a1815397551136"
    )
    assert wheels["markupsafe"]["url"].startswith("https://files.pythonhosted.org/")
    names = [n for n, _ in layer_names(flask_app[0])]
    assert names[-2:] == ["app-deps", "app"]


def test_runtime_layers_identical_to_plain_python3(
    flask_app: tuple[Path, str], tmp_path: Path
) -> None:
    spec = tmp_path / "python3.yaml"
    shutil.copy(REPO / "images" / "python3.yaml", spec)
    # the same Debian packages: the app's lock without its app section
    lock = json.loads((flask_app[0].parent / "flask" / "flask.lock.json").read_text())
    del lock["app"]
    (tmp_path / "python3.lock.json").write_text(json.dumps(lock))
    build(spec, tmp_path / "py")
    plain = layer_names(tmp_path / "py")
    app = layer_names(flask_app[0])
    assert app[: len(plain)] == plain
    assert [n for n, _ in app[len(plain) :]] == ["app-deps", "app"]


def test_flask_rebuild_from_lock_is_bit_identical(
    flask_app: tuple[Path, str], tmp_path: Path
) -> None:
    spec = flask_app[0].parent / "flask" / "flask.yaml"
    again = build(spec, tmp_path / "again", env={"HARDBASE_CACHE": str(tmp_path / "empty-cache")})
    assert again == flask_app[1]


def test_express_app_answers_http_as_nonroot(express_app: tuple[Path, str], tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    rootfs = unpack(express_app[0], "latest", bundle)
    modules = rootfs / "app/node_modules"
    assert json.loads((modules / "express/package.json").read_text())["version"] == "4.21.2"
    assert not (modules / "is-number").exists()  # a dev dependency
    assert not (modules / ".package-lock.json").exists()
    assert not (rootfs / "usr/bin/npm").exists() and not (rootfs / "usr/share/nodejs/npm").exists()
    body, proc = serve_and_get(bundle, ["/usr/bin/node", "/app/server.js"])
    assert proc.returncode == 0, proc.stderr
    assert body.startswith("hello from express on node "), body
    assert body.strip().endswith("uid 65532")


@pytest.mark.parametrize("fixture, tool", [("flask_app", "pip"), ("express_app", "npm")])
def test_app_builds_name_every_long_step(
    request: pytest.FixtureRequest, fixture: str, tool: str
) -> None:
    """The lock step and the install are each announced and closed under their own label
    (a log, not a terminal, so every line is kept)."""
    request.getfixturevalue(fixture)
    lines = PROGRESS[fixture.removesuffix("_app")]
    started = [line.removesuffix("...") for line in lines if line.endswith("...")]
    done = [line.rsplit(": done in ", 1)[0] for line in lines if ": done in " in line]
    labels = [re.sub(r" \(\d+\)$", "", s) for s in started]
    assert sorted(labels) == sorted(done), lines  # each step closes under the label it opened
    assert any(
        line.startswith(f"hardbase: pinning the {tool} packages for amd64") for line in started
    )
    assert any(f"pinned {tool} packages for amd64" in line for line in started)
    assert any(
        line.startswith("hardbase: installing ") and line.endswith(f"{tool} packages for amd64")
        for line in done
    ), lines
    assert any(line.startswith("hardbase: writing SBOMs") for line in done)


def test_express_rebuild_from_lock_is_bit_identical(
    express_app: tuple[Path, str], tmp_path: Path
) -> None:
    spec = express_app[0].parent / "express" / "express.yaml"
    again = build(spec, tmp_path / "again", env={"HARDBASE_CACHE": str(tmp_path / "empty-cache")})
    assert again == express_app[1]


def test_scan_flags_pinned_release_with_advisory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(tmp_path, "vulnerable")
    out = tmp_path / "image"
    build(src / "vulnerable.yaml", out)
    db = tmp_path / "vuln.db"
    assert main(["-q", "db", "update", "--db", str(db), "--source", f"osv={DATA / 'osv'}"]) == 0
    capsys.readouterr()
    code = main(["-q", "scan", f"oci:{out}:latest", "--db", str(db), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    [finding] = [f for f in report["findings"] if f["package"]["name"] == "urllib3"]
    assert {finding["id"], *finding["aliases"]} >= {"GHSA-34jh-p97f-mpxf", "CVE-2024-37891"}
    assert finding["package"]["type"] == "pypi"
    assert finding["package"]["version"] == "2.2.1"
    assert finding["package"]["path"].startswith("usr/local/lib/python3.13/dist-packages/")
    assert finding["fixed_version"] == "2.2.2" and finding["status"] == "fixable"


@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        ("hardbase-no-such-package-exists==1.0\n", "has no wheel on the package index"),
        (
            "urllib3==2.2.1 --hash=sha256:" + "0" * 64 + "\n",
            "does not match the hash pinned for it",
        ),
        ("numpy==1.21.0\n", "no wheel of 'numpy==1.21.0' fits the image's Python 3.13"),
    ],
    ids=["missing", "hash", "no-wheel"],
)
def test_bad_requirements_exit_2_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], requirements: str, message: str
) -> None:
    need("runc")
    (tmp_path / "requirements.txt").write_text(requirements)
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "name: bad\nextends: python3\napp:\n  python:\n    requirements: requirements.txt\n"
    )
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["-q", "build", str(spec), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not (tmp_path / "bad.lock.json").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"requirements.txt", "bad.yaml"}


def test_app_path_outside_spec_dir_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret.txt").write_text("x")
    inner = tmp_path / "spec"
    inner.mkdir()
    spec = inner / "bad.yaml"
    spec.write_text(
        "name: bad\nextends: python3\napp:\n  files:\n    - {src: ../secret.txt, dst: /app/s}\n"
    )
    capsys.readouterr()
    assert main(["-q", "build", str(spec), "--output", str(inner / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "outside the spec's directory" in err and len(err.splitlines()) == 1
    assert {p.name for p in inner.iterdir()} == {"bad.yaml"}
