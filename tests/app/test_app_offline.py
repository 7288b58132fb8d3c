"""Application images, the parts that need no network: spec, lock section, layers' bytes."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from hardbase.build.app.builder import app_file_entries, app_of, tree_entries
from hardbase.build.app.interface import AppError, AppLock, AppPackage, ArchAppLock
from hardbase.build.app.node import NodeBackend
from hardbase.build.app.python import PythonBackend
from hardbase.build.app.store import integrity_matches
from hardbase.build.layers import tar_entries
from hardbase.build.lock import Lock, LockedPackage
from hardbase.build.spec import ImageSpec, parse_spec
from hardbase.errors import SpecError

DATA = Path(__file__).parents[1] / "data" / "app"


def spec_at(tmp_path: Path, app: dict[str, object], **extra: object) -> ImageSpec:
    return parse_spec({"name": "t", "extends": "python3", "app": app, **extra}, tmp_path / "s.yaml")


def test_app_section_validates_and_sets_workdir(tmp_path: Path) -> None:
    spec = spec_at(tmp_path, {"python": {"requirements": "r.txt"}, "workdir": "/srv"})
    app = app_of(spec)
    assert app is not None and app.python is not None
    assert spec.model.workdir == "/srv"


@pytest.mark.parametrize(
    "app",
    [
        {"python": {"requirements": "r.txt"}, "node": {"lockfile": "package-lock.json"}},
        {"python": {}},
        {"files": [{"src": "a", "dst": "relative"}]},
        {"pip": {"requirements": "r.txt"}},
    ],
)
def test_bad_app_section_is_a_field_error(tmp_path: Path, app: dict[str, object]) -> None:
    with pytest.raises(SpecError, match=r"field 'app"):
        spec_at(tmp_path, app)


def test_app_path_outside_spec_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("flask==3.1.0\n")
    inner = tmp_path / "spec"
    inner.mkdir()
    spec = parse_spec(
        {"name": "t", "extends": "python3", "app": {"python": {"requirements": "../r.txt"}}},
        inner / "s.yaml",
    )
    app = app_of(spec)
    assert app is not None and app.python is not None
    with pytest.raises(AppError, match="outside the spec's directory") as err:
        PythonBackend(spec.path, app.python)
    assert err.value.exit_code == 2
    assert "\n" not in err.value.diagnostics()


def test_lock_app_section_round_trips() -> None:
    deb = LockedPackage(
        "python3-pip",
        "25.1",
        "all",
        "python-pip",
        "25.1",
        "https://deb.invalid/p.deb",
        "a" * 64,
        1,
        "app-build",
        "trixie",
    )
    wheel = AppPackage(
        "Flask", "3.1.0", "https://files.example/flask.whl", "b" * 64, "flask.whl", 10
    )
    app = AppLock("python", "c" * 64, {"amd64": ArchAppLock((deb,), (wheel,))})
    lock = Lock("t", "d" * 64, "trixie", (), {"amd64": ()}, {"amd64": ()}, app=app)
    again = Lock.from_json(json.loads(json.dumps(lock.to_json())), "test")
    assert again.app == app
    plain = Lock("t", "d" * 64, "trixie", (), {"amd64": ()}, {"amd64": ()})
    assert "app" not in plain.to_json() and Lock.from_json(plain.to_json(), "t").app is None


def test_malformed_app_section_is_a_lock_error() -> None:
    doc = Lock("t", "d" * 64, "trixie", (), {"amd64": ()}, {"amd64": ()}).to_json()
    doc["app"] = {"kind": "ruby", "inputs": "x", "archs": {}}
    with pytest.raises(SpecError, match="not a valid hardbase lock file"):
        Lock.from_json(doc, "test.lock.json")


def test_npm_integrity() -> None:
    data = b"tarball"
    sri = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert integrity_matches(data, sri)
    assert not integrity_matches(b"other", sri)
    assert not integrity_matches(data, "md5-xyz")


def test_node_lockfile_pins_production_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fixture lockfile; downloads replaced by a stand-in that checks the call only
    calls: list[str] = []

    def fake_fetch(url: str, integrity: str, what: str) -> tuple[str, int]:
        assert integrity.startswith("sha512-")
        calls.append(url)
        return hashlib.sha256(url.encode()).hexdigest(), 1

    monkeypatch.setattr("hardbase.build.app.node.fetch_unpinned", fake_fetch)
    spec = parse_spec(
        {"name": "t", "extends": "nodejs", "app": {"node": {"lockfile": "package-lock.json"}}},
        DATA / "express" / "express.yaml",
    )
    app = app_of(spec)
    assert app is not None and app.node is not None
    packages = NodeBackend(spec.path, app.node, "/app").lock(None, "amd64")
    names = {p.name for p in packages}
    assert "express" in names and "is-number" not in names  # dev dependency omitted
    assert all(u.startswith("https://registry.npmjs.org/") for u in calls)


def test_tree_entries_are_deterministic_and_skip_bytecode(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "pkg" / "__pycache__").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("x = 1\n")
    (tree / "pkg" / "__pycache__" / "__init__.cpython-313.pyc").write_bytes(b"junk")
    (tree / "bin").mkdir()
    (tree / "bin" / "tool").write_text("#!/usr/bin/python3\n")
    (tree / "bin" / "tool").chmod(0o700)
    (tree / "bin" / "alias").symlink_to("tool")
    first = tree_entries(tree, 1700000000)
    (tree / "pkg" / "__init__.py").touch()  # a new mtime changes nothing
    second = tree_entries(tree, 1700000000)
    assert tar_entries(first, None) == tar_entries(second, None)
    paths = {e.path: e for e in first}
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in paths)
    assert paths["bin/tool"].mode == 0o755 and paths["pkg/__init__.py"].mode == 0o644
    assert paths["bin/alias"].target == "tool"


def test_app_files_copy_directories(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    spec = spec_at(tmp_path, {"files": [{"src": "app/", "dst": "/app", "owner": "65532:65532"}]})
    app = app_of(spec)
    assert app is not None
    entries = {e.path: e for e in app_file_entries(spec, app, 0)}
    assert entries["app/main.py"].data == b"print(1)\n"
    assert entries["app/main.py"].uid == 65532
    outside = spec_at(tmp_path, {"files": [{"src": "../etc", "dst": "/x"}]})
    app = app_of(outside)
    assert app is not None
    with pytest.raises(AppError, match="outside the spec's directory"):
        app_file_entries(outside, app, 0)
