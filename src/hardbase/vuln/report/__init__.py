"""Scan report formats: table, JSON, SARIF, CycloneDX and OpenVEX."""
