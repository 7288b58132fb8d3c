"""Every policy rule passes on one real image and fails on another (or under another setting).

Images: hardbase's python3 build and the debian:trixie-slim + python3 reference,
both from the Debian archive (marked `archive`); findings come from a database of
FIXTURE advisories on packages the images really hold (see evaluate/real_images.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from evaluate.real_images import BASH_FIX, BASH_OPEN, GLIBC_FIX
from hardbase.cli.main import main
from hardbase.policy import PolicyReport, check_image, parse_policy
from hardbase.policy.openvex import document, image_purl, statement
from hardbase.vuln.db import VulnDB
from hardbase.vuln.vex import parse_vex

pytestmark = [pytest.mark.archive, pytest.mark.slow]

TODAY = date(2026, 11, 27)
FUTURE = "2027-06-30"
PAST = "2026-06-30"


def check(ref: str, rules: dict[str, Any], db_path: Path, **kw: Any) -> PolicyReport:
    policy = parse_policy({"name": "test", **rules}, "test policy", Path("."))
    with VulnDB.open(db_path) as db:
        return check_image(ref, policy, db=db, today=kw.pop("today", TODAY), **kw)


def verdict(report: PolicyReport, rule_prefix: str) -> bool:
    found = [r for r in report.results if r.rule.startswith(rule_prefix)]
    assert found, [r.rule for r in report.results]
    return found[0].ok


CASES = [
    ({"non_root": True}, "non-root"),
    ({"filesystem": {"no_shell": True}}, "no shell"),
    ({"filesystem": {"no_package_manager": True}}, "no package manager"),
    ({"filesystem": {"no_setuid": True}}, "no setuid"),
    ({"max_compressed_mb": 30}, "maximum compressed size"),
    # hardbase's skeleton leaves /var/lock 1777 (a directory, not Debian's symlink to /run/lock)
    (
        {
            "filesystem": {
                "no_world_writable": True,
                "world_writable_allowed": ["/tmp", "/var/tmp", "/var/lock"],
            }
        },
        "no world-writable",
    ),
    (
        {"vulnerabilities": {"max_severity": {"no-fix": "low"}}},
        "no-fix findings at most low",
    ),
    ({"vulnerabilities": {"max_fix_age_days": 30}}, "maximum age"),
    ({"support": {"distro_not_ended": False, "packages_not_ended": True}}, "packages supported"),
]


@pytest.mark.parametrize(("rules", "name"), CASES, ids=[c[1] for c in CASES])
def test_rule_passes_on_hardbase_and_fails_on_reference(
    rules: dict[str, Any], name: str, python3_ref: str, reference_ref: str, fixture_db_path: Path
) -> None:
    ok = check(python3_ref, rules, fixture_db_path, vex=_libc6_vex(python3_ref))
    assert verdict(ok, name), ok.to_json()
    bad = check(reference_ref, rules, fixture_db_path)
    assert not verdict(bad, name), bad.to_json()
    assert not bad.ok


def _libc6_vex(ref: str) -> list[Any]:
    from hardbase.evaluate.facts import collect_facts

    digest = collect_facts(ref).digest
    st = statement(
        GLIBC_FIX,
        "not_affected",
        image_purl("python3", digest),
        subcomponents=["pkg:deb/debian/libc6"],
        justification="vulnerable_code_not_in_execute_path",
    )
    return parse_vex(document([st], author="test"))


def test_fixable_rule_counts_unknown_severity(reference_ref: str, fixture_db_path: Path) -> None:
    # BASH_FIX has no severity: "fixable at most high" still fails on it (unknown → critical)
    report = check(
        reference_ref, {"vulnerabilities": {"max_severity": {"fixable": "high"}}}, fixture_db_path
    )
    rule = report.results[0]
    assert not rule.ok and BASH_FIX in rule.reason and GLIBC_FIX not in rule.reason


def test_exception_suppresses_until_it_expires(python3_ref: str, fixture_db_path: Path) -> None:
    rules = {"vulnerabilities": {"max_severity": {"fixable": "none"}}}
    entry = {"id": GLIBC_FIX, "scope": "pkg:deb/debian/libc6", "justification": "fixture"}
    assert not check(python3_ref, rules, fixture_db_path).ok
    current = check(
        python3_ref, {**rules, "exceptions": [{**entry, "expires": FUTURE}]}, fixture_db_path
    )
    assert current.ok, current.to_json()
    assert [f.id for f, _ in current.suppressed] == [GLIBC_FIX]
    expired = check(
        python3_ref, {**rules, "exceptions": [{**entry, "expires": PAST}]}, fixture_db_path
    )
    assert not expired.ok
    assert not verdict(expired, "exceptions not expired")
    assert not verdict(expired, "fixable findings")


def test_vex_suppresses_only_the_named_package_in_the_named_image(
    python3_ref: str, reference_ref: str, fixture_db_path: Path
) -> None:
    from hardbase.evaluate.facts import collect_facts

    digest = collect_facts(reference_ref).digest
    st = statement(
        GLIBC_FIX,
        "not_affected",
        image_purl("reference", digest),
        subcomponents=["pkg:deb/debian/libc6"],
        justification="vulnerable_code_not_present",
    )
    vex = parse_vex(document([st], author="test"))
    rules = {"vulnerabilities": {"max_severity": {"fixable": "none"}}}

    def glibc(report: PolicyReport) -> set[str]:
        return {d.split(" ")[3] for r in report.results for d in r.details if GLIBC_FIX in d}

    ref_report = check(reference_ref, rules, fixture_db_path, vex=vex)
    assert glibc(ref_report) == {"libc-bin"}  # libc6 suppressed, its sibling binary not
    assert [(f.id, f.package.name) for f, _ in ref_report.suppressed] == [(GLIBC_FIX, "libc6")]
    py_report = check(python3_ref, rules, fixture_db_path, vex=vex)
    assert glibc(py_report) == {"libc6"}  # another image: untouched
    assert not py_report.suppressed


def test_licences_allowed_and_denied(python3_ref: str, fixture_db_path: Path) -> None:
    assert check(python3_ref, {"licenses": {"denied": ["AGPL-*", "SSPL-1.0"]}}, fixture_db_path).ok
    denied = check(python3_ref, {"licenses": {"denied": ["GPL-3.0-*"]}}, fixture_db_path)
    assert not denied.ok and "libc6" in denied.results[0].reason
    assert check(python3_ref, {"licenses": {"allowed": ["*"]}}, fixture_db_path).ok
    assert not check(python3_ref, {"licenses": {"allowed": ["MIT"]}}, fixture_db_path).ok


def test_distro_support_ends(python3_ref: str, fixture_db_path: Path) -> None:
    rules = {"support": {"packages_not_ended": False, "warn_days": 90}}
    assert check(python3_ref, rules, fixture_db_path).ok
    warned = check(python3_ref, rules, fixture_db_path, today=date(2030, 5, 1))
    assert warned.ok and warned.results[0].level == "warning" and not warned.results[0].ok
    assert not check(python3_ref, rules, fixture_db_path, today=date(2030, 7, 1)).ok


@pytest.fixture(scope="module")
def signed(python3_ref: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """A copy of the python3 image signed with a key, with provenance and SBOM attestations."""
    tmp = tmp_path_factory.mktemp("signed")
    ref = f"oci:{tmp / 'image'}:latest"
    assert main(["-q", "push", python3_ref, ref]) == 0
    os.environ.setdefault("HARDBASE_KEY_PASSWORD", "fixture-password")
    assert main(["-q", "keygen", "--output-prefix", str(tmp / "good")]) == 0
    assert main(["-q", "keygen", "--output-prefix", str(tmp / "other")]) == 0
    provenance = tmp / "provenance.json"  # FIXTURE predicate
    provenance.write_text(json.dumps({"buildDefinition": {"buildType": "fixture"}}))
    sbom = tmp / "sbom.spdx.json"  # FIXTURE predicate
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "fixture"}))
    assert (
        main(["-q", "sign", ref, "--key", str(tmp / "good.key"), "--predicate", str(provenance)])
        == 0
    )
    assert (
        main(
            [
                "-q",
                "sign",
                ref,
                "--key",
                str(tmp / "good.key"),
                "--predicate",
                str(sbom),
                "--type",
                "spdx",
            ]
        )
        == 0
    )
    return ref, tmp / "good.pub", tmp / "other.pub"


def test_signature_provenance_and_sbom(
    signed: tuple[str, Path, Path], python3_ref: str, reference_ref: str, fixture_db_path: Path
) -> None:
    ref, good, other = signed
    rules = {
        "signature": {"keys": [str(good)]},
        "provenance": {"keys": [str(good)]},
        "sbom": {"required": True},
    }
    report = check(ref, rules, fixture_db_path)
    assert report.ok, report.to_json()
    wrong = check(
        ref,
        {"signature": {"keys": [str(other)]}, "provenance": {"keys": [str(other)]}},
        fixture_db_path,
    )
    assert [r.ok for r in wrong.results] == [False, False]
    assert check(python3_ref, {"sbom": {"required": True}}, fixture_db_path).ok  # beside it
    unsigned = check(reference_ref, rules, fixture_db_path)
    assert [r.ok for r in unsigned.results] == [False, False, False]


def test_cli_prints_every_rule_and_exits_1(
    reference_ref: str, fixture_db_path: Path, tmp_path: Path
) -> None:
    policy = Path(__file__).parents[2] / "policies" / "default.yaml"
    done = subprocess.run(
        [
            "hardbase",
            "policy",
            "check",
            reference_ref,
            "--policy",
            str(policy),
            "--db",
            str(fixture_db_path),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert {r["rule"] for r in doc["rules"] if not r["ok"]} >= {
        "non-root user",
        "no shell",
        "no package manager",
        "no setuid/setgid files",
        "fixable findings at most none",
    }
    assert "fails the policy" in done.stderr and done.stderr.count("\n") == 1
    text = subprocess.run(
        ["hardbase", "policy", "check", reference_ref, "--db", str(fixture_db_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert text.returncode == 1 and "FAIL  no shell: shells present: bin/sh" in text.stdout
    assert BASH_FIX in text.stdout and BASH_OPEN not in text.stdout.split("fixable")[0]
