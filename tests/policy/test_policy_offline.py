"""Policy loading, composites, exceptions and VEX scoping on small FIXTURE images (offline)."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hardbase.errors import SpecError
from hardbase.policy import check_image, load_policy, parse_policy
from hardbase.policy.interface import AllOf, AnyOf
from hardbase.policy.model import default_policy_path
from hardbase.policy.openvex import document, image_purl, statement
from hardbase.vuln.db import Advisory, Affected, VulnDB
from hardbase.vuln.vex import parse_vex
from registry_fixture import make_image
from schema_check import check as check_schema

OS_RELEASE = b'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\nPRETTY_NAME="Debian 13"\n'
LIBC6 = (
    b"Package: libc6\nStatus: install ok installed\nVersion: 2.41-12\nArchitecture: amd64\n"
    b"Source: glibc\n"
)
VULN = "FIXTURE-0001"  # made-up advisory id: fixture data
TODAY = date(2026, 11, 27)


def _image(root: Path, *, shell: bool) -> str:
    files = {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status.d/libc6": LIBC6}
    if shell:
        files["bin/sh"] = b"#!fixture shell\n"
    make_image(root, "latest", [files])
    return f"oci:{root}:latest"


@pytest.fixture
def images(tmp_path: Path) -> tuple[str, str]:
    return _image(tmp_path / "clean", shell=False), _image(tmp_path / "shelly", shell=True)


@pytest.fixture
def db(tmp_path: Path) -> VulnDB:
    handle = VulnDB.open(tmp_path / "fixture.db")
    handle.replace(
        "fixture",
        [Advisory(VULN, "fixture", severity="low", published="2026-11-01")],
        [Affected(VULN, "fixture", "debian:13", "glibc", "fixed", "2.41-13")],
    )
    return handle


def _policy(rules: dict[str, Any], base: Path = Path(".")) -> Any:
    return parse_policy({"name": "t", **rules}, "test policy", base)


def test_shipped_default_policy_validates() -> None:
    policy = load_policy(default_policy_path())
    m = policy.model
    assert m.non_root and m.sbom is not None and m.sbom.required
    assert m.filesystem is not None and m.filesystem.no_shell and m.filesystem.no_setuid
    assert m.vulnerabilities is not None and m.vulnerabilities.max_severity is not None
    assert m.vulnerabilities.max_severity.fixable == "none"
    assert m.vulnerabilities.unknown_as == "critical"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("non_root: yes\nno_such_rule: 1\n", "no_such_rule"),
        (
            "vulnerabilities:\n  max_severity:\n    fixable: severe\n",
            "vulnerabilities.max_severity",
        ),
        ("exceptions:\n  - id: X\n    justification: j\n", "exceptions.0.expires"),
        ("signature:\n  required: true\n", "signature.keys"),
        ("- a list\n", "expected a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_policies_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message.replace(".", r"\.")):
        load_policy(path)


def test_empty_policy_and_empty_composites_fail(images: tuple[str, str], db: VulnDB) -> None:
    report = check_image(images[0], _policy({}), db=db, today=TODAY)
    assert not report.ok and report.results[0].rule == "policy"
    facts_subject: Any = None
    assert not AllOf("all", []).check(facts_subject).ok
    assert not AnyOf("any", []).check(facts_subject).ok


def test_rules_judge_the_fixture_images(images: tuple[str, str], db: VulnDB) -> None:
    rules = {"filesystem": {"no_shell": True}, "non_root": True}
    clean = check_image(images[0], _policy(rules), db=db, today=TODAY)
    assert clean.ok, clean.to_json()
    shelly = check_image(images[1], _policy(rules), db=db, today=TODAY)
    assert [r.ok for r in shelly.results] == [True, False]
    assert "bin/sh" in shelly.results[1].reason


def test_exceptions_scope_and_expiry(images: tuple[str, str], db: VulnDB) -> None:
    vulns = {"vulnerabilities": {"max_severity": {"fixable": "none"}, "max_fix_age_days": 10}}
    report = check_image(images[0], _policy(vulns), db=db, today=TODAY)
    assert [r.ok for r in report.results] == [False, False]  # fixable; fix known 26 days
    entry = {"id": VULN, "justification": "fixture", "expires": "2026-12-31"}
    for scope, ok in (("pkg:deb/debian/libc6", True), ("pkg:deb/debian/libc-bin", False)):
        rules = {**vulns, "exceptions": [{**entry, "scope": scope}]}
        assert check_image(images[0], _policy(rules), db=db, today=TODAY).ok is ok
    other_image = {**vulns, "exceptions": [{**entry, "image": "sha256:0000*"}]}
    assert not check_image(images[0], _policy(other_image), db=db, today=TODAY).ok
    expired = {**vulns, "exceptions": [{**entry, "expires": "2026-11-26"}]}
    report = check_image(images[0], _policy(expired), db=db, today=TODAY)
    assert [r.rule for r in report.failures] == [
        "fixable findings at most none",
        "maximum age of an unapplied fix",
        "exceptions not expired",
    ]


def test_vex_for_another_image_is_ignored(images: tuple[str, str], db: VulnDB) -> None:
    from hardbase.evaluate.facts import collect_facts

    rules = _policy({"vulnerabilities": {"max_severity": {"fixable": "none"}}})
    digests = [collect_facts(ref).digest for ref in images]
    assert digests[0] != digests[1]

    def vex_for(digest: str) -> Any:
        st = statement(
            VULN,
            "not_affected",
            image_purl("img", digest),
            subcomponents=["pkg:deb/debian/libc6"],
            justification="vulnerable_code_not_present",
        )
        return parse_vex(document([st], author="test"))

    assert check_image(images[0], rules, db=db, vex=vex_for(digests[0]), today=TODAY).ok
    assert not check_image(images[0], rules, db=db, vex=vex_for(digests[1]), today=TODAY).ok


def test_policy_relative_paths_and_cli_exit_codes(
    images: tuple[str, str], db: VulnDB, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("name: fixture\nfilesystem:\n  no_shell: true\nvex: [v.json]\n")
    (tmp_path / "v.json").write_text(
        json.dumps(
            document(
                [
                    statement(
                        VULN,
                        "not_affected",
                        "pkg:deb/debian/libc6",
                        justification="vulnerable_code_not_present",
                    )
                ],
                author="t",
            )
        )
    )
    assert load_policy(policy).path("v.json") == tmp_path / "v.json"

    def run(ref: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "hardbase",
                "policy",
                "check",
                ref,
                "--policy",
                str(policy),
                "--db",
                db.location.removeprefix("sqlite:///"),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    ok = run(images[0])
    assert ok.returncode == 0, ok.stderr
    assert "PASS  no shell" in ok.stdout and ok.stdout.endswith("result: pass\n")
    bad = run(images[1], "--format", "json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["rules"][0]["ok"] is False
    check_schema("policy-check", json.loads(bad.stdout))
    check_schema("policy-check", json.loads(run(images[0], "--format", "json").stdout))
    missing = run(images[0].replace("clean", "nothing"))
    assert missing.returncode == 2 and missing.stdout == ""
