"""SBOMs of images: SPDX 2.3 and CycloneDX 1.6 JSON, with licenses from copyright files."""
