"""Every --format is one Literal, defined beside its writer: the parser's choices are that
Literal's values, each value has its writer, and a value outside it is a usage error."""

from __future__ import annotations

import argparse
from typing import Any, get_args

import pytest

from hardbase.attest.names import KEY_FORMATS, KeyFormat
from hardbase.build import OutputFormat
from hardbase.build.pipeline import FORMATS as BUILD_FORMATS
from hardbase.cli.logs import LogFormat
from hardbase.cli.main import build_parser, main
from hardbase.cli.policy import PolicyFormat
from hardbase.cli.status import StatusFormat
from hardbase.sbom import SbomFormatName
from hardbase.sbom.generate import FORMAT_NAMES, get_format
from hardbase.vuln.report import ReportFormatName
from hardbase.vuln.report.interface import FORMATS as REPORT_FORMATS
from hardbase.vuln.report.interface import get_format as get_report_format

# (command line up to the option, the option's dest, the Literal it must offer)
OPTIONS: list[tuple[list[str], str, Any]] = [
    (["scan"], "format", ReportFormatName),
    (["sbom"], "format", SbomFormatName),
    (["build"], "format", OutputFormat),
    (["keygen"], "key_format", KeyFormat),
    (["policy", "check"], "format", PolicyFormat),
    (["status"], "format", StatusFormat),
    (["watch"], "log_format", LogFormat),
    (["worker"], "log_format", LogFormat),
]


def _choices(path: list[str], dest: str) -> tuple[str, ...]:
    parser: argparse.ArgumentParser = build_parser(path[0])
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    action = next(a for a in parser._actions if a.dest == dest)
    assert action.choices is not None
    return tuple(action.choices)


@pytest.mark.parametrize(("path", "dest", "alias"), OPTIONS, ids=lambda v: str(v))
def test_the_parser_offers_exactly_the_literal(path: list[str], dest: str, alias: Any) -> None:
    assert _choices(path, dest) == get_args(alias)


def test_every_report_and_sbom_format_name_has_its_writer() -> None:
    assert tuple(REPORT_FORMATS) == get_args(ReportFormatName)
    for name in get_args(ReportFormatName):
        assert get_report_format(name).name == name
    assert FORMAT_NAMES == get_args(SbomFormatName)
    for sbom_name in FORMAT_NAMES:
        assert get_format(sbom_name).name == sbom_name
    assert BUILD_FORMATS == get_args(OutputFormat)
    assert KEY_FORMATS == get_args(KeyFormat)


def test_a_format_outside_the_literal_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["scan", "oci:/nonexistent", "--format", "xml"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'xml'" in err and "'table', 'json', 'sarif'" in err


def test_an_unchecked_caller_still_gets_one_sentence() -> None:
    from hardbase.errors import UsageError

    with pytest.raises(UsageError, match="there is no report format 'xml'; use one of table"):
        get_report_format("xml")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="'xml' is not an SBOM format"):
        get_format("xml")  # type: ignore[arg-type]
