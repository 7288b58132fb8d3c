"""The executor seam's settings: `executor:` in the fleet file, the fleet's hash, and the
in-process default (no broker). The Celery executor itself runs against real services in
test_celery.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.errors import SpecError
from hardbase.lifecycle.executor import InProcess, executor_for
from hardbase.lifecycle.fleet import load_fleet

BASE = """
registry: {url: "127.0.0.1:5000", insecure: true}
state: STATE
vulndb: VULNDB
sign_key: keys/cosign.key
EXTRA
images:
  - spec: images/static.yaml
    repository: hardbase/static
    tags: [latest]
"""
PG = "postgresql://hardbase@127.0.0.1/hardbase"


def write(tmp_path: Path, extra: str, state: str = PG, vulndb: str = PG) -> Path:
    path = tmp_path / "fleet.yaml"
    text = BASE.replace("STATE", state).replace("VULNDB", vulndb).replace("EXTRA", extra)
    path.write_text(text)
    return path


def test_in_process_is_the_default(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, "", state="state.db", vulndb="vuln.db"))
    assert fleet.executor.kind == "in-process" and fleet.executor.broker == ""
    assert isinstance(executor_for(fleet), InProcess)


def test_celery_settings(tmp_path: Path) -> None:
    extra = "executor: {kind: celery, broker: 'redis://h:6379/0', visibility_timeout: 2m}"
    fleet = load_fleet(write(tmp_path, extra))
    settings = fleet.executor
    assert (settings.kind, settings.broker) == ("celery", "redis://h:6379/0")
    assert settings.visibility_timeout == 120.0 and settings.retries == 5


@pytest.mark.parametrize(
    ("extra", "state", "vulndb", "message"),
    [
        ("executor: {kind: celery}", PG, PG, "kind: celery needs broker: URL"),
        ("executor: {broker: 'redis://h/0'}", PG, PG, "broker: is for kind: celery"),
        ("executor: {kind: celery, broker: 'http://h/'}", PG, PG, "is not a redis://"),
        ("executor: {kind: threads}", PG, PG, "executor.kind"),
        ("executor: {kind: celery, broker: 'redis://h/0', visibility_timeout: 0s}", PG, PG,
         "executor.visibility_timeout"),
        ("executor: {kind: celery, broker: 'redis://h/0'}", "state.db", PG,
         "executor kind celery needs state: on PostgreSQL"),
        ("executor: {kind: celery, broker: 'redis://h/0'}", PG, "sqlite:///v.db",
         "executor kind celery needs vulndb: on PostgreSQL"),
    ],
)  # fmt: skip
def test_bad_executor_settings(
    tmp_path: Path, extra: str, state: str, vulndb: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load_fleet(write(tmp_path, extra, state, vulndb))
    text = caught.value.diagnostics()
    assert message in text and "\n" not in text.strip(), text


def test_the_fleet_hash_follows_content_not_layout(tmp_path: Path) -> None:
    first = load_fleet(write(tmp_path, "")).digest
    path = write(tmp_path, "# a comment changes nothing\n")
    flow, block = (
        '{url: "127.0.0.1:5000", insecure: true}',
        '\n  url: "127.0.0.1:5000"\n  insecure: true',
    )
    path.write_text(path.read_text().replace(flow, block))
    assert load_fleet(path).digest == first and first.startswith("sha256:")
    assert load_fleet(write(tmp_path, "lease: 20m")).digest != first
