"""Fixtures of the SBOM tests; the helpers they use live in sbom_support.py."""

from sbom_support import cdx_errors, sbom_input, spdx_errors  # noqa: F401
