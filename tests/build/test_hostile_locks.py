"""Hostile lock files against `hardbase build`: path-like fields are checked when the lock loads.

A lock file is input: a pull request that changes only `*.lock.json` reaches
any CI job that runs `hardbase build`. Each case starts from a real lock of
the fixture archive (`hardbase lock`), adds a Python app section pinning a
wheel that sits in the cache (so the old code went as far as copying it into
the build root), changes one field, and checks that the build exits 2 with
one sentence, writes no output, and that the host canary saw nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from archive_fixture import FixtureArchive
from canary import HostCanary
from hardbase.build.app.builder import app_of, backend_for, inputs_hash
from hardbase.build.app.interface import AppPackage, app_package
from hardbase.build.app.model import PythonAppModel
from hardbase.build.app.python import PythonBackend
from hardbase.build.app.store import cached
from hardbase.build.spec import load_spec
from hardbase.cli.main import main
from hardbase.errors import SpecError

SUITE = "stable"
WHEEL = b"fixture wheel: not a real distribution\n"
WHEEL_SHA = hashlib.sha256(WHEEL).hexdigest()


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FixtureArchive]:
    with FixtureArchive(tmp_path / "fixture") as fixture:
        fixture.add_package("hello", "2.0-1", files={"usr/bin/hello": b"#!hello\n"})
        fixture.publish(SUITE)
        yield fixture


def app_spec_and_lock(tmp: Path, archive: FixtureArchive) -> tuple[Path, dict[str, Any]]:
    """A spec with a Python app, and its lock: a real Debian section and one cached wheel."""
    spec: dict[str, Any] = {
        "name": "hello",
        "packages": ["hello"],
        "sources": [{"uris": [archive.url], "suites": [SUITE], "signed-by": str(archive.keyring)}],
    }
    path = tmp / "hello.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["-q", "lock", str(path)]) == 0  # the Debian section, before the app exists
    (tmp / "requirements.txt").write_text("fixture==1.0\n")
    spec["app"] = {"python": {"requirements": "requirements.txt"}}
    path.write_text(yaml.safe_dump(spec))
    loaded = load_spec(path)
    app = app_of(loaded)
    assert app is not None
    lock = json.loads(loaded.lock_path.read_text())
    wheel = AppPackage(
        "fixture", "1.0", "https://files.invalid/fixture-1.0-py3-none-any.whl",
        WHEEL_SHA, "fixture-1.0-py3-none-any.whl", len(WHEEL),
    )  # fmt: skip
    lock["app"] = {
        "kind": "python",
        "inputs": inputs_hash(loaded, app, backend_for(loaded, app)),
        "archs": {"amd64": {"build": [], "packages": [asdict(wheel)]}},
    }
    store = cached(WHEEL_SHA)  # a verified cache hit: the build does not download it
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(WHEEL)
    return path, lock


def debian_spec_and_lock(tmp: Path, archive: FixtureArchive) -> tuple[Path, dict[str, Any]]:
    """The same spec and lock without the app: the Debian section alone."""
    spec, lock = app_spec_and_lock(tmp, archive)
    data = yaml.safe_load(spec.read_text())
    del data["app"], lock["app"]
    spec.write_text(yaml.safe_dump(data))
    return spec, lock


def refused(tmp: Path, capsys: pytest.CaptureFixture[str], spec: Path, lock: dict[str, Any]) -> str:
    spec.with_name("hello.lock.json").write_text(json.dumps(lock))
    capsys.readouterr()
    out = tmp / "out"
    code = main(["-q", "build", str(spec), "--output", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("hardbase: error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert not out.exists()
    return err


def _escape(canary: HostCanary, name: str) -> str:
    # enough '..' to reach / from any build root, then down into the canary
    return "../" * 40 + str(canary.root / name).lstrip("/")


APP = "app"  # the field is in the app section's wheel; else in the Debian section's package


@pytest.mark.parametrize(
    ("section", "field", "value", "says"),
    [
        (APP, "filename", lambda c: _escape(c, "x.whl"), "is not one file name"),
        (APP, "filename", lambda c: str(c.root / "x.whl"), "is not one file name"),
        (APP, "filename", lambda c: "..%2F..%2Fx.whl", "is not one file name"),
        (APP, "filename", lambda c: "x.whl\n--index-url=http://evil", "is not one file name"),
        (APP, "sha256", lambda c: str(c.root / "keep"), "is not 64 lowercase hex"),
        (APP, "sha256", lambda c: "A" * 64, "is not 64 lowercase hex"),
        (APP, "name", lambda c: "fixture\n--extra-index-url=http://evil", "is not a Python"),
        (APP, "url", lambda c: "file:///etc/shadow", "is not an http(s) URL"),
        ("debian", "sha256", lambda c: _escape(c, "x"), "is not 64 lowercase hex"),
        ("debian", "name", lambda c: "../../x", "is not a Debian package name"),
        ("debian", "arch", lambda c: "amd64/../..", "is not a Debian architecture"),
        ("debian", "version", lambda c: "1.0\nStatus: x", "is not a Debian version"),
    ],
)
def test_hostile_lock_field_is_refused_at_load(
    tmp_path: Path,
    archive: FixtureArchive,
    capsys: pytest.CaptureFixture[str],
    host_canary: HostCanary,
    section: str,
    field: str,
    value: Any,
    says: str,
) -> None:
    if section == APP:
        spec, lock = app_spec_and_lock(tmp_path, archive)
        entry, where = lock["app"]["archs"]["amd64"]["packages"][0], "app amd64 package 1"
    else:
        spec, lock = debian_spec_and_lock(tmp_path, archive)
        entry, where = lock["archs"]["amd64"]["packages"][0], "(amd64 package 1)"
    entry[field] = value(host_canary)
    err = refused(tmp_path, capsys, spec, lock)
    assert f"{field} " in err and says in err and "hello.lock.json" in err and where in err


def test_debian_sha256_naming_a_host_file_is_not_read(
    tmp_path: Path,
    archive: FixtureArchive,
    capsys: pytest.CaptureFixture[str],
    host_canary: HostCanary,
) -> None:
    # the old cache path was deb_cache() / sha[:2] / f"{sha}.deb": an absolute "sha256"
    # made the build read a .deb from anywhere on the host as if it were verified
    spec, lock = debian_spec_and_lock(tmp_path, archive)
    planted = tmp_path / "planted"
    good = next(d for d in archive.debs(SUITE) if d.name == "hello")
    planted.with_suffix(".deb").write_bytes(archive.path_of(good).read_bytes())
    lock["archs"]["amd64"]["packages"][0]["sha256"] = str(planted)
    err = refused(tmp_path, capsys, spec, lock)
    assert "is not 64 lowercase hex" in err


def test_wheel_url_with_encoded_slash_is_refused_at_lock_time(tmp_path: Path) -> None:
    # pip's report is decoded before the name is split, so %2F cannot become a '/'
    (tmp_path / "r.txt").write_text("x==1\n")
    backend = PythonBackend(tmp_path / "s.yaml", PythonAppModel(requirements="r.txt"))
    item = {
        "download_info": {
            "url": "https://files.invalid/p/..%2F..%2F..%2Fetc%2Fcron.d%2Fx.whl",
            "archive_info": {"hashes": {"sha256": WHEEL_SHA}},
        },
        "metadata": {"name": "x", "version": "1"},
    }
    pkg = backend._package(item)
    assert pkg.filename == "x.whl"
    item["download_info"]["url"] = "https://files.invalid/p/x%00.whl"  # type: ignore[index]
    with pytest.raises(SpecError, match="is not one file name"):
        app_package("python", asdict(backend._package(item)), "pip's report")
