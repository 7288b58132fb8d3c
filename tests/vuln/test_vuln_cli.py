"""`hardbase db update|status` and `hardbase scan` end to end, on an OCI image built here."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from data.images.fixture_images import file, gz, tar_bytes, write_oci
from hardbase.cli.main import main
from hardbase.vuln.db import DatabaseError, VulnDB
from schema_check import check as check_schema

DATA = Path(__file__).parents[1] / "data" / "vuln"  # the fixtures in tests/data/vuln

STATUS = """\
Package: libssl3
Status: install ok installed
Architecture: amd64
Source: fixture-openssl
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: fixture-zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1

Package: fixture-limited
Status: install ok installed
Architecture: all
Version: 1.0

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
"""
METADATA = "Metadata-Version: 2.1\nName: Fixture_Requests\nVersion: 2.30.0\n"


@pytest.fixture
def image(tmp_path: Path) -> str:
    layer = tar_bytes([
        file("etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
             'VERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        file("var/lib/dpkg/status", STATUS),
        file("usr/lib/python3/dist-packages/Fixture_Requests-2.30.0.dist-info/METADATA",
             METADATA),
    ])  # fmt: skip
    return f"oci:{write_oci(tmp_path / 'image', [gz(layer)])}"


@pytest.fixture
def dbpath(tmp_path: Path) -> str:
    path = str(tmp_path / "cli.db")
    code = main([
        "-q", "db", "update", "--db", path,
        "--source", f"osv={DATA / 'osv'}",
        "--source", f"debian-tracker={DATA / 'tracker.json'}",
        "--source", f"debian-security-support={DATA / 'support'}",
    ])  # fmt: skip
    assert code == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_db_update_over_http_and_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, feed_server: str
) -> None:
    path = str(tmp_path / "http.db")
    code, _, err = run(capsys, "-q", "db", "update", "--db", path,
                       "--source", f"debian-tracker={feed_server}/tracker.json")  # fmt: skip
    assert code == 0, err
    assert "debian-tracker: 7 advisories, 7 package records" in err
    code, out, err = run(capsys, "db", "status", "--db", path)
    assert code == 0
    assert "debian-tracker" in out and f"{feed_server}/tracker.json" in out
    assert "warning" not in err
    code, out, err = run(capsys, "db", "status", "--db", path, "--max-age", "0")
    assert code == 0 and "older than 0 hours: debian-tracker" in err


def test_db_status_of_an_empty_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "db", "status", "--db", str(tmp_path / "empty.db"))
    assert code == 0
    assert "no sources imported yet" in out
    assert "the vulnerability database is empty" in err


def test_db_update_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "db", "update", "--db", str(tmp_path / "x.db"), "--source", "nvd")
    assert code == 2 and "there is no source 'nvd'" in err
    code, _, err = run(capsys, "db", "update", "--db", str(tmp_path / "x.db"),
                       "--source", f"osv={tmp_path / 'missing.zip'}")  # fmt: skip
    assert code == 2 and "does not exist" in err


def test_scan_json(capsys: pytest.CaptureFixture[str], image: str, dbpath: str) -> None:
    code, out, err = run(capsys, "scan", image, "--db", dbpath, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    check_schema("scan", doc)
    assert doc["image"]["reference"] == image
    assert doc["image"]["digest"].startswith("sha256:")
    assert doc["image"]["os"]["version_id"] == "12"
    findings = {(f["package"]["name"], f["id"]): f for f in doc["findings"]}
    zlib = findings[("zlib1g", "CVE-2099-1003")]
    assert zlib["package"]["source_name"] == "fixture-zlib"
    assert zlib["package"]["source_version"] == "1:1.2.13.dfsg-1"
    assert zlib["package"]["type"] == "deb"
    assert zlib["package"]["path"] == "var/lib/dpkg/status"
    assert zlib["package"]["layer"].startswith("sha256:")
    assert zlib["package"]["purl"].startswith("pkg:deb/debian/zlib1g@")
    assert zlib["fixed_version"] == "1:1.2.13.dfsg-1+deb12u1" and zlib["status"] == "fixable"
    req = findings[("fixture-requests", "CVE-2099-1001")]
    assert req["package"]["type"] == "pypi" and req["severity"] == "critical"
    assert findings[("libssl3", "CVE-2099-2002")]["fixed_version"] is None
    assert doc["summary"]["by_status"]["fixable"] == 3
    assert doc["summary"]["total"] == len(doc["findings"])
    assert [s["package"]["name"] for s in doc["support"]] == ["fixture-limited"]


def test_scan_gate_exit_codes(capsys: pytest.CaptureFixture[str], image: str, dbpath: str) -> None:
    code, out, err = run(capsys, "scan", image, "--db", dbpath, "--fail-on", "critical")
    assert code == 1 and "CVE-2099-1001" in err
    assert "Total:" in out  # the report is still written
    # no fixable finding at or above... none exists above critical; with VEX below
    code, _, err = run(capsys, "scan", image, "--db", dbpath, "--fail-on", "low",
                       "--ignore-unfixed")  # fmt: skip
    assert code == 1
    code, _, _ = run(capsys, "scan", "oci:/nonexistent/layout", "--db", dbpath)
    assert code == 2
    code, _, err = run(capsys, "scan", image, "--db", dbpath, "--vex", "/nonexistent/vex.json")
    assert code == 2 and "cannot read the VEX document" in err


def test_scan_gate_counts_unfixed_only_when_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, image: str
) -> None:
    path = str(tmp_path / "tracker-only.db")
    tracker = json.loads((DATA / "tracker.json").read_text())
    only_open = {"fixture-openssl": {"CVE-2099-2002": tracker["fixture-openssl"]["CVE-2099-2002"]}}
    feed = tmp_path / "open.json"
    feed.write_text(json.dumps(only_open))
    assert main(["-q", "db", "update", "--db", path, "--source", f"debian-tracker={feed}"]) == 0
    code, _, _ = run(capsys, "scan", image, "--db", path, "--fail-on", "low")
    assert code == 0
    code, _, _ = run(capsys, "scan", image, "--db", path, "--fail-on", "low", "--include-unfixed")
    assert code == 1
    vex = tmp_path / "vex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/1",
        "author": "test", "timestamp": "2024-06-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2099-2002"},
                        "products": [{"@id": "pkg:deb/debian/libssl3"}],
                        "status": "not_affected", "justification": "component_not_present"}],
    }))  # fmt: skip
    code, _, _ = run(capsys, "scan", image, "--db", path, "--fail-on", "low", "--include-unfixed",
                     "--vex", str(vex))  # fmt: skip
    assert code == 0


def test_scan_table_and_output_file(
    capsys: pytest.CaptureFixture[str], image: str, dbpath: str, tmp_path: Path
) -> None:
    out_file = tmp_path / "report.txt"
    code, out, _ = run(capsys, "scan", image, "--db", dbpath, "--output", str(out_file))
    assert code == 0 and out == ""
    lines = out_file.read_text().splitlines()
    header = next(line for line in lines if line.startswith("PACKAGE"))
    row = next(line for line in lines if "CVE-2099-1003" in line)
    assert row.index("fixable") == header.index("STATUS")  # aligned columns
    assert lines[-1].startswith("Total: ")
    assert any(line.startswith("support limited: fixture-limited") for line in lines)
    assert not any("CVE-2099-2004" in line for line in lines)  # not-affected: counted, not listed


def test_scan_refuses_a_missing_empty_or_stale_database(
    capsys: pytest.CaptureFixture[str], image: str, tmp_path: Path, dbpath: str
) -> None:
    missing = tmp_path / "mistyped.db"
    code, out, err = run(capsys, "scan", image, "--db", str(missing))
    assert code == 2 and out == ""
    assert f"there is no vulnerability database at {missing}" in err
    assert "`hardbase db update`" in err and len(err.strip().splitlines()) == 1
    assert not missing.exists()  # nothing written
    empty = tmp_path / "empty.db"
    VulnDB.open(empty).close()
    code, out, err = run(capsys, "scan", image, "--db", str(empty))
    assert code == 2 and out == "" and "holds no vulnerability data" in err
    with VulnDB.open(dbpath) as db:
        tracker = db.source("debian-tracker")
        assert tracker is not None
        db.record_source(
            dataclasses.replace(tracker, imported_at=datetime.now(UTC) - timedelta(days=8))
        )
    code, out, err = run(capsys, "scan", image, "--db", dbpath)
    assert code == 2 and out == ""
    assert "older than --max-db-age 7d: debian-tracker (8d old)" in err
    code, out, err = run(capsys, "scan", image, "--db", dbpath, "--max-db-age", "10d")
    assert code == 0 and "vulnerability data older than 24h: debian-tracker (8d)" in err
    code, _, err = run(capsys, "scan", image, "--db", dbpath, "--max-db-age", "soon")
    assert code == 2 and "give a duration such as 7d" in err


def test_policy_check_and_compare_refuse_an_empty_database(
    capsys: pytest.CaptureFixture[str], image: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    VulnDB.open(empty).close()
    for argv in (["policy", "check", image], ["compare", image]):
        code, out, err = run(capsys, *argv, "--db", str(empty))
        assert code == 2 and out == "", argv
        assert "holds no vulnerability data" in err and "hardbase db update" in err
        code, out, err = run(capsys, *argv, "--db", str(tmp_path / "none.db"))
        assert code == 2 and "there is no vulnerability database" in err
    assert not (tmp_path / "none.db").exists()


@pytest.fixture
def unrated_db(tmp_path: Path) -> str:
    """A database whose only finding for the image has no severity (fixture data)."""
    feed = tmp_path / "unrated.json"
    feed.write_text(json.dumps({"fixture-openssl": {"CVE-2099-2901": {
        "description": "Fixture: fixed, never rated",
        "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1",
                                  "urgency": "not yet assigned"}}}}}))  # fmt: skip
    path = str(tmp_path / "unrated.db")
    assert main(["-q", "db", "update", "--db", path, "--source", f"debian-tracker={feed}"]) == 0
    return path


def test_unknown_severity_fails_any_threshold_unless_opted_out(
    capsys: pytest.CaptureFixture[str], image: str, unrated_db: str
) -> None:
    code, out, err = run(capsys, "scan", image, "--db", unrated_db, "--fail-on", "critical")
    assert code == 1 and "1 of them of unknown severity" in err and "CVE-2099-2901" in err
    assert "unknown: 1" in out and "critical: 0" in out
    assert "1 findings have no known severity" in out
    code, _, _ = run(capsys, "scan", image, "--db", unrated_db, "--fail-on", "critical",
                     "--no-fail-on-unknown")  # fmt: skip
    assert code == 0
    code, _, _ = run(capsys, "scan", image, "--db", unrated_db, "--fail-on", "unknown")
    assert code == 1
    code, _, err = run(capsys, "scan", image, "--db", unrated_db, "--fail-on", "unknown",
                       "--no-fail-on-unknown")  # fmt: skip
    assert code == 2 and "contradict" in err
    code, out, _ = run(capsys, "scan", image, "--db", unrated_db, "--format", "json")
    doc = json.loads(out)
    assert doc["summary"]["unknown_severity"] == 1
    assert doc["summary"]["by_severity"]["unknown"] == 1
    assert doc["findings"][0]["severity"] == "unknown"
    assert doc["findings"][0]["severity_source"] is None


def test_scan_states_data_coverage(
    capsys: pytest.CaptureFixture[str], image: str, unrated_db: str, dbpath: str
) -> None:
    # the tracker-only database has nothing for the image's Python package
    code, out, err = run(capsys, "scan", image, "--db", unrated_db, "--format", "json")
    assert code == 0
    cov = {c["class"]: c for c in json.loads(out)["coverage"]}
    assert cov["pypi"]["packages"] == 1 and not cov["pypi"]["covered"]
    assert "no PyPI vulnerability data" in cov["pypi"]["warning"]
    assert cov["debian-fixed"]["covered"] and cov["debian-fixed"]["sources"] == ["debian-tracker"]
    assert cov["go"]["packages"] == 0 and cov["go"]["covered"]  # no Go binary in the image
    assert "no PyPI vulnerability data" in err
    code, out, _ = run(capsys, "scan", image, "--db", unrated_db)
    assert "warning: no PyPI vulnerability data in the database" in out
    code, out, _ = run(capsys, "scan", image, "--db", dbpath)
    assert "warning:" not in out and "PyPI (osv)" in out


def _schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((DATA / "schemas" / name).read_text())
    return loaded


def test_sarif_validates_against_the_official_schema(
    capsys: pytest.CaptureFixture[str], image: str, dbpath: str
) -> None:
    code, out, _ = run(capsys, "scan", image, "--db", dbpath, "--format", "sarif")
    assert code == 0
    doc = json.loads(out)
    jsonschema.Draft4Validator(_schema("sarif-schema-2.1.0.json")).validate(doc)
    results = doc["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"CVE-2099-1001", "CVE-2099-1003"}
    assert all(r["level"] in ("error", "warning", "note") for r in results)


def test_cyclonedx_validates_against_the_1_6_schema(
    capsys: pytest.CaptureFixture[str], image: str, dbpath: str
) -> None:
    code, out, _ = run(capsys, "scan", image, "--db", dbpath, "--format", "cyclonedx")
    assert code == 0
    doc = json.loads(out)
    registry: Registry = Registry().with_resources(
        (name, Resource.from_contents(_schema(name)))
        for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json")
    )
    schema = _schema("bom-1.6.SNAPSHOT.schema.json")
    jsonschema.Draft7Validator(schema, registry=registry).validate(doc)
    assert doc["specVersion"] == "1.6"
    refs = {c["bom-ref"] for c in doc["components"]}
    assert all(a["ref"] in refs for v in doc["vulnerabilities"] for a in v["affects"])


def test_openvex_output_round_trips(
    capsys: pytest.CaptureFixture[str], image: str, dbpath: str, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "scan", image, "--db", dbpath, "--format", "openvex")
    assert code == 0
    doc = json.loads(out)
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
    for st in doc["statements"]:
        assert st["status"] in ("affected", "not_affected")
        if st["status"] == "not_affected":
            assert st["justification"] or st["impact_statement"]
        else:
            assert st["action_statement"]
        assert st["products"][0]["@id"].startswith("pkg:oci/image@sha256:")
    # our own OpenVEX, fed back, suppresses the not-affected findings only
    vex = tmp_path / "ours.json"
    vex.write_text(out)
    code, out2, _ = run(capsys, "scan", image, "--db", dbpath, "--format", "json",
                        "--vex", str(vex))  # fmt: skip
    assert code == 0
    statuses = {f["id"]: f["status"] for f in json.loads(out2)["findings"]}
    assert statuses["CVE-2099-2004"] == "not-affected"
    assert statuses["CVE-2099-1003"] == "fixable"


def _closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: connections are refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends, and nobody listens
    return f"http://127.0.0.1:{port}/all.zip"


def test_partial_update_exits_0_when_the_required_feeds_updated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = str(tmp_path / "partial.db")
    unreachable = _closed_port_url()
    code, _, err = run(capsys, "-q", "db", "update", "--db", path,
                       "--source", f"osv={DATA / 'osv'}",
                       "--source", f"debian-tracker={DATA / 'tracker.json'}")  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, "db", "status", "--db", path)
    before = {line.split()[0]: line for line in out.splitlines()[2:]}
    # osv unreachable now; the tracker is required and updates
    args = ["-q", "db", "update", "--db", path, "--source", f"osv={unreachable}",
            "--source", f"debian-tracker={DATA / 'tracker.json'}"]  # fmt: skip
    code, _, err = run(capsys, *args, "--required", "debian-tracker")
    assert code == 0, err
    assert f"warning: osv: cannot download the feed {unreachable}" in err
    assert "osv could not be updated and keep their older records" in err
    code, out, _ = run(capsys, "db", "status", "--db", path)
    after = {line.split()[0]: line for line in out.splitlines()[2:]}
    # the failed feed keeps its rows, time and location: it is not marked as updated
    assert after["osv"] == before["osv"] and str(DATA / "osv") in after["osv"]
    assert after["debian-changelog"].split()[1:3] == ["0", "never"]
    # the same failure of a required feed: exit 2, and still nothing changed
    code, _, err = run(capsys, *args, "--required", "osv")
    assert code == 2 and "required: osv; their records are unchanged" in err
    code, out, _ = run(capsys, "db", "status", "--db", path)
    assert {line.split()[0]: line for line in out.splitlines()[2:]}["osv"] == before["osv"]


def test_required_must_name_a_source_that_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "x.db"
    code, _, err = run(capsys, "db", "update", "--db", str(path), "--source",
                       f"osv={DATA / 'osv'}", "--required", "debian-tracker")  # fmt: skip
    assert code == 2 and "--required debian-tracker: 'debian-tracker' is not among" in err
    assert not path.exists()


def test_severity_filter_and_exit_code(
    capsys: pytest.CaptureFixture[str], image: str, dbpath: str, unrated_db: str
) -> None:
    code, out, err = run(capsys, "scan", image, "--db", dbpath, "--format", "json",
                         "--severity", "HIGH,critical")  # fmt: skip
    assert code == 0
    assert {f["severity"] for f in json.loads(out)["findings"]} == {"high", "critical"}
    assert "--severity hides 4 findings" in err
    # the gate follows the filter: the critical PyPI finding is filtered out
    code, _, _ = run(capsys, "scan", image, "--db", dbpath, "--fail-on", "low",
                     "--severity", "high")  # fmt: skip
    assert code == 1
    code, _, _ = run(capsys, "scan", image, "--db", dbpath, "--fail-on", "low",
                     "--severity", "negligible")  # fmt: skip
    assert code == 0
    # ... but never hides an unknown-severity finding from it
    code, out, _ = run(capsys, "scan", image, "--db", unrated_db, "--fail-on", "low",
                       "--severity", "critical")  # fmt: skip
    assert code == 1 and "CVE-2099-2901" not in out
    code, _, err = run(capsys, "scan", image, "--db", dbpath, "--severity", "HIGH,SEVERE")
    assert code == 2 and "'SEVERE' is not one of unknown" in err
    # --exit-code: the gate's code; alone, any reported open finding fails (Trivy's meaning)
    code, _, _ = run(capsys, "scan", image, "--db", dbpath, "--fail-on", "critical",
                     "--exit-code", "5")  # fmt: skip
    assert code == 5
    code, _, _ = run(capsys, "scan", image, "--db", dbpath, "--exit-code", "3")
    assert code == 3
    code, _, _ = run(capsys, "scan", image, "--db", dbpath, "--exit-code", "3",
                     "--severity", "medium", "--ignore-unfixed")  # fmt: skip
    assert code == 3
    code, _, err = run(capsys, "scan", image, "--db", dbpath, "--fail-on", "low",
                       "--exit-code", "0")  # fmt: skip
    assert code == 0 and "--exit-code 0" in err
    code, _, err = run(capsys, "scan", image, "--db", dbpath, "--exit-code", "300")
    assert code == 2 and "from 0 to 255" in err


def test_global_options_after_the_subcommand(
    capsys: pytest.CaptureFixture[str], image: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "late.db")
    feed = f"debian-tracker={DATA / 'tracker.json'}"
    code, _, err = run(capsys, "db", "update", "--db", path, "--source", feed, "-q")
    assert code == 0 and "debian-tracker: 7 advisories" in err
    # --debug after the subcommand: the error is raised with its traceback, not summarised
    with pytest.raises(DatabaseError):
        main(["scan", image, "--db", str(tmp_path / "missing.db"), "--debug"])
    code, _, err = run(capsys, "scan", image, "--db", str(tmp_path / "missing.db"), "-q")
    assert code == 2 and "there is no vulnerability database" in err
    from hardbase.cli.main import build_parser

    late = build_parser().parse_args(["policy", "check", image, "-q", "--debug"])
    assert late.quiet is True and late.debug is True
    early = build_parser().parse_args(["-q", "policy", "check", image])
    assert early.quiet is True and early.debug is False


def test_links_to_the_tracker_and_nvd(
    capsys: pytest.CaptureFixture[str], image: str, dbpath: str
) -> None:
    code, out, _ = run(capsys, "scan", image, "--db", dbpath, "--format", "json")
    zlib = next(f for f in json.loads(out)["findings"] if f["id"] == "CVE-2099-1003")
    assert zlib["links"] == {
        "tracker": "https://security-tracker.debian.org/tracker/CVE-2099-1003",
        "nvd": "https://nvd.nist.gov/vuln/detail/CVE-2099-1003",
    }
    code, out, _ = run(capsys, "scan", image, "--db", dbpath)
    row = next(line for line in out.splitlines() if "CVE-2099-1003" in line)
    assert row.endswith(
        "https://security-tracker.debian.org/tracker/CVE-2099-1003 "
        "https://nvd.nist.gov/vuln/detail/CVE-2099-1003"
    )


def _ids(out: str) -> set[str]:
    return {f["id"] for f in json.loads(out)["findings"]}


def test_ignore_files_with_expiry(
    capsys: pytest.CaptureFixture[str],
    image: str,
    dbpath: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    future = (date.today() + timedelta(days=30)).isoformat()
    past = (date.today() - timedelta(days=1)).isoformat()
    ours = tmp_path / "ours.hardbaseignore"
    ours.write_text(
        "# reviewed 2026-12 (fixture ids)\n"
        f"CVE-2099-1001 fixture-requests exp:{future} patched in our fork\n"
        f"CVE-2099-1003 zlib1g exp:{past} waiting for the point release\n"
        f"CVE-2099-2001 not-this-package exp:{future} scoped to another package\n"
    )
    scan_json = ("scan", image, "--db", dbpath, "--format", "json")
    code, out, err = run(capsys, *scan_json, "--ignorefile", str(ours), "--fail-on", "critical")
    assert code == 0, err  # the only critical finding is ignored
    ids = _ids(out)
    assert "CVE-2099-1001" not in ids
    assert "CVE-2099-1003" in ids  # expired: applies no more, and says so
    assert f"{ours}:3: the entry for CVE-2099-1003 expired on {past}" in err
    assert "CVE-2099-2001" in ids  # another package's entry
    assert "1 findings ignored" in err
    # .trivyignore lines, found in the current directory by default
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".trivyignore").write_text(
        f"CVE-2099-1003\nCVE-2099-2001 exp:{past}\n# comment\nCVE-2099-2002 exp:{future}\n"
    )
    code, out, err = run(capsys, *scan_json)
    assert code == 0
    ids = _ids(out)
    assert "CVE-2099-1003" not in ids and "CVE-2099-2002" not in ids and "CVE-2099-2001" in ids
    assert "expired on" in err
    for bad, message in [
        ("CVE-2099-1001 fixture-requests\n", "give the expiry and the reason"),
        (f"CVE-2099-1001 exp:{future}\n", "give the expiry and the reason"),
        ("CVE-2099-1001 pkg exp:2026-02-30 reason\n", "is not a date"),
        ("not an id\n", "is not a vulnerability id"),
    ]:
        ours.write_text(bad)
        code, out, err = run(capsys, *scan_json, "--ignorefile", str(ours))
        assert code == 2 and out == "" and message in err, bad
    code, _, err = run(capsys, *scan_json, "--ignorefile", str(tmp_path / "nope"))
    assert code == 2 and "cannot read the ignore file" in err
    (tmp_path / "x.trivyignore").write_text("CVE-2099-1003 zlib1g\n")
    code, _, err = run(capsys, *scan_json, "--ignorefile", str(tmp_path / "x.trivyignore"))
    assert code == 2 and "as in Trivy" in err


def test_cache_dir_holds_the_default_database(
    capsys: pytest.CaptureFixture[str], image: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    feed = f"debian-tracker={DATA / 'tracker.json'}"
    assert main(["-q", "--cache-dir", str(cache), "db", "update", "--source", feed]) == 0
    assert (cache / "vuln.db").is_file()  # not $HARDBASE_DB, which the tests set
    code, out, err = run(capsys, "scan", image, "--cache-dir", str(cache), "--format", "json")
    assert code == 0, err
    assert "CVE-2099-2001" in out
    code, _, err = run(capsys, "scan", image, "--cache-dir", str(tmp_path / "other"))
    assert code == 2 and f"no vulnerability database at {tmp_path / 'other' / 'vuln.db'}" in err
    # the override ends with the command: the next one uses the environment again
    from hardbase.util.paths import default_db_path

    assert main(["db", "status"]) == 0 and default_db_path().parent != cache


def test_scan_reads_sqlite_without_sqlalchemy_to_the_same_result(
    image: str, dbpath: str, tmp_path: Path
) -> None:
    """`scan` reads a SQLite database with sqlite3 (SQLAlchemy's import is half a second),
    and finds exactly what VulnDB finds; a file at an older schema still goes to VulnDB."""
    import sqlite3
    import subprocess
    import sys

    from hardbase.vuln.dbread import SqliteReader, open_reader
    from hardbase.vuln.inventory import inventory
    from hardbase.vuln.scan import scan

    out = tmp_path / "scan.json"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hardbase", "scan", image]
        + ["--db", dbpath, "--format", "json", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set(re.findall(r"^import time:.*\|\s*([\w.]+)$", proc.stderr, re.M))
    assert "hardbase.vuln.dbread" in modules and "sqlalchemy" not in modules
    assert json.loads(out.read_text())["findings"]

    found = inventory(image).inventory
    with VulnDB.open(dbpath) as db:
        expected = scan(found, db)
    reader = open_reader(dbpath)
    try:
        assert isinstance(reader, SqliteReader)
        assert scan(found, reader) == expected and expected.findings
    finally:
        reader.close()

    with sqlite3.connect(dbpath) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.close()
    migrated = open_reader(dbpath)
    try:
        assert isinstance(migrated, VulnDB)  # migrated back to the current schema
    finally:
        migrated.close()
    assert isinstance(reopened := open_reader(dbpath), SqliteReader)
    reopened.close()
