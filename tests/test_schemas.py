"""The JSON Schemas shipped in src/hardbase/schemas: valid Draft 2020-12, documented, and strict.

Real outputs are checked against them where the tests make them: `scan --format
json` (tests/vuln/test_vuln_cli.py), `policy check --format json`
(tests/policy/test_policy_offline.py), `status --format json` after real
controller passes (tests/lifecycle/test_watch_e2e.py) and the lock file
(tests/build/test_build_fixture.py), `compare --json` (tests/evaluate) and
`patch find --json` (tests/patch/test_find.py). Here a real scan document, a
real lock file, a real scorecard and a real `patch find` document are changed
the way code drifts (a field renamed, added, dropped or retyped), and each
change must fail validation.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from archive_fixture import FixtureArchive
from data.images.fixture_images import file, gz, tar_bytes, write_oci
from hardbase.cli.main import main
from hardbase.schemas import NAMES, load
from schema_check import errors

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data" / "vuln"


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_draft_2020_12_and_documented(name: str) -> None:
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://hardbase.dev/schemas/{name}/v1"
    assert f"src/hardbase/schemas/{name}.schema.json" in (ROOT / "docs/schemas.md").read_text()


def test_scan_json_names_its_schema() -> None:
    from hardbase.vuln.report.json import SCHEMA

    assert SCHEMA == load("scan")["$id"]


def test_unknown_schema_name() -> None:
    with pytest.raises(KeyError, match="hardbase has no schema 'nope'"):
        load("nope")


@pytest.fixture
def scan_doc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    status = (
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
        "Source: fixture-zlib (1:1.2.13.dfsg-1)\nVersion: 1:1.2.13.dfsg-1+b1\n"
    )
    layer = tar_bytes([
        file("etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        file("var/lib/dpkg/status", status),
    ])  # fmt: skip
    image = f"oci:{write_oci(tmp_path / 'image', [gz(layer)])}"
    db = str(tmp_path / "v.db")
    assert main(["-q", "db", "update", "--db", db, "--source", f"osv={DATA / 'osv'}",
                 "--source", f"debian-tracker={DATA / 'tracker.json'}"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["scan", image, "--db", db, "--format", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert doc["findings"], "the fixture image must have findings for the drift checks"
    assert not errors("scan", doc)
    return doc


def _drifted(doc: dict[str, Any], change: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    finding = out["findings"][0]
    if change == "renamed":
        finding["fixed"] = finding.pop("fixed_version")
    elif change == "added":
        out["image"]["size"] = 1
    elif change == "dropped":
        del out["summary"]["by_severity"]["unknown"]
    elif change == "retyped":
        finding["aliases"] = ",".join(finding["aliases"])
    else:
        assert change == "new-status"
        finding["status"] = "fixed"
    return out


@pytest.mark.parametrize("change", ["renamed", "added", "dropped", "retyped", "new-status"])
def test_scan_schema_catches_drift(scan_doc: dict[str, Any], change: str) -> None:
    assert errors("scan", _drifted(scan_doc, change))


def test_lock_schema_checks_a_real_lock_and_catches_drift(tmp_path: Path) -> None:
    with FixtureArchive(tmp_path / "fixture") as archive:
        archive.add_package("hello", "1.0-1")
        archive.publish("stable")
        source = {"uris": [archive.url], "suites": ["stable"], "signed-by": str(archive.keyring)}
        spec = tmp_path / "hello.yaml"
        spec.write_text(
            yaml.safe_dump({"name": "hello", "packages": ["hello"], "sources": [source]})
        )
        assert main(["-q", "lock", str(spec)]) == 0
    lock = json.loads((tmp_path / "hello.lock.json").read_text())
    assert not errors("lock", lock)
    package = lock["archs"]["amd64"]["packages"][0]
    for key, value in (("sha256", "ABC"), ("filename", "x.deb"), ("size", "12")):
        bad = copy.deepcopy(lock)
        bad["archs"]["amd64"]["packages"][0] = {**package, key: value}
        assert errors("lock", bad), key


@pytest.fixture
def scorecard_doc(tmp_path: Path) -> dict[str, Any]:
    from hardbase.evaluate.scorecard import CompareOptions, compare

    layer = tar_bytes([
        file("etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        file("bin/sh", "fixture", mode=0o755),
    ])  # fmt: skip
    doc = compare([f"oci:{write_oci(tmp_path / 'image', [gz(layer)])}"], CompareOptions()).to_json()
    assert not errors("scorecard", doc)
    return doc


def _changed(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`doc` with the field at `path` (keys and list indexes, `/`-separated) set to
    `value`; DROP deletes it, and `RENAME:new` moves it to another name."""
    out = copy.deepcopy(doc)
    *parents, last = path.split("/")
    node: Any = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DROP:
        del node[last]
    elif isinstance(value, str) and value.startswith("RENAME:"):
        node[value[7:]] = node.pop(last)
    else:
        node[last] = value
    return out


