"""SBOMs of images: SPDX 2.3 and CycloneDX 1.6 JSON, with licenses from copyright files.

`SbomFormatName` names the formats once: `generate.get_format` maps each name to
its writer (`spdx.py`, `cyclonedx.py`), and `hardbase sbom --format` takes its
choices from it. It lives here, beside the writers, so the command-line parser
reads it without importing them.
"""

from typing import Literal

SbomFormatName = Literal["spdx-json", "cyclonedx-json"]
