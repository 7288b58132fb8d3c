"""The fleet file: validation, paths, durations, policy thresholds, feed keyrings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.errors import SpecError
from hardbase.lifecycle.fleet import load_fleet, parse_duration
from hardbase.vuln.severity import Severity

GOOD = """
registry: {url: "127.0.0.1:5000", insecure: true}
state: state/state.db
interval: 5m
sign_key: keys/cosign.key
webhook: {url: "http://127.0.0.1:9000/hook", secret_env: HARDBASE_WEBHOOK_SECRET}
feeds: [debian-changelog, {name: osv, locations: [osv/]}]
images:
  - spec: images/python3.yaml
    repository: hardbase/python3
    tags: ["3.13", "latest"]
    policy: policies/default.yaml
    smoke: ["python3", "-c", "import ssl"]
  - spec: images/static.yaml
    repository: hardbase/static
    tags: [latest]
    relock: full
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_a_good_fleet_resolves_paths_and_durations(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "default.yaml").write_text(
        "vulnerabilities: {max_severity: {fixable: high, no-fix: high, wont-fix: high}}\n"
    )
    fleet = load_fleet(write(tmp_path, GOOD))
    assert fleet.registry == "127.0.0.1:5000" and fleet.insecure
    assert fleet.state == f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    assert fleet.interval == 300.0
    assert fleet.sign_key == tmp_path / "keys" / "cosign.key"
    assert [f.name for f in fleet.feeds] == ["debian-changelog", "osv"]
    py, static = fleet.images
    assert py.spec == tmp_path / "images" / "python3.yaml"
    assert py.tags == ("3.13", "latest") and py.smoke == ("python3", "-c", "import ssl")
    assert py.fail_on == Severity.CRITICAL and py.relock == "minimal"
    assert static.fail_on == Severity.HIGH and static.relock == "full"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("tags: [latest]", "tags: ['bad tag']"), "images.1.tags"),
        (("interval: 5m", "interval: soon"), "interval"),
        (("repository: hardbase/static", "repository: Hardbase/Static"), "repository"),
        (("relock: full", "relock: sometimes"), "relock"),
        (("sign_key: keys/cosign.key\n", ""), "sign_key"),
        (("feeds:", "fail_on: dreadful\nfeeds:"), "fail_on"),
    ],
)
def test_bad_fleets_name_the_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "default.yaml").write_text("non_root: true\n")
    with pytest.raises(SpecError, match=message):
        load_fleet(write(tmp_path, GOOD.replace(*change)))


def test_duplicate_repositories_and_missing_files(tmp_path: Path) -> None:
    text = GOOD.replace("hardbase/static", "hardbase/python3").replace(
        "    policy: policies/default.yaml\n", ""
    )
    with pytest.raises(SpecError, match="same repository"):
        load_fleet(write(tmp_path, text))
    with pytest.raises(SpecError, match="does not exist"):
        load_fleet(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_fleet(write(tmp_path, "images: [\n"))


def test_durations() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1h") == 3600
    assert parse_duration(42) == 42
    with pytest.raises(ValueError):
        parse_duration("-1s")


@pytest.mark.parametrize(
    ("vulnerabilities", "threshold"),
    [
        ("{max_severity: {fixable: medium, no-fix: medium, wont-fix: medium}}", Severity.HIGH),
        ("{max_severity: {fixable: none, no-fix: none, wont-fix: none}}", Severity.UNKNOWN),
        ("{max_severity: {fixable: none}}", Severity.HIGH),  # partial: the fleet's
        ("{max_severity: {fixable: low, no-fix: high, wont-fix: high}}", Severity.HIGH),  # mixed
        (
            "{max_severity: {fixable: critical, no-fix: critical, wont-fix: critical}}",
            Severity.HIGH,
        ),
        ("{max_fix_age_days: 3}", Severity.HIGH),
    ],
)
def test_the_policy_gives_the_threshold_only_when_it_maps_cleanly(
    tmp_path: Path, vulnerabilities: str, threshold: Severity | None
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "default.yaml").write_text(f"vulnerabilities: {vulnerabilities}\n")
    py, _ = load_fleet(write(tmp_path, GOOD)).images
    assert py.fail_on == (Severity.HIGH if threshold is None else threshold)  # None: fleet


def test_a_bad_policy_stops_the_fleet(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "default.yaml").write_text("fail_on: high\n")
    with pytest.raises(SpecError, match="default.yaml: field 'fail_on'"):
        load_fleet(write(tmp_path, GOOD))
    (tmp_path / "policies" / "default.yaml").unlink()
    with pytest.raises(SpecError, match="cannot read the policy"):
        load_fleet(write(tmp_path, GOOD))


def test_a_feed_keyring_is_relative_to_the_fleet_file(tmp_path: Path) -> None:
    from hardbase.vuln.importers.debian_changelog import split_keyring
    from hardbase.vuln.importers.interface import FeedError

    text = GOOD.replace(
        "feeds: [debian-changelog,",
        "feeds: [{name: debian-changelog, locations: ['http://127.0.0.1:1/', trixie, "
        "'signed-by=keys/archive.gpg']},",
    ).replace("    policy: policies/default.yaml\n", "")
    feed = load_fleet(write(tmp_path, text)).feeds[0]
    keyring = tmp_path / "keys" / "archive.gpg"
    assert feed.locations == ("http://127.0.0.1:1/", "trixie", f"signed-by={keyring}")
    assert split_keyring(feed.locations) == (("http://127.0.0.1:1/", "trixie"), keyring)
    with pytest.raises(FeedError, match="more than one"):
        split_keyring(["signed-by=/a.gpg", "signed-by=/b.gpg"])


def test_every_problem_of_a_fleet_is_named_with_close_field_names(tmp_path: Path) -> None:
    text = GOOD.replace("    relock: full", "    relok: full")
    text = text.replace("interval: 5m", "intervall: 5m")
    text = text.replace('tags: ["3.13", "latest"]', 'tags: ["bad tag!"]')
    with pytest.raises(SpecError) as info:
        load_fleet(write(tmp_path, text))
    message = info.value.diagnostics()
    assert ": 3 problems: " in message, message
    assert "field 'intervall' is not a field of a fleet file (did you mean 'interval'?)" in message
    assert "field 'images.1.relok' is not a field of 'images' (did you mean 'relock'?)" in message
    assert "field 'images.0.tags': 'bad tag!' is not a valid image tag" in message
