"""Vulnerabilities: image inventory, the local database, importers, matching, reports."""
