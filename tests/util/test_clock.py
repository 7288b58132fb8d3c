"""util/clock: one reader of SOURCE_DATE_EPOCH and one RFC 3339 form for every output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hardbase.build.image import created_time
from hardbase.errors import UsageError
from hardbase.sbom.interface import creation_time
from hardbase.util import clock
from hardbase.vuln.report.interface import timestamp


def test_rfc3339_is_utc_to_the_second_from_a_datetime_or_a_unix_time() -> None:
    assert clock.rfc3339(1700000000) == "2023-11-14T22:13:20Z"
    assert clock.rfc3339(1700000000.75) == "2023-11-14T22:13:20Z"
    plus_two = timezone(timedelta(hours=2))
    assert clock.rfc3339(datetime(2024, 1, 2, 5, 4, 5, 999, tzinfo=plus_two)) == (
        "2024-01-02T03:04:05Z"
    )
    assert clock.rfc3339(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"  # naive: UTC


def test_source_date_epoch_unset_or_empty_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert clock.source_date_epoch() is None
    monkeypatch.setenv("SOURCE_DATE_EPOCH", " ")
    assert clock.source_date_epoch() is None
    before = datetime.now(UTC).replace(microsecond=0)
    assert before <= clock.reproducible_now() <= datetime.now(UTC)


def test_every_output_takes_the_same_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert clock.source_date_epoch() == 1700000000
    assert timestamp() == "2023-11-14T22:13:20Z"  # scan reports (CycloneDX, OpenVEX)
    assert clock.rfc3339(creation_time()) == "2023-11-14T22:13:20Z"  # SBOMs
    assert created_time(["Sat, 10 Jun 2023 08:00:00 UTC"], clock.source_date_epoch()) == (
        "2023-11-14T22:13:20Z"  # image configs
    )


@pytest.mark.parametrize("value", ["soon", "1.5", "99999999999999999999"])
def test_a_bad_source_date_epoch_is_one_sentence_everywhere(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    sentence = f"SOURCE_DATE_EPOCH='{value}' is not a Unix time"
    for read in (clock.source_date_epoch, creation_time, timestamp):
        # scan reports used to ignore a bad value and write the wall clock
        with pytest.raises(UsageError, match=sentence.replace(".", r"\.")):
            read()