DROP = object()


PATCH = (
    "Description: FIXTURE fix of CVE-2099-0001\nOrigin: upstream, https://fixture.invalid/a\n"
    "---\n--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-int a;\n+int a = 0;\n"
)


@pytest.fixture
def patch_find_doc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    def changelog(version: str, suite: str) -> str:
        return (
            f"fixture-a ({version}) {suite}; urgency=medium\n\n"
            "  * Fixture entry, not a real upload.\n\n"
            " -- hardbase tests <tests@hardbase.invalid>  Thu, 01 Jan 2026 10:00:00 +0000\n"
        )

    user = tmp_path / "mine.patch"
    user.write_text(PATCH)
    with FixtureArchive(tmp_path / "archive") as archive:
        archive.add_source(
            "fixture-a", "1.0-1", changelog("1.0-1", "bookworm"), suite="bookworm",
            binaries=["fixture-a"], files={"a.c": "int a;\n"},
        )  # fmt: skip
        archive.add_source(
            "fixture-a", "1.0-2", changelog("1.0-2", "trixie"), suite="trixie",
            binaries=["fixture-a"],
            files={"a.c": "int a;\n", "debian/patches/CVE-2099-0001.patch": PATCH,
                   "debian/patches/series": "CVE-2099-0001.patch\n"},
        )  # fmt: skip
        for suite in ("bookworm", "bookworm-security", "bookworm-updates", "trixie",
                      "trixie-security", "trixie-updates", "sid"):  # fmt: skip
            archive.publish(suite)
        capsys.readouterr()
        assert main(["--cache-dir", str(tmp_path / "cache"), "-q", "patch", "find", "fixture-a",
                     "CVE-2099-0001", "--release", "bookworm", "--mirror", archive.url,
                     "--security-mirror", archive.url, "--keyring", str(archive.keyring),
                     "--patch", str(user), "--json"]) == 0  # fmt: skip
        doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in doc["candidates"]] == ["debian", "user"]
    assert not errors("patch-find", doc)
    return doc


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("scorecard", "images/0/minimality/go_packages", "RENAME:golang_packages"),
        ("scorecard", "images/0/security/epss", 0.1),  # added
        ("scorecard", "images/0/security/undated_fixes", DROP),
        ("scorecard", "images/0/minimality/layers", "1"),  # retyped
        ("scorecard", "images/0/digest", None),  # not nullable
        ("scorecard", "images/0/compliance/verdict", "excellent"),
        ("patch-find", "candidates/0/sha256", "RENAME:digest"),
        ("patch-find", "candidates/1/from/line", 1),  # added
        ("patch-find", "candidates/0/from/suite", DROP),
        ("patch-find", "candidates/1/applies", "yes"),  # retyped
        ("patch-find", "suite", None),  # not nullable
        ("patch-find", "candidates/1/kind", "vendor"),
    ],
)
def test_scorecard_and_patch_find_schemas_catch_drift(
    request: pytest.FixtureRequest, name: str, path: str, value: Any
) -> None:
    doc = request.getfixturevalue(f"{name.replace('-', '_')}_doc")
    assert errors(name, _changed(doc, path, value))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("images/0/minimality/go_packages", "RENAME:golang_packages"),
        ("images/0/security/epss", 0.1),
        ("images/0/security/undated_fixes", DROP),
        ("images/0/minimality/layers", "1"),
        ("images/0/digest", None),
        ("images/0/compliance/verdict", "excellent"),
        ("images/0/security/by_status/unsure", 1),
        ("scorecard", 2),
    ],
)
def test_the_scorecard_model_refuses_what_the_schema_refuses(
    scorecard_doc: dict[str, Any], path: str, value: Any
) -> None:
    from hardbase.evaluate.model import Scorecard, ScorecardError

    text = json.dumps(scorecard_doc, indent=2)
    assert json.dumps(Scorecard.from_json(text, "card.json").to_json(), indent=2) == text
    drifted = _changed(scorecard_doc, path, value)
    assert errors("scorecard", drifted)
    with pytest.raises(ScorecardError) as caught:
        Scorecard.from_json(json.dumps(drifted), "card.json")
    message = caught.value.diagnostics()
    assert message.startswith("card.json is not a hardbase scorecard: ") and "\n" not in message
