"""Scan report formats: table, JSON, SARIF, CycloneDX and OpenVEX.

`ReportFormatName` names them once: `interface.FORMATS` maps each name to its
writer, and `hardbase scan --format` takes its choices from it. It lives here,
beside the writers, so the command-line parser reads it without importing them.
"""

from typing import Literal

ReportFormatName = Literal["table", "json", "sarif", "cyclonedx", "openvex"]
